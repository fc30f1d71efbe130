"""A FLARE command on a site that timed out, told apart from a lost server.

FLARE 2.9's admin API waits its command timeout (5 s) for the server's reply. A command the server
relays to a site (``cat site-2 log.txt``, ``check_status client site-2``) whose site does not answer
(frozen: stopped, swapping) ends in the same ``NoConnection`` ("cannot connect to server:
ERROR_SERVER_CONNECTION", FLARE's ``server_execute`` when no reply came) as a server that is gone.
FLARE's server answering a quick ``check_status server`` at once tells the two apart: then the site
was silent, said as any silent site is (``nvflare_sites.no_answer``), and the connection stays up.

Owns that decision only. Must not: mark the link down or reconnect (``nvflare.py`` does, when this
says the server is the silent one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from console.api import errors
from console.backends.nvflare_registry import targets_of
from console.backends.nvflare_sites import no_answer
from console.within import within

#: Seconds FLARE's server has to answer ``check_status server`` for the silence to be a site's. It answers
#: in tens of milliseconds (a login first, when the poll's Session is not up yet: about 0.35 s).
PROBE_TIMEOUT = 3.0


def sites_asked(args: dict[str, Any]) -> list[str] | None:
    """The sites a command's arguments send it to: a file command's ``target`` other than the server, or
    the ``targets`` of a ``client``/``all`` command (empty: every site); None when it asks only the server."""
    target = args.get("target")
    if isinstance(target, str):
        return None if target == "server" else [target]
    if args.get("target_type") in ("client", "all"):
        return list(targets_of(args) or [])
    return None


def site_silence(exc: BaseException, command: str, args: dict[str, Any], server_answers: bool) -> Exception | None:
    """The error to raise instead of ``exc`` (ours, from ``nvflare_errors.translate``) when ``command`` on sites
    got no answer while the server itself answers: ``NoReply`` naming the sites (``no_answer``). None when
    ``exc`` is not a lost connection, the command asked only the server, or the server did not answer either."""
    if not server_answers or type(exc) is not errors.NoConnection:
        return None
    sites = sites_asked(args)
    return None if sites is None else no_answer(command, sites)


def worth_asking(exc: BaseException, args: dict[str, Any]) -> bool:
    """Whether the server is worth asking at all (``server_answers``): a lost connection on a command to sites."""
    return type(exc) is errors.NoConnection and sites_asked(args) is not None


async def server_answers(probe: Callable[[], Awaitable[Any]], timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``probe()`` (``check_status server`` on a Session of its own) answered within ``timeout`` s."""
    try:
        await within(probe(), timeout)
    except Exception:  # (TimeoutError, NoConnection, anything FLARE raised: the server is not known to answer)
        return False
    return True
