"""Whether a connection attempt was refused: nothing listens on the server's port, so waiting is pointless.

psql and ssh fail at once on ECONNREFUSED and wait only for a host that does not answer; a console that
retried a refused port for its whole connect timeout left the user before a blank terminal for 10 s.
Owns the reading of that one answer, for our client's first connection and the FLARE backend's login
(``console.backends.opening``); retrying, reconnecting and wording stay with them.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket

from console.within import within

#: asyncio's error when each of a name's addresses failed (``localhost``: ::1 and 127.0.0.1) carries each
#: one's text only; these errnos say "no one there" (a family this host cannot reach counts as none).
_NOT_THERE = {errno.ECONNREFUSED, errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.EAFNOSUPPORT}
_ERRNO = re.compile(r"\[Errno (\d+)\]")


def is_refused(exc: BaseException) -> bool:
    """True when ``exc`` (from opening a TCP connection) says every address refused it, at least one of
    them with ECONNREFUSED: a definite answer, unlike a timeout or an unreachable host."""
    if isinstance(exc, ConnectionRefusedError):
        return True
    if not isinstance(exc, OSError) or exc.errno is not None:
        return False
    found = {int(n) for n in _ERRNO.findall(str(exc))}
    return errno.ECONNREFUSED in found and found <= _NOT_THERE


def refused_message(where: str) -> str:
    return (f"cannot connect to the server at {where}: the connection was refused (nothing listens on that "
            "port); is the server running, and are the kit's host and port right?")


async def refuses(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether ``host:port`` refuses a plain TCP connection now. False when it accepts one (closed at once:
    whoever listens sees a connection that says nothing), or when no answer came within ``timeout``."""
    try:
        _, writer = await within(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return is_refused(exc)
    writer.close()
    return False


def silent_message(where: str, timeout: float) -> str:
    """A server that took the TCP connection but gave no answer (TLS or login) within ``timeout`` s: not a connection
    problem (a stopped process, SIGSTOP, an overloaded machine). One wording for both engines."""
    return (f"the server at {where} took the connection but did not answer within {timeout:g} s; is it stopped or "
            "overloaded? Its log and its machine's load may say (a longer --timeout helps only a slow one)")


def accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` takes a plain TCP connection within ``timeout`` s (closed at once). Blocking: for a
    worker thread, or after a login already failed."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
