"""Where one served request goes: the login first, then the command's handler, checked on the way.

Owns the order of the checks a request passes before its handler runs: a connection logs in once,
and before anything else; the command must be one the host serves; an upload command comes with
its stream and no other does; the arguments are validated against the command's spec (the
catalog's); the host authorizes the peer for it. Errors are ``RemoteError`` for the serving end to
answer. Must not answer the peer, audit, or hold requests (``serving`` does).
"""

from __future__ import annotations

from typing import Any

from console.commands import ArgError, Transfer
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import Peer, RequestContext, Upload


async def dispatch(conn: Peer, request_id: int, cmd: Any, args: Any, upload: Upload | None,
                   notes: dict[str, Any]) -> Any:
    """The result of request ``request_id`` (``cmd`` with ``args`` from the wire, both untrusted) on ``conn``.

    Raises RemoteError: PROTOCOL (a second login, a missing or unexpected upload stream),
    AUTHENTICATION (anything before login), INVALID_ARGUMENT (an unknown command, bad arguments),
    and whatever the host's ``authorize`` or the handler raise.
    """
    if cmd == "login":
        if conn.user is not None:
            raise RemoteError(ErrorType.PROTOCOL, "already logged in on this connection")
        return conn.server.login(conn, args if isinstance(args, dict) else {})
    if conn.user is None:
        raise RemoteError(ErrorType.AUTHENTICATION, "log in first: the first request must be 'login'")
    handler = conn.server.handlers.get(cmd) if isinstance(cmd, str) else None
    if handler is None:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, f"unknown command {cmd!r}")
    spec = conn.server.specs[cmd]
    if (spec.transfer is Transfer.UPLOAD) != (upload is not None):
        raise RemoteError(ErrorType.PROTOCOL, f"{cmd}: upload stream {'missing' if upload is None else 'unexpected'}")
    try:
        clean = spec.validate_wire_args(args)
    except ArgError as exc:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    conn.server.authorize(conn, spec)
    return await handler(RequestContext(conn, spec, request_id, upload, notes), clean)


__all__ = ["dispatch"]
