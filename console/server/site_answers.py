"""What a site answers the server's requests, checked before any handler uses it.

A site is known to the server by its certificate only: its answer may be any JSON (null, a
string, a list where an object belongs, numbers for names). Each site command whose answer the
server reads has its shape here (as ``console.site.app`` makes it); an answer that does not fit
is a ``MalformedAnswer`` naming the site, the command and what was wrong: one line in the
server's log, that site's row or error for the admin, and the other sites' answers still count.

Owns no state; ``deploy_job``, ``task`` and ``get_workspace`` are the job runner's to check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from console.log_floods import per_peer
from console.names import is_server_job_id
from console.wire.errors import ErrorType, RemoteError
from console.wire.features import peer_features
from console.wire.requesting import Requester

log = logging.getLogger("console.server.sites")


class MalformedAnswer(RemoteError):
    """A site's answer that is not of its command's shape; ``message`` says whose, to what, and how."""

    def __init__(self, site: str, cmd: str, problem: str) -> None:
        super().__init__(ErrorType.INTERNAL, f"{site} sent a malformed answer to {cmd}: {problem}")


def _kind(value: Any) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ValueError(f"expected an object, got {_kind(answer)}")
    return answer


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {_kind(value)}")
    return value


def _offset(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a byte offset (a whole number >= 0), not {_kind(value)}")
    return value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flat_object(answer: Any) -> dict[str, Any]:
    """An object of plain values (lists of them too): a machine's facts (sys_info, env)."""
    data = _object(answer)
    for key, value in data.items():
        if not (_scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))):
            raise ValueError(f"{key!r} must be a plain value, not {_kind(value)}")
    return data


def _facts(answer: Any, named: str) -> dict[str, Any]:
    """A flat object that names itself by a string ``named`` (sys_info: ``version``; env: ``site_name``)."""
    data = _flat_object(answer)
    _text(data.get(named), named)
    return data


def _job_rows(value: Any, what: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, not {_kind(value)}")
    for n, row in enumerate(value):
        if not isinstance(row, dict):
            raise ValueError(f"{what}[{n}] must be an object, not {_kind(row)}")
        for name in fields:
            _text(row.get(name), f"{what}[{n}].{name}")
    return value


def _status(answer: Any) -> dict[str, Any]:
    data = _object(answer)
    _job_rows(data.get("jobs"), "jobs", ("job_id", "app_name", "status"))
    return data


def login(answer: Any) -> dict[str, Any]:
    """``{"site": name, "org": org, "jobs": [{"job_id": ...}, ...], "features": [...]}`` (the jobs it
    still runs, each by a job ID of the server's form; what its end of the wire understands,
    ``console.wire.features``: none from an older site). Raises ValueError saying what is wrong."""
    data = _object(answer)
    _text(data.get("site"), "site")
    try:
        data["features"] = peer_features(data.get("features"))
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    for n, row in enumerate(_job_rows(data.get("jobs", []), "jobs", ("job_id",))):
        if not is_server_job_id(row["job_id"]):
            raise ValueError(f"jobs[{n}].job_id must be a job ID of this server, not {row['job_id'][:80]!r}")
    return data


def _log_part(answer: Any) -> dict[str, Any]:
    data = _object(answer)
    lines = data.get("lines")
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise ValueError(f"lines must be a list of strings, not {_kind(lines)}")
    _offset(data.get("offset"), "offset")
    if data.get("end") is not None:
        _offset(data["end"], "end")
    return data


def _shell(answer: Any, args: dict[str, Any]) -> str | None:
    # Only get_job_logs' "log" answers null (no such log); every command's output is text.
    if answer is None and args.get("command") == "log":
        return None
    return _text(answer, f"the output of {args.get('command')}")


#: Each command's shape: (answer, the request's args) -> the answer, or ValueError saying what is wrong.
SHAPES: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "login": lambda answer, _args: login(answer),
    "status": lambda answer, _args: _status(answer),
    "sys_info": lambda answer, _args: _facts(answer, "version"),
    "env": lambda answer, _args: _facts(answer, "site_name"),
    "stats": lambda answer, _args: _object(answer),
    "shell": _shell,
    "read_log": lambda answer, _args: _log_part(answer),
    "follow_log": lambda answer, _args: answer if answer is None else _log_part(answer),
    "shutdown": lambda answer, _args: _text(answer, "the answer"),
    "restart": lambda answer, _args: _text(answer, "the answer"),
}


def check(site: str, cmd: str, answer: Any, args: dict[str, Any] | None = None) -> Any:
    """``answer`` (to ``cmd`` with ``args``) if it is of the command's shape (any answer for a
    command without one); raises MalformedAnswer, logged as one warning line (summed up per site), otherwise."""
    shape = SHAPES.get(cmd)
    if shape is None:
        return answer
    try:
        return shape(answer, args or {})
    except ValueError as exc:
        error = MalformedAnswer(site, cmd, str(exc))
        # One per answer, and a site answers every admin's request: summed up per site past a burst.
        log.warning("%s", error.message, extra=per_peer(site))
        raise error from None


async def ask(site: str, link: Requester, cmd: str, args: dict[str, Any] | None = None, *,
              timeout: float | None = None) -> Any:
    """``cmd`` asked of ``site`` over its link; its answer, checked (``check``). Raises what the
    request raises, and MalformedAnswer."""
    return check(site, cmd, await link.request(cmd, args or {}, timeout=timeout), args)
