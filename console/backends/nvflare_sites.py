"""The sites' own answers inside a FLARE reply, and the refusals among them.

FLARE's server sends a target command (shutdown, restart, sys_info, report_*, show_stats ...) on to
each site and puts every site's answer in its reply: a ``Client | Response`` table (shutdown, as
``process_replies_to_table`` in FLARE 2.9's server cmd_utils), ``client:NAME : answer`` lines with
``client_status`` in the meta (restart), or a dict keyed by site (report_*, show_stats). FLARE's
``flare_api`` Session keeps none of them: it returns the meta, or raises a bare "error: failed to
shut down all clients" when a site refused. This module reads them (``site_answers``), and raises a
site's refusal as what it is (``refuse_if_refused``): an ``AuthorizationError`` naming the site and
FLARE's reason, as fl_admin.sh shows it.

Must not: import nvflare, or run anything on the Session but the one command it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from console.api.errors import AuthorizationError, InternalError

#: A site's refusal as FLARE words it: its AuthorizationService ("user 'x' is not authorized for 'shutdown'"),
#: ReplyKeyword.NOT_AUTHORIZED ("not authorized"), MetaStatusValue.NOT_AUTHORIZED ("not_authorized").
_REFUSED = re.compile(r"\bnot[ _]authori[sz]ed\b", re.I)
#: restart's string answer: one "client:NAME : answer" line per site (FLARE 2.9 ``_process_replies_to_string``).
_LINE = re.compile(r"^client:(?P<site>\S+?)\s*:\s?(?P<answer>.*)$")


def site_answers(reply: Any) -> dict[str, str]:
    """{site: its answer as text} from a raw FLARE reply (a dict with ``data`` items and ``meta``)."""
    answers: dict[str, str] = {}
    if not isinstance(reply, dict):
        return answers
    for item in reply.get("data") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "table":
            rows = item.get("rows") or []
            if rows and [str(c).lower() for c in rows[0][:2]] == ["client", "response"]:
                answers.update({str(r[0]): str(r[1]) for r in rows[1:] if isinstance(r, list) and len(r) >= 2})
        elif item.get("type") == "string":
            for line in str(item.get("data", "")).splitlines():
                found = _LINE.match(line.strip())
                if found:
                    answers[found["site"]] = found["answer"].strip()
    statuses = (reply.get("meta") or {}).get("client_status") if isinstance(reply.get("meta"), dict) else None
    if isinstance(statuses, dict):
        answers.update({str(k): str(v) for k, v in statuses.items() if str(k) not in answers})
    return answers


def refuse_if_refused(answers: dict[str, Any], command: str) -> None:
    """Raise ``AuthorizationError`` naming each site whose answer (text, or a dict holding one) is a refusal."""
    refused = {site: text for site, answer in answers.items() if (text := _refusal(answer))}
    if refused:
        said = "; ".join(f"{site}: {text}" for site, text in sorted(refused.items()))
        raise AuthorizationError(f"{command} was refused by {'the sites' if len(refused) > 1 else 'the site'} "
                                 f"({said}); each site decides by its own authorization policy: ask its admin")


def _refusal(answer: Any) -> str:
    if isinstance(answer, str):
        return answer.strip() if _REFUSED.search(answer) else ""
    if isinstance(answer, dict):  # sys_info tables a site's refusal as a row of its own: a key
        return next((t for t in map(_refusal, [*answer, *answer.values()]) if t), "")
    return ""


def run_keeping_replies(session: Any, run: Callable[[], Any], command: str) -> tuple[Any, dict[str, str]]:
    """``run()`` (one FLARE Session call of admin command ``command``) and the sites' answers in its reply.
    When FLARE's Session raised on a reply whose sites answered (its bare "failed to shut down all
    clients"), a site's refusal is an ``AuthorizationError`` naming it; any other failure keeps FLARE's
    error with what each site said."""
    api = session.api
    own = vars(api).get("do_command")
    send = api.do_command
    replies: list[Any] = []

    def keep(cmd: str, props: Any = None) -> Any:
        reply = send(cmd, props=props)
        if str(cmd).split(" ", 1)[0] == command:  # not the logout FLARE's Session sends after a server shutdown
            replies.append(reply)
        return reply

    # The Session's calls run one after another on one worker thread: nothing else sends meanwhile.
    api.do_command = keep
    try:
        result = run()
    except Exception as exc:
        answers = site_answers(replies[-1]) if replies else {}
        refuse_if_refused(answers, command)
        if not answers or type(exc).__name__ != "InternalError":
            raise
        said = "; ".join(f"{site}: {text or '(no answer)'}" for site, text in sorted(answers.items()))
        raise InternalError(f"{exc} ({said})") from exc
    finally:
        if own is None:
            del api.do_command  # the class's own method again
        else:
            api.do_command = own
    answers = site_answers(replies[-1]) if replies else {}
    refuse_if_refused(answers, command)
    return result, answers
