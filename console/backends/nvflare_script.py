"""FLARE API scripts on an NVIDIA FLARE deployment: ``console.flare_api``'s Session with FLARE's admin kit.

A script written for ``nvflare.fuel.flare_api`` runs against flare-console by changing its import;
given FLARE's admin kit instead of ours (``Session(...)``, ``new_session``, ``new_secure_session``...),
the same import drives the FLARE deployment. The Session is ``FlareScriptSession``, a subclass of ours
running FLARE's own (its library, its wire, its behaviour: the reference a FLARE script author has), with
three things of ours: the login (``nvflare_login``: the kit's user checked, ``timeout`` a bound on the
wall time), our exception classes (``console.api.errors``, so ``except NoConnection`` written against
``console.flare_api`` catches what FLARE raised), and ``monitor_job``'s callback getting this session.

Must not: reimplement anything FLARE's Session does, or import nvflare before a FLARE kit is seen (this
module is imported by ``console.flare_api`` for its class, which ``Session.__new__`` picks for FLARE's kit).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.api.arguments import check_session_args
from console.api.session import Session
from console.api.spec import MonitorReturnCode
from console.backends.nvflare_abandon import stop_when_made
from console.backends.nvflare_commands import submit_a_copy
from console.backends.nvflare_errors import translate
from console.backends.opening import MissingExtra, nvflare_installed
from console.commands import Engine
from console.invocation import install_extra_command

#: Marks an exception the script's own callback raised (passed through untranslated).
_SCRIPTS_OWN = "_flare_console_scripts_own"


class FlareScriptSession(Session, engine=Engine.NVFLARE):
    """FLARE's ``Session``, method for method, raising our exception classes; a ``console.flare_api.Session``.

    Made as FLARE's is (``Session(username=, startup_path=, secure_mode=)``, which gives this class for
    FLARE's kit, then ``try_connect``); a call before ``try_connect`` logs in first, within the
    constructor's ``timeout``. Every public method of ours (FLARE's names) runs FLARE's own
    (``_delegate``); any other attribute is FLARE's Session's (``__getattr__``)."""

    def __init__(self, username: str, startup_path: str | os.PathLike[str], secure_mode: bool = True,
                 debug: bool = False, study: str = "default", timeout: float = 10.0) -> None:
        check_session_args(username, startup_path, study)
        if not nvflare_installed():
            raise MissingExtra(f"{startup_path} is an NVIDIA FLARE admin kit; flare_api drives FLARE through FLARE's "
                               f"own library, which is not installed here: {install_extra_command()}")
        self.username = username
        self.startup_path = str(startup_path)
        self.secure_mode = bool(secure_mode)
        self._kit_root = Path(startup_path).resolve()
        self._timeout = timeout
        self._options: dict[str, Any] = {"debug": debug, "study": study}
        if not secure_mode:
            self._options["secure_mode"] = False
        self._flare: Any = None
        self._lock = threading.Lock()
        self._closed = False
        _open.add(self)

    def _prepare(self, command_timeout: float | None, auto_login_max_tries: int | None) -> None:
        if command_timeout:
            self._options["command_timeout"] = command_timeout
        if auto_login_max_tries is not None:
            self._options["auto_login_max_tries"] = auto_login_max_tries

    def try_connect(self, timeout: float) -> None:
        """Log in to FLARE within ``timeout`` s of wall time (``nvflare_login``), as FLARE's try_connect."""
        from console.api.errors import SessionClosed
        from console.backends.nvflare_login import login

        with self._lock:
            if self._closed:
                raise SessionClosed("session closed")
            if self._flare is not None:
                return
            try:
                self._flare = login(self.username, self._kit_root, timeout, **self._options)
            except Exception as exc:
                ours = translate(exc)
                if ours is exc:
                    raise
                raise ours from exc

    def _session(self) -> Any:
        if self._flare is None:
            self.try_connect(self._timeout)
        return self._flare

    @property
    def api(self) -> Any:
        """FLARE's own ``AdminAPI`` of FLARE's Session (FLARE scripts call ``sess.api.do_command(...)``): FLARE's
        library, its answers and its exceptions as FLARE gives them. Logged in first, as for every call here."""
        return self._session().api

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # ours, not set yet: never FLARE's private parts
            raise AttributeError(name)
        attr = getattr(self._session(), name)
        return _translating(attr) if callable(attr) else attr

    def __repr__(self) -> str:
        who = self.username or "the kit certificate's user"
        return f"<FLARE Session for {who} via flare-console>"

    def _with_us(self, cb: Callable[..., bool] | None) -> Callable[..., bool] | None:
        """FLARE calls ``cb(its_session, ...)``: the script gets this session, the one it holds."""
        if cb is None:
            return None

        def with_us(_flare: Any, *args: Any, **kwargs: Any) -> bool:
            try:
                return cb(self, *args, **kwargs)
            except Exception as exc:  # the script's own: reaches it as raised, not as one of FLARE's
                setattr(exc, _SCRIPTS_OWN, True)
                raise

        return with_us

    def monitor_job_and_return_job_meta(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0,
                                        cb: Callable[..., bool] | None = None, *cb_args: Any,
                                        **cb_kwargs: Any) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        run = _translating(self._session().monitor_job_and_return_job_meta)
        code, meta = run(job_id, timeout, poll_interval, self._with_us(cb), *cb_args, **cb_kwargs)
        return MonitorReturnCode(int(code)), meta

    def monitor_job(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0,
                    cb: Callable[..., bool] | None = None, *cb_args: Any, **cb_kwargs: Any) -> MonitorReturnCode:
        run = _translating(self._session().monitor_job)
        return MonitorReturnCode(int(run(job_id, timeout, poll_interval, self._with_us(cb), *cb_args, **cb_kwargs)))

    def submit_job(self, job_definition_path: str, submit_token: str | None = None) -> str:
        """FLARE's submit_job on a copy of a job folder: FLARE signs the folder it submits in place
        (``.__nvfl_*`` files in every folder), and the user's folder, often under version control, stays
        as it was, as the console's submit_job keeps it. Anything else (a name in the kit's upload folder,
        a bad path) goes to FLARE as given."""
        run = _translating(self._session().submit_job)
        if isinstance(job_definition_path, str | os.PathLike) and os.path.isdir(job_definition_path):
            return str(submit_a_copy(_Submitting(run), {"folder": Path(job_definition_path).resolve(),
                                                        "token": submit_token}))
        return str(run(job_definition_path, submit_token))

    def close(self) -> None:
        """FLARE's close, without waiting out a reconnect under way (its server gone or silent: FLARE's
        close waited 30 s for it, ``nvflare_abandon``); a connected Session logs out as FLARE's does."""
        _open.discard(self)
        with self._lock:
            self._closed = True
            flare, self._flare = self._flare, None
        if flare is None:
            return
        done = threading.Event()
        stop_when_made([flare], done)
        try:
            flare.close()
        finally:
            done.set()

    def __enter__(self) -> FlareScriptSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _translating(attr: Callable[..., Any]) -> Callable[..., Any]:
    """FLARE's method ``attr``, raising our exception classes (the script's own callback's as raised)."""

    @functools.wraps(attr)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return attr(*args, **kwargs)
        except Exception as exc:
            ours = exc if getattr(exc, _SCRIPTS_OWN, False) else translate(exc)
            if ours is exc:
                raise
            raise ours from exc

    return call


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: FlareScriptSession, *args: Any, **kwargs: Any) -> Any:
        return _translating(getattr(self._session(), name))(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"FLARE's Session.{name}, with our exception classes."
    return method


# Every public method of ours not written out above is FLARE's own: none of ours runs on FLARE's kit.
for _name in [n for n in dir(Session) if not n.startswith("_") and callable(getattr(Session, n))]:
    if _name not in FlareScriptSession.__dict__:
        setattr(FlareScriptSession, _name, _delegate(_name))


#: Sessions not closed yet: closed when the script ends (``_close_at_exit``).
_open: weakref.WeakSet[FlareScriptSession] = weakref.WeakSet()


def _close_at_exit() -> None:
    """Close the Sessions a script left open as its interpreter ends. FLARE's Session connects on a
    thread pool whose threads Python's exit joins (``concurrent.futures``), and one connected runs its
    connection to its end: a script that never called ``close()`` did not end at all (FLARE's own API
    the same). Runs before that join (``threading``'s exit hooks run newest first); what the script did
    is done by then: a connected Session logs out as ``close()`` does."""
    for session in list(_open):
        with contextlib.suppress(Exception):
            session.close()


# CPython 3.9+: hooks run before threads are joined, newest first: after concurrent.futures' own
# (registered when its thread module is first imported), so that it runs before that one joins.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    import concurrent.futures.thread  # noqa: F401

    _register(_close_at_exit)


class _Submitting:
    """What ``submit_a_copy`` calls ``submit_job`` on: FLARE's, with our exception classes."""

    def __init__(self, submit: Callable[..., str]) -> None:
        self.submit_job = submit
