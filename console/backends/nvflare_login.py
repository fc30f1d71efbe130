"""Logging in to FLARE: a FLARE Session for an admin kit, made with FLARE's own ``new_secure_session``.

Owns the login's pace (FLARE's retry interval, capped) and its chatter (kept off the terminal);
what a login sends and checks stays FLARE's. The backend (``nvflare.py``) and the poll's own
Session (``nvflare_side.py``) log in through here.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import threading
from pathlib import Path
from typing import Any

from nvflare.fuel.flare_api.api_spec import NoConnection
from nvflare.fuel.flare_api.flare_api import new_secure_session

from console.backends.nvflare_errors import server_address

log = logging.getLogger("console.backends.nvflare")

#: Seconds between FLARE's login challenges. FLARE 2.9's AdminAPI hard-codes 1 s, and its first
#: challenge nearly always goes out before its own connection is up, so every login waited a whole
#: second for nothing (measured by make bench-consoles: 1.4-2.1 s per login, 0.45-0.51 s with 0.1 s).
LOGIN_RETRY_INTERVAL = 0.1


@functools.cache
def _quicken_flare_login() -> None:
    """Cap FLARE's login retry interval at ``LOGIN_RETRY_INTERVAL`` in this process (once).

    Only the pause between FLARE's own retries changes; what is sent and checked stays FLARE's.
    A FLARE release without this class or attribute keeps its own pace.
    """
    try:
        from nvflare.private.fed import authenticator
    except ImportError:
        return
    original = authenticator.Authenticator.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if isinstance(getattr(self, "retry_interval", None), int | float):
            self.retry_interval = min(self.retry_interval, LOGIN_RETRY_INTERVAL)

    authenticator.Authenticator.__init__ = init


#: Held while a login holds sys.stderr (see ``login``).
_LOGIN_OUTPUT = threading.Lock()


def login(user: str, kit_root: Path, timeout: float, old: Any = None) -> Any:
    """A new FLARE Session for ``user`` with the admin kit at ``kit_root`` (``old`` closed first).
    Blocks (run it on a worker thread); raises FLARE's errors (the caller translates them)."""
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()
    from nvflare.tool.cli_output import set_output_format

    # FLARE prints "Connecting to FLARE ..." at every login: in machine mode to stderr, which
    # is held here so it lands neither in a batch's output nor across the prompt.
    set_output_format("json")
    _quicken_flare_login()
    said = io.StringIO()
    # sys.stderr is the process's: two logins at once (the poll's Session warming up, the
    # user's reconnecting) must not swap it in turn, or the last restore would leave it held.
    with _LOGIN_OUTPUT:
        try:
            with contextlib.redirect_stderr(said):
                return new_secure_session(user, str(kit_root), timeout=timeout)
        except NoConnection as exc:
            raise NoConnection(unreachable(str(exc), kit_root, timeout)) from exc
        finally:
            log.debug("FLARE login: %s", said.getvalue().strip())


#: FLARE 2.9's words when nothing answered at all (flare_api.py's try_connect): no address, no hint.
_NOTHING_ANSWERED = re.compile(r"cannot connect to server( for [0-9.]+ seconds)?\.?")


def unreachable(flare_says: str, kit_root: Path, timeout: float) -> str:
    """FLARE's NoConnection at login, in our words: the kit's address (fed_admin.json's host:port) and what
    to check, as our engine says it (``console.api.client``); FLARE's own words kept when they say more."""
    where = server_address(kit_root)
    if "authenticate" in flare_says:  # it answered, but the login did not go through
        return (f"the FLARE server at {where} did not accept this kit's login within {timeout:g} s ({flare_says}); "
                "is the kit from this server's project, and is its certificate valid?")
    said = "" if _NOTHING_ANSWERED.fullmatch(flare_says.strip()) else f" (FLARE: {flare_says})"
    return (f"cannot connect to the FLARE server at {where} within {timeout:g} s{said}; "
            "is the server running and is the kit's host/port right?")
