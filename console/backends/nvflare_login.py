"""Logging in to FLARE: a FLARE Session for an admin kit, made with FLARE's own ``new_secure_session``.

Owns the login's pace (FLARE's retry interval, capped) and its chatter (kept off the terminal);
what a login sends and checks stays FLARE's. The backend (``nvflare.py``) and the poll's own
Session (``nvflare_side.py``) log in through here.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import re
import sys
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
    _load_each_key_once()


#: Distinct private keys kept loaded (an admin kit has one; a console's two Sessions share it).
KEYS_KEPT = 4


def _load_each_key_once() -> None:
    """Parse the kit's private key once per process, not four times per login.

    FLARE 2.9 loads the admin's PEM key twice in the cell's credential manager and twice for its
    identity assertions (``serialization.load_pem_private_key`` each time), and cryptography checks an
    RSA key's consistency at every load: 0.14 s of CPU each, 0.56 of the 1.0 CPU-seconds a batch of ours
    took (cProfile), all of it paid again by the poll's own Session. On a loaded 2-core machine several
    consoles at once queued behind that work. The same bytes give the same key, checked once; keys with
    a password, or loaded with the check skipped, go to cryptography as they are.
    """
    from cryptography.hazmat.primitives import serialization

    original = serialization.load_pem_private_key

    @functools.lru_cache(maxsize=KEYS_KEPT)
    def checked_once(data: bytes) -> Any:
        return original(data, password=None)

    @functools.wraps(original)
    def load(data: Any, password: Any = None, backend: Any = None, *,
             unsafe_skip_rsa_key_validation: bool = False) -> Any:
        if password is None and not unsafe_skip_rsa_key_validation and isinstance(data, bytes):
            return checked_once(data)
        return original(data, password, backend, unsafe_skip_rsa_key_validation=unsafe_skip_rsa_key_validation)

    serialization.load_pem_private_key = load


class _Router:
    """sys.stderr while FLARE logins run: what a login's thread writes (FLARE's "Connecting to FLARE ...")
    is kept in that login's buffer, for the debug log; every other thread's words go to the real stderr.
    Logins run at once (the poll's Session warming up, the user's reconnecting, one given up at its
    timeout and still going) without waiting for each other's output."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        buffer = self.buffers.get(threading.get_ident())
        return (buffer if buffer is not None else self.real).write(text)

    def flush(self) -> None:
        self.real.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, isatty, ...: the real stderr's
        return getattr(self.real, name)


#: Guards installing and removing the router (first login in, last one out).
_ROUTING = threading.Lock()
_router: _Router | None = None


@contextlib.contextmanager
def _quiet_login() -> Any:
    """This thread's stderr into a buffer (yielded) while the block runs; other threads' untouched."""
    global _router
    with _ROUTING:
        if _router is None or sys.stderr is not _router:
            _router = _Router(sys.stderr)
            sys.stderr = _router
        router = _router
        said = router.buffers[threading.get_ident()] = io.StringIO()
    try:
        yield said
    finally:
        with _ROUTING:
            router.buffers.pop(threading.get_ident(), None)
            if not router.buffers and sys.stderr is router:
                sys.stderr = router.real
                _router = None


def login(user: str, kit_root: Path, timeout: float, old: Any = None, **options: Any) -> Any:
    """A new FLARE Session for ``user`` with the admin kit at ``kit_root`` (``old`` closed first; ``options``
    go to FLARE's ``new_secure_session``: ``debug``, ``study``, ``command_timeout``, ...).

    Blocks (run it on a worker thread) for at most ``timeout`` s of wall time: FLARE's own login
    takes longer than its timeout (FLARE 2.9 with timeout=3: 8.5 s; 31 s against a port that takes the
    connection and never answers), so it runs on a thread of its
    own, and when it has not returned in time NoConnection says so; a Session it makes later is
    logged out. Raises ``AuthenticationError`` (ours) when ``user`` is not the kit certificate's
    common name (FLARE identifies an admin by it and would refuse with "client_registration"),
    else FLARE's errors (the caller translates them)."""
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()
    check_user(user, kit_root)
    outcome: dict[str, Any] = {}
    done, gave_up = threading.Event(), threading.Event()
    lock = threading.Lock()  # the late Session's owner is decided once: the caller, or nobody (logged out)

    def run() -> None:
        session, error = None, None
        try:
            session = _flare_login(user, kit_root, timeout, options, gave_up)
        except BaseException as exc:  # handed to the caller
            error = exc
        with lock:
            late = outcome.get("abandoned", False)
            if not late:
                outcome.update(session=session, error=error)
            done.set()
        if late and session is not None:
            with contextlib.suppress(Exception):
                session.close()

    threading.Thread(target=run, name="flare-login", daemon=True).start()
    done.wait(timeout)
    with lock:
        if not done.is_set():
            outcome["abandoned"] = True
            gave_up.set()
            raise NoConnection(unreachable("cannot connect to server", kit_root, timeout))
    if outcome["error"] is not None:
        raise outcome["error"]
    return outcome["session"]


def check_user(user: str, kit_root: Path) -> None:
    """Refuse ``user`` when the kit's certificate (fed_admin.json's ``client_cert``) names someone else."""
    from console.api.errors import AuthenticationError
    from console.backends.kits import certificate_cn

    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        admin = json.loads((kit_root / "startup" / "fed_admin.json").read_text()).get("admin", {})
        cn = certificate_cn(kit_root / "startup" / str(admin.get("client_cert") or "client.crt"))
        if cn and cn != user:
            raise AuthenticationError(
                f"this kit's certificate is {cn!r}'s, not {user!r}'s: a FLARE server knows an admin by the "
                f"certificate's common name; leave out --user (the kit's user is {cn}), or use {user}'s own kit")


def _flare_login(user: str, kit_root: Path, timeout: float, options: dict[str, Any],
                 gave_up: threading.Event | None = None) -> Any:
    from nvflare.tool.cli_output import set_output_format

    # FLARE prints "Connecting to FLARE ..." at every login: in machine mode to stderr, which
    # is held here so it lands neither in a batch's output nor across the prompt.
    set_output_format("json")
    _quicken_flare_login()
    if gave_up is not None and gave_up.is_set():  # began after the caller's timeout: not at all
        raise NoConnection(unreachable("cannot connect to server", kit_root, timeout))
    with _quiet_login() as said:
        try:
            return new_secure_session(user, str(kit_root), timeout=timeout, **options)
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
