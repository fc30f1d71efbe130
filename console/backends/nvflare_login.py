"""Logging in to FLARE: a FLARE Session for an admin kit, made with FLARE's own ``new_session``.

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
from nvflare.fuel.flare_api.flare_api import new_session

from console.backends.kits import check_flare_kit_folders
from console.backends.nvflare_abandon import made_here, stop_when_made
from console.backends.nvflare_errors import server_address, server_host_port
from console.backends.nvflare_studies import study_refusal
from console.backends.nvflare_tls import check_server_certificate, watching
from console.wire.refusal import accepts, silent_message
from console.wire.tls import server_certificate_words

log = logging.getLogger("console.backends.nvflare")

#: Seconds between FLARE's login challenges. FLARE 2.9's AdminAPI hard-codes 1 s, and its first
#: challenge nearly always goes out before its own connection is up, so every login waited a whole
#: second for nothing (measured by make bench-consoles: 1.4-2.1 s per login, 0.45-0.51 s with 0.1 s).
LOGIN_RETRY_INTERVAL = 0.1
#: Seconds a login may take before the server's certificate is checked apart (``nvflare_tls``): a login
#: takes about 0.5 s, so a valid kit's is not checked twice.
CERTIFICATE_CHECK_AFTER = 1.0


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


#: Guards pointing FLARE's config search at a kit (two logins of one console run at once).
_CONFIG_SEARCH = threading.Lock()


def _search_config_in_kit(kit_root: Path) -> None:
    """FLARE's config search (comm_config.json) looks in the kit, not in the current folder.

    FLARE 2.9's ``CommConfigurator`` loads comm_config.json once per process through ``ConfigService``,
    whose search path is empty unless a FLARE program set it; empty, ``ConfigFactory`` walks the current
    folder recursively, once per config extension it knows. Logged in from /tmp, 14.6 s of a 17.8 s login
    was that walk, and under load a login timed out as "cannot connect". fl_admin.sh gets the kit's search
    by ``os.chdir`` into the kit (FLARE's ``fuel/hci/tools/admin.py``); a script's relative paths must keep
    meaning what they meant, so the search path is set instead (``ConfigService.initialize``, as FLARE's
    own ``ipc_agent`` does for its workspace). A process where FLARE already set it, or where the file
    was already loaded, keeps FLARE's choice.
    """
    try:
        from nvflare.fuel.f3.comm_config import CommConfigurator
        from nvflare.fuel.utils.config_service import ConfigService
    except ImportError:  # another FLARE layout: its own search
        return
    with _CONFIG_SEARCH:
        if getattr(CommConfigurator, "_config_loaded", True) or getattr(ConfigService, "_config_path", None):
            return
        with contextlib.suppress(TypeError, ValueError):  # a kit folder gone: FLARE's login says so
            ConfigService.initialize(section_files={}, config_path=[str(kit_root.resolve())])


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
    go to FLARE's ``new_session``: ``secure_mode``, ``debug``, ``study``, ``command_timeout``, ...; with
    ``secure_mode=False`` FLARE takes the user from the kit's certificate, and ``user`` is not checked).

    Blocks (run it on a worker thread) for at most ``timeout`` s of wall time: FLARE's own login
    takes longer than its timeout (FLARE 2.9 with timeout=3: 8.5 s; 31 s against a port that takes the
    connection and never answers), so it runs on a thread of its
    own, and when it has not returned in time NoConnection says so; its connect under way is stopped
    (``nvflare_abandon``: nothing waits for it, Python's exit included), a Session it makes later is
    logged out. Raises ``AuthenticationError`` (ours) when ``user`` is not the kit certificate's
    common name (FLARE identifies an admin by it and would refuse with "client_registration"), when the
    kit's own certificate cannot be used (``check_kit_certificate``), at once when FLARE's connector
    refused the server's certificate or, for a login not done within CERTIFICATE_CHECK_AFTER s, the kit's
    rootCA.pem does not verify it (``nvflare_tls``: FLARE would retry it until the timeout), and for a
    study FLARE does not know (naming those it does); NoConnection saying "did not answer" when the
    server took the connection but no login came (asked after the timeout: up to 1 s more); else FLARE's
    errors (the caller translates them)."""
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()
    check_flare_kit_folders(kit_root)
    check_kit_certificate(kit_root)
    if options.get("secure_mode", True):  # insecure: FLARE takes the user from the certificate
        check_user(user, kit_root)
    outcome: dict[str, Any] = {}
    done, gave_up, woken = threading.Event(), threading.Event(), threading.Event()
    refused: list[str] = []  # OpenSSL's reason, when FLARE's connector refused the server's certificate

    def server_refused(reason: str) -> None:
        refused.append(reason)
        woken.set()
    lock = threading.Lock()  # the late Session's owner is decided once: the caller, or nobody (logged out)
    made: list[Any] = []  # the FLARE Session this login makes, for stopping its connect when given up

    def run() -> None:
        session, error = None, None
        try:
            with made_here(made):
                session = _flare_login(user, kit_root, timeout, options, gave_up)
        except BaseException as exc:  # handed to the caller
            error = exc
        with lock:
            late = outcome.get("abandoned", False)
            if not late:
                outcome.update(session=session, error=error)
            done.set()
            woken.set()
        if late and session is not None:
            with contextlib.suppress(Exception):
                session.close()

    where = server_address(kit_root)
    with watching(where, server_refused):
        threading.Thread(target=run, name="flare-login", daemon=True).start()
        if not woken.wait(min(CERTIFICATE_CHECK_AFTER, timeout)):  # FLARE says a refused certificate only after ~8 s
            threading.Thread(target=check_server_certificate, args=(kit_root, server_refused, timeout),
                             name="flare-certificate", daemon=True).start()
            woken.wait(max(0.0, timeout - CERTIFICATE_CHECK_AFTER))
    with lock:
        if not done.is_set():
            outcome["abandoned"] = True
            gave_up.set()
            stop_when_made(made, done)  # FLARE's connect under way would hold its close, and Python's exit, 30 s
    error = outcome.get("error") if done.is_set() else None
    if done.is_set() and not (isinstance(error, NoConnection) and str(error).startswith(_NO_CONNECTION)):
        if error is not None:
            study = options.get("study")
            if study and type(error).__name__ == "AuthenticationError" and f"study '{study}'" in str(error):
                raise _unknown_study(str(error), study, user, kit_root, timeout, options) from error
            raise error
        return outcome["session"]
    # No login within the timeout (ours, or FLARE's own "cannot connect"): why, where it can be known.
    if refused:  # FLARE retries a certificate that cannot change until its timeout, then says "cannot connect"
        from console.api.errors import AuthenticationError

        raise AuthenticationError(f"{server_certificate_words(refused[0])} (the FLARE server at {where})")
    address = server_host_port(kit_root)
    if address is not None and accepts(*address):
        raise NoConnection(silent_message(where, timeout))
    raise error or NoConnection(unreachable("cannot connect to server", kit_root, timeout))


def _unknown_study(flare_says: str, study: str, user: str, kit_root: Path, timeout: float,
                   options: dict[str, Any]) -> Exception:
    """FLARE's refusal of a login in ``study`` ("unknown study 'x'"), with the studies this admin may use: those
    FLARE's list_studies gives in its default study (one more login, on this failure only)."""
    from console.api.errors import AuthenticationError

    studies: list[str] | None = None
    with contextlib.suppress(Exception):
        session = login(user, kit_root, timeout, **{k: v for k, v in options.items() if k != "study"})
        try:
            listed = session.list_studies()
            studies = [str(name) for name in listed.get("studies") or []] if isinstance(listed, dict) else None
        finally:
            session.close()
    return AuthenticationError(study_refusal(flare_says, study, user, server_address(kit_root), studies))


def check_kit_certificate(kit_root: Path) -> None:
    """The kit's own certificate (fed_admin.json's ``client_cert``) checked as our engine checks its kits'
    (``console.api.login.check_own_certificate``): expired, not yet valid, not signed by the kit's ``ca_cert``.
    FLARE's server would refuse it with "InvalidCertChain: validation failed: ...", no date, no next step."""
    from console.api.login import check_own_certificate

    startup = kit_root / "startup"
    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        admin = json.loads((startup / "fed_admin.json").read_text()).get("admin", {})
        cert = startup / str(admin.get("client_cert") or "client.crt")
        ca = startup / str(admin.get("ca_cert") or "rootCA.pem")
        key = startup / str(admin.get("client_key") or "client.key")
        if cert.is_file():
            check_own_certificate(cert, ca if ca.is_file() else None, key if key.is_file() else None)


def check_user(user: str, kit_root: Path) -> None:
    """Refuse ``user`` when the kit's certificate (fed_admin.json's ``client_cert``) names someone else."""
    from console.api.errors import AuthenticationError
    from console.backends.kits import certificate_cn

    with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
        admin = json.loads((kit_root / "startup" / "fed_admin.json").read_text()).get("admin", {})
        cn = certificate_cn(kit_root / "startup" / str(admin.get("client_cert") or "client.crt"))
        if cn and cn != user:
            raise AuthenticationError(
                f"this kit's certificate is for {cn}, not for {user}: a FLARE server knows an admin by the "
                f"certificate's common name; leave out --user (the kit's user is {cn}), or use {user}'s own kit")


def _flare_login(user: str, kit_root: Path, timeout: float, options: dict[str, Any],
                 gave_up: threading.Event | None = None) -> Any:
    from nvflare.tool.cli_output import set_output_format

    # FLARE prints "Connecting to FLARE ..." at every login: in machine mode to stderr, which
    # is held here so it lands neither in a batch's output nor across the prompt.
    set_output_format("json")
    _quicken_flare_login()
    _search_config_in_kit(kit_root)
    if gave_up is not None and gave_up.is_set():  # began after the caller's timeout: not at all
        raise NoConnection(unreachable("cannot connect to server", kit_root, timeout))
    with _quiet_login() as said:
        try:
            return new_session(user, str(kit_root), timeout=timeout, **options)
        except NoConnection as exc:
            raise NoConnection(unreachable(str(exc), kit_root, timeout)) from exc
        finally:
            log.debug("FLARE login: %s", said.getvalue().strip())


#: How ``unreachable`` begins when nothing answered.
_NO_CONNECTION = "cannot connect to the FLARE server at"
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
