"""The FLARE API ``Session``: synchronous, thread-safe, over the asyncio client core.

The core runs on an event loop in a daemon thread owned by the session; each call is a
coroutine submitted to that loop (``console.api.loop_call``), so any number of threads may
share one session. Status changes pushed by the server wake ``monitor_job`` at once instead
of at its next poll, while the callback contract stays FLARE's (called after every poll).
A Ctrl-C (SIGINT) raises KeyboardInterrupt in whatever call the script waits in, at once, and
cancels that call on the loop too (a download stops on the server); the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from console.api.admin_api import OwnAdminAPI
from console.api.arguments import UnreadableKit, check_polling, check_session_args, kit_user
from console.api.async_session import AsyncSession, is_final, next_wait
from console.api.client import AsyncClient
from console.api.errors import JobTimeout, SessionClosed
from console.api.flare_only import FlareOnlyMethods
from console.api.loop_call import LoopCall, Wakeup
from console.api.spec import DEFAULT_STUDY, ClientInfo, MonitorReturnCode, SessionSpec, SystemInfo

T = TypeVar("T")
MonitorCallback = Callable[..., bool]


class Session(SessionSpec, FlareOnlyMethods):
    """FLARE's ``Session`` (``nvflare.fuel.flare_api.flare_api``), name for name, on either engine.

    Made as FLARE makes it: ``Session(username=, startup_path=, secure_mode=)`` then ``try_connect``, or
    ``new_session``/``new_secure_session``/``new_insecure_session``. With our admin kit it is ours; with
    NVIDIA FLARE's, ``Session(...)`` gives the subclass that runs FLARE's own Session
    (``console.backends.nvflare_script.FlareScriptSession``): ``isinstance(s, Session)`` either way.
    ``secure_mode=False`` (FLARE's insecure session) logs in as the kit certificate's user; the
    connection is mutual TLS all the same. The constructor raises AssertionError (InvalidAssertion) for
    what FLARE's asserts, KitError for a kit it cannot read; it does not connect.
    """

    #: The Session class for another engine's admin kit, by engine: a subclass names its engine
    #: (``class FlareScriptSession(Session, engine=Engine.NVFLARE)``); ``console.flare_api`` imports it.
    _for_engine: dict[Any, type[Session]] = {}

    def __init_subclass__(cls, engine: Any = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if engine is not None:
            Session._for_engine[engine] = cls

    def __new__(cls, username: str = "", startup_path: str | os.PathLike[str] = "", *args: Any,
                **kwargs: Any) -> Session:
        engine = _other_engine(startup_path) if cls is Session else None
        if engine is not None:
            if engine not in Session._for_engine:
                raise UnreadableKit(f"{startup_path} is an admin kit of {engine.title}: import Session from "
                                    "console.flare_api, which drives that engine too")
            return super().__new__(Session._for_engine[engine])
        return super().__new__(cls)

    def __init__(
        self,
        username: str,
        startup_path: str | os.PathLike[str],
        secure_mode: bool = True,
        debug: bool = False,
        study: str = DEFAULT_STUDY,
        timeout: float = 10.0,
    ) -> None:
        check_session_args(username, startup_path, study)
        try:
            if not secure_mode:
                username = kit_user(startup_path)
            self._async = AsyncSession(username, startup_path, timeout)
        except UnreadableKit as exc:
            raise exc.named("startup_path") from None
        # The public attributes are FLARE's Session attributes, name for name.
        self.username = username
        self.startup_path = str(startup_path)
        self.secure_mode = bool(secure_mode)
        self._debug = debug
        self._study = study
        self._command_timeout: float | None = None
        self.upload_dir = self._async.upload_dir
        self.download_dir = self._async.download_dir
        #: FLARE's Session keeps its AdminAPI here; ours has none to hand out (``console.api.admin_api``).
        self.api = OwnAdminAPI()
        self._closed = False
        self._calls: set[LoopCall[Any]] = set()  # the calls in flight, finished with SessionClosed by ``close``
        self._calls_guard = threading.Lock()
        self._status_changed = Wakeup()
        self._seq_guard = threading.Lock()
        self._event_seq = 0
        self._job_seq: dict[str, int] = {}
        self._async.client.add_event_listener(self._on_event)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="flare-session", daemon=True)
        self._thread.start()

    def _prepare(self, command_timeout: float | None, auto_login_max_tries: int | None) -> None:
        """``new_session``'s options, before ``try_connect``: the command timeout is set once logged in
        (our login retries until ``try_connect``'s timeout, so there is no try count to cap)."""
        self._command_timeout = command_timeout

    # -- plumbing ------------------------------------------------------------------------

    def _run_loop(self) -> None:
        # A Ctrl-C is sent to the process; the kernel may hand it to any thread that does not block
        # it. Python runs its handler in the main thread only, once that thread runs: taken by this
        # thread (or the executor threads it starts, which inherit the mask), it would end the
        # caller's wait only at the wait's next slice (``loop_call.WAIT_SLICE``). Blocked here (and
        # there), it goes to a thread of the caller's, the main thread's wait ending at once.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        self._loop.run_forever()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise SessionClosed("session closed")
        call = LoopCall(self._loop, coro)  # held before it is scheduled: a Ctrl-C from here on cancels it
        with self._calls_guard:
            self._calls.add(call)
        if self._closed:  # closed meanwhile, maybe after ``close`` finished the calls it found
            call.abandon(SessionClosed("session closed"))
        try:
            call.start()
            return call.wait()
        except KeyboardInterrupt:  # Ctrl-C in the caller (a script, a notebook): the call stops too, not
            call.cancel()  # only the wait for it (a download: the server stops sending it)
            raise
        finally:
            with self._calls_guard:
                self._calls.discard(call)

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        if topic != "job_status":
            return
        with self._seq_guard:
            self._event_seq += 1
            self._job_seq[str(data.get("job_id"))] = self._event_seq
        self._status_changed.ring()

    @property
    def client(self) -> AsyncClient:
        """The asyncio core of this session."""
        return self._async.client

    def try_connect(self, timeout: float) -> None:
        self._async.client.connect_timeout = timeout
        self._call(self._async.connect())
        if self._command_timeout:
            self.set_timeout(self._command_timeout)

    def close(self) -> None:
        """Log out and stop the session's loop (within about 10 s); every call still waiting in
        another thread then raises SessionClosed. A Ctrl-C meanwhile still closes it."""
        if self._closed:
            return
        closing = LoopCall(self._loop, self._async.close())
        try:
            closing.start()
            closing.wait(timeout=5)
        finally:
            self._closed = True
            self._status_changed.ring()
            with contextlib.suppress(RuntimeError):  # (closed already by a close in another thread)
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive() and not self._loop.is_closed():
                self._loop.close()
            with self._calls_guard:
                left = list(self._calls)
            for call in left:  # a call the closed connection did not end (its loop stopped under it)
                call.abandon(SessionClosed("session closed"))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ----------------------------------------------------------------------------

    def submit_job(self, job_definition_path: str, submit_token: str | None = None) -> str:
        return self._call(self._async.submit_job(job_definition_path, submit_token))

    def clone_job(self, job_id: str) -> str:
        return self._call(self._async.clone_job(job_id))

    def list_jobs(
        self,
        detailed: bool = False,
        limit: int | None = None,
        id_prefix: str | None = None,
        name_prefix: str | None = None,
        reverse: bool = False,
        submit_token: str | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        if submit_token is not None:
            kwargs["submit_token"] = submit_token
        return self._call(self._async.list_jobs(detailed, limit, id_prefix, name_prefix, reverse, **kwargs))

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        return self._call(self._async.get_job_meta(job_id))

    def get_job_status(self, job_id: str) -> str | None:
        return self.get_job_meta(job_id).get("status")

    def abort_job(self, job_id: str) -> str:
        return self._call(self._async.abort_job(job_id))

    def delete_job(self, job_id: str) -> dict[str, Any]:
        return self._call(self._async.delete_job(job_id))

    def download_job_result(self, job_id: str, destination: str | None = None) -> str:
        """Download the job's definition and workspace; returns ``<destination>/<job_id>``."""
        return self._call(self._async.download_job_result(job_id, destination))

    # -- monitoring ----------------------------------------------------------------------
    # The callback runs in the caller's thread (it may call this session), so this loop is
    # synchronous and only its waiting is woken by the pushed events.

    def _wait_for_change(self, job_id: str, since: int, seconds: float) -> None:
        self._status_changed.wait(lambda: self._job_seq.get(job_id, 0) > since or self._closed, seconds)

    def monitor_job_and_return_job_meta(
        self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0, cb: MonitorCallback | None = None,
        *cb_args: Any, **cb_kwargs: Any,
    ) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        check_polling(timeout, poll_interval)
        start = time.monotonic()
        meta: dict[str, Any] | None = None
        while True:
            if timeout and time.monotonic() - start > timeout:
                return MonitorReturnCode.TIMEOUT, meta
            with self._seq_guard:
                seen = self._event_seq
            meta = self.get_job_meta(job_id)
            if cb is not None and not cb(self, job_id, meta, *cb_args, **cb_kwargs):
                return MonitorReturnCode.ENDED_BY_CB, meta
            if is_final(meta.get("status")):
                return MonitorReturnCode.JOB_FINISHED, meta
            self._wait_for_change(meta["job_id"], seen, next_wait(start, timeout, poll_interval))

    def monitor_job(
        self, job_id: str, timeout: float = 0, poll_interval: float = 2.0, cb: MonitorCallback | None = None,
        *cb_args: Any, **cb_kwargs: Any,
    ) -> MonitorReturnCode:
        code, _ = self.monitor_job_and_return_job_meta(job_id, timeout, poll_interval, cb, *cb_args, **cb_kwargs)
        return code

    def wait_for_job(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0) -> dict[str, Any]:
        code, meta = self.monitor_job_and_return_job_meta(job_id, timeout, poll_interval)
        if code is MonitorReturnCode.TIMEOUT:
            raise JobTimeout(f"job {job_id} did not finish within {timeout:g} s")
        assert meta is not None
        return meta

    # -- system --------------------------------------------------------------------------

    def get_system_info(self) -> SystemInfo:
        return self._call(self._async.get_system_info())

    def set_timeout(self, value: float) -> None:
        self._call(self._async.set_timeout(value))

    def unset_timeout(self) -> None:
        self._call(self._async.unset_timeout())

    def get_available_apps_to_upload(self) -> list[str]:
        return self._async.get_available_apps_to_upload()

    # -- sites ---------------------------------------------------------------------------

    def check_status(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.check_status(target_type, targets))

    def get_client_job_status(self, client_names: list[str] | None = None) -> list[dict[str, Any]]:
        return self._call(self._async.get_client_job_status(client_names))

    def get_connected_client_list(self) -> list[ClientInfo]:
        return self._call(self._async.get_connected_client_list())

    def sys_info(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.sys_info(target_type, targets))

    def show_stats(self, job_id: str, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.show_stats(job_id, target_type, targets))

    def show_errors(self, job_id: str, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.show_errors(job_id, target_type, targets))

    def reset_errors(self, job_id: str) -> None:
        self._call(self._async.reset_errors(job_id))

    def ls_target(self, target: str, options: str | None = None, path: str | None = None) -> str:
        return self._call(self._async.shell_command("ls", target, options, path))

    def cat_target(self, target: str, options: str | None = None, file: str | None = None) -> str:
        return self._call(self._async.shell_command("cat", target, options, file))

    def head_target(self, target: str, options: str | None = None, file: str | None = None) -> str:
        return self._call(self._async.shell_command("head", target, options, file))

    def tail_target(self, target: str, options: str | None = None, file: str | None = None) -> str:
        return self._call(self._async.shell_command("tail", target, options, file))

    def head_target_log(self, target: str, options: str | None = None) -> str:
        return self.head_target(target, options, file="log.txt")

    def tail_target_log(self, target: str, options: str | None = None) -> str:
        return self.tail_target(target, options, file="log.txt")

    def grep_target(self, target: str, options: str | None = None, pattern: str | None = None,
                    file: str | None = None) -> str:
        return self._call(self._async.shell_command("grep", target, options, file, pattern))

    def get_working_directory(self, target: str) -> str:
        return self._call(self._async.shell_command("pwd", target))

    def get_job_logs(self, job_id: str, target: str = "server", tail_lines: int | None = None,
                     grep_pattern: str | None = None, log_file_name: str = "log.txt") -> dict[str, Any]:
        return self._call(self._async.get_job_logs(job_id, target, tail_lines, grep_pattern, log_file_name))

    def shutdown(self, target_type: str, client_names: list[str] | None = None, wait: bool = True,
                 timeout: float = 30.0) -> dict[str, Any]:
        return self._call(self._async.stop_targets("shutdown", target_type, client_names, wait, timeout))

    def restart(self, target_type: str, client_names: list[str] | None = None, wait: bool = True,
                timeout: float = 30.0) -> dict[str, Any]:
        return self._call(self._async.stop_targets("restart", target_type, client_names, wait, timeout))

    def shutdown_system(self) -> None:
        """Stop every site, then the server (FLARE's shutdown_system); returns once the server is down.

        Refused (JobNotDone) while jobs run."""
        self._call(self._async.stop_targets("shutdown", "all", wait=True))

    def remove_client(self, client_name: str) -> None:
        self._call(self._async.remove_client(client_name))

    def disable_client(self, client_name: str) -> dict[str, Any]:
        """Drop the site and turn it away until ``enable_client``; kept across server restarts."""
        return self._call(self._async.set_client_enabled(client_name, False))

    def enable_client(self, client_name: str) -> dict[str, Any]:
        return self._call(self._async.set_client_enabled(client_name, True))

    def report_version(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.report_version(target_type, targets))

    def report_resources(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        return self._call(self._async.report_resources(target_type, targets))

    def get_client_env(self, client_names: str | list[str] | None = None) -> list[dict[str, Any]]:
        """Each site's name, workspace, server address and secure mode."""
        return self._call(self._async.get_client_env(client_names))


def _other_engine(location: Any) -> Any:
    """The engine (``console.commands.Engine``) of ``location`` when it is another engine's admin kit (NVIDIA
    FLARE's, told apart as ``--kit`` does: ``console.backends.kits``); None for ours or anything unreadable
    (our Session then says what is wrong with it)."""
    from console.backends.kits import KitRole, detect_kit
    from console.commands import Engine
    from console.wire.kit import KitError

    if not isinstance(location, str | os.PathLike) or not os.path.isdir(location):
        return None
    try:
        info = detect_kit(location)
    except KitError:
        return None
    return info.engine if info.engine is not Engine.OURS and info.role is KitRole.ADMIN else None


__all__ = ["Session"]
