"""The sites' own answers inside a FLARE reply, and the refusals among them.

FLARE's server sends a target command (shutdown, restart, sys_info, report_*, show_stats ...) on to
each site and puts every site's answer in its reply: a ``Client | Response`` table (shutdown, as
``process_replies_to_table`` in FLARE 2.9's server cmd_utils), ``client:NAME : answer`` lines with
``client_status`` in the meta (restart), or a dict keyed by site (report_*, show_stats). FLARE's
``flare_api`` Session keeps none of them: it returns the meta, or raises a bare "error: failed to
shut down all clients" when a site refused. This module reads them (``site_answers``), and raises a
site's refusal as what it is (``refuse_if_refused``): an ``AuthorizationError`` naming the site and
FLARE's reason, as fl_admin.sh shows it. The one wording of a site's refusal (``site_refusal``) and of
sites that did not answer (``no_answer``) is here, for every target command: the file commands on a
site (``on_target``: FLARE's server lets the site decide, and its API takes the site's refusal, or a
file's text holding "not authorized", for the server's role policy) as the per-site answers.

Must not: import nvflare, or run anything on the Session but the one command it is given.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from console.api.errors import AuthorizationError, InternalError, NoReply

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


#: The attribute marking an error worded here, for people already (``nvflare_errors.reworded`` keeps it as it is).
IN_OUR_WORDS = "in_our_words"


def in_our_words(exc: Exception) -> Exception:
    setattr(exc, IN_OUR_WORDS, True)
    return exc


def refuse_if_refused(answers: dict[str, Any], command: str) -> None:
    """Raise ``AuthorizationError`` naming each site whose answer (text, or a dict holding one) is a refusal."""
    refused = {site: text for site, answer in answers.items() if (text := _refusal(answer))}
    if refused:
        raise site_refusal(command, refused)


def site_refusal(command: str, refused: dict[str, str]) -> AuthorizationError:
    """The one wording of a refusal made by sites (not by the server's role policy), every target command alike:
    ``refused`` is {site: its own words}."""
    said = "; ".join(f"{site}: {text}" for site, text in sorted(refused.items()))
    return in_our_words(AuthorizationError(
        f"{command} was refused by {'the sites' if len(refused) > 1 else 'the site'} ({said}); each site decides by "
        "its own authorization policy: ask its admin"))


def no_answer(command: str, sites: list[str]) -> NoReply:
    """The one wording of sites that did not answer FLARE's server in time (its "client timeout", "no reply")."""
    one = len(sites) == 1
    return in_our_words(NoReply(f"{command}: {', '.join(sites) or 'a site'} did not answer FLARE's server in time; "
                                f"is {'it' if one else 'each'} running? {ask_alone(sites)}"))


def ask_alone(sites: list[str]) -> str:
    """Advice that works while a site is frozen: a command to every site waits for it, one to a site alone does not."""
    if len(sites) == 1:
        return f"check_status client {sites[0]} asks it alone"
    return "check_status client SITE asks one site alone (a site that does not answer holds up a command to all)"


#: A site's whole reply when it refused (FLARE 2.9 ``fuel/sec/authz.py``, ``ReplyKeyword.NOT_AUTHORIZED``).
_REFUSAL_REPLY = re.compile(r"(user '[^'\n]*' is not authorized for '[^'\n]*'|not authorized)", re.I)
#: FLARE 2.9's words for a site that gave its server no reply to a file command (``shell_cmd``).
_NO_REPLY = re.compile(r"(server internal error: )?client timeout")


def on_target(session: Any, run: Callable[[], Any], command: str, target: str) -> Any:
    """``run()``: one FLARE file command (ls, cat, head, tail, grep, pwd) on ``target``, its failures said as what
    they are. A site's refusal is the site's (``site_refusal``), not the server's role policy: the server
    lets the site decide (FLARE 2.9 ``shell_cmd.authorize_command``). A site that did not answer is
    ``no_answer``. FLARE's admin API takes any reply holding "not authorized" for a refusal (its
    ``_check_status``): a file whose text holds it is that text, not a refusal."""
    replies: list[Any] = []
    try:
        with _keeping(session, command, replies):
            return run()
    except Exception as exc:
        name = type(exc).__name__
        text = _text_of(replies[-1]) if replies else ""
        if name == "AuthorizationError" and replies and _meta_status(replies[-1]) != "not_authorized":
            if not _REFUSAL_REPLY.fullmatch(text.strip()):
                return text  # the file's text, which FLARE's API took for a refusal
            if target != "server":
                raise site_refusal(command, {target: text.strip()}) from exc
        if name == "InternalError" and target != "server" and _NO_REPLY.fullmatch(str(exc).strip()):
            raise no_answer(command, [target]) from exc
        raise


def _text_of(reply: Any) -> str:
    items = reply.get("data") if isinstance(reply, dict) else None
    return "".join(str(i.get("data", "")) for i in items or [] if isinstance(i, dict) and i.get("type") == "string")


def _meta_status(reply: Any) -> str:
    meta = reply.get("meta") if isinstance(reply, dict) else None
    return str(meta.get("status", "")) if isinstance(meta, dict) else ""


def _refusal(answer: Any) -> str:
    if isinstance(answer, str):
        return answer.strip() if _REFUSED.search(answer) else ""
    if isinstance(answer, dict):  # sys_info tables a site's refusal as a row of its own: a key
        return next((t for t in map(_refusal, [*answer, *answer.values()]) if t), "")
    return ""


@contextlib.contextmanager
def _keeping(session: Any, command: str, replies: list[Any]) -> Iterator[None]:
    """While the block runs, every raw reply to admin command ``command`` the Session gets is put in ``replies``."""
    api = session.api
    own = vars(api).get("do_command")
    send = api.do_command

    def keep(cmd: str, props: Any = None) -> Any:
        reply = send(cmd, props=props)
        if str(cmd).split(" ", 1)[0] == command:  # not the logout FLARE's Session sends after a server shutdown
            replies.append(reply)
        return reply

    # The Session's calls run one after another on one worker thread: nothing else sends meanwhile.
    api.do_command = keep
    try:
        yield
    finally:
        if own is None:
            del api.do_command  # the class's own method again
        else:
            api.do_command = own


def run_keeping_replies(session: Any, run: Callable[[], Any], command: str) -> tuple[Any, dict[str, str]]:
    """``run()`` (one FLARE Session call of admin command ``command``) and the sites' answers in its reply.
    When FLARE's Session raised on a reply whose sites answered (its bare "failed to shut down all
    clients"), a site's refusal is an ``AuthorizationError`` naming it; any other failure keeps FLARE's
    error with what each site said."""
    replies: list[Any] = []
    try:
        with _keeping(session, command, replies):
            result = run()
    except Exception as exc:
        answers = site_answers(replies[-1]) if replies else {}
        refuse_if_refused(answers, command)
        if not answers or type(exc).__name__ != "InternalError":
            raise
        said = "; ".join(f"{site}: {text or '(no answer)'}" for site, text in sorted(answers.items()))
        raise InternalError(f"{exc} ({said})") from exc
    answers = site_answers(replies[-1]) if replies else {}
    refuse_if_refused(answers, command)
    return result, answers
