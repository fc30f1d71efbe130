"""The FLARE API ``Session``: synchronous, thread-safe, over the asyncio client core.

The core runs on an event loop in a daemon thread owned by the session; each call is a
coroutine submitted to that loop, so any number of threads may share one session.
Status changes pushed by the server wake ``monitor_job`` at once instead of at its next
poll, while the callback contract stays FLARE's (called after every poll).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from console.api.async_session import AsyncSession, is_final, next_wait
from console.api.client import AsyncClient
from console.api.errors import InvalidArgumentError, JobTimeout, SessionClosed
from console.api.spec import ClientInfo, MonitorReturnCode, SystemInfo

T = TypeVar("T")
MonitorCallback = Callable[..., bool]


class Session:
    def __init__(
        self,
        username: str,
        startup_path: str | os.PathLike[str],
        secure_mode: bool = True,
        debug: bool = False,
        study: str = "default",
        timeout: float = 10.0,
    ) -> None:
        if not secure_mode:
            raise InvalidArgumentError("only secure mode exists: every connection is mutual TLS")
        self._async = AsyncSession(username, startup_path, timeout)
        # The public attributes are FLARE's Session attributes, name for name.
        self.username = username
        self.startup_path = str(startup_path)
        self.secure_mode = True
        self._debug = debug
        self._study = study
        self.upload_dir = self._async.upload_dir
        self.download_dir = self._async.download_dir
        self._closed = False
        self._status_changed = threading.Condition()
        self._event_seq = 0
        self._job_seq: dict[str, int] = {}
        self._async.client.add_event_listener(self._on_event)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="flare-session", daemon=True)
        self._thread.start()

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise SessionClosed("session closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:  # Ctrl-C in the caller (a script, a notebook): the call stops too, not
            future.cancel()  # only the wait for it (a download: the server stops sending it)
            raise

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        if topic != "job_status":
            return
        with self._status_changed:
            self._event_seq += 1
            self._job_seq[str(data.get("job_id"))] = self._event_seq
            self._status_changed.notify_all()

    @property
    def client(self) -> AsyncClient:
        """The asyncio core of this session."""
        return self._async.client

    def try_connect(self, timeout: float) -> None:
        self._async.client.connect_timeout = timeout
        self._call(self._async.connect())

    def close(self) -> None:
        if self._closed:
            return
        future = asyncio.run_coroutine_threadsafe(self._async.close(), self._loop)
        try:
            future.result(timeout=5)
        finally:
            self._closed = True
            with self._status_changed:
                self._status_changed.notify_all()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()

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
        deadline = time.monotonic() + seconds
        with self._status_changed:
            while self._job_seq.get(job_id, 0) <= since and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._status_changed.wait(remaining)

    def monitor_job_and_return_job_meta(
        self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0, cb: MonitorCallback | None = None,
        *cb_args: Any, **cb_kwargs: Any,
    ) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        start = time.monotonic()
        meta: dict[str, Any] | None = None
        while True:
            if timeout and time.monotonic() - start > timeout:
                return MonitorReturnCode.TIMEOUT, meta
            with self._status_changed:
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


def new_secure_session(
    username: str,
    startup_kit_location: str,
    debug: bool = False,
    timeout: float = 10.0,
    study: str = "default",
    command_timeout: float | None = None,
    auto_login_max_tries: int | None = None,
) -> Session:
    """Log in with an admin startup kit; raises NoConnection or AuthenticationError on failure.

    With NVIDIA FLARE's admin kit (told apart as ``--kit`` does: ``console.backends.kits``) the session
    is FLARE's own, through FLARE's library (the ``[nvflare]`` extra; without it MissingExtra says what to
    install) with our exception classes: ``console.backends.nvflare_script``."""
    flare_kit = _flare_admin_kit(startup_kit_location)
    if flare_kit is not None:
        from console.backends.nvflare_script import new_flare_session

        options: dict[str, Any] = {"debug": debug, "study": study}
        if command_timeout:
            options["command_timeout"] = command_timeout
        if auto_login_max_tries is not None:
            options["auto_login_max_tries"] = auto_login_max_tries
        return new_flare_session(username, flare_kit, timeout, **options)  # type: ignore[return-value]
    session = Session(username, startup_kit_location, debug=debug, study=study, timeout=timeout)
    try:
        session.try_connect(timeout)
        if command_timeout:
            session.set_timeout(command_timeout)
    except BaseException:
        session.close()
        raise
    return session


def _flare_admin_kit(location: str | os.PathLike[str]) -> Path | None:
    """The kit's folder when ``location`` is FLARE's admin kit; None for ours or anything unreadable (our
    Session then says what is wrong with it)."""
    from console.backends.kits import KitRole, detect_kit
    from console.commands import Engine
    from console.wire.kit import KitError

    try:
        info = detect_kit(location)
    except KitError:
        return None
    return info.root if info.engine is Engine.NVFLARE and info.role is KitRole.ADMIN else None


def basic_cb_with_print(session: Session, job_id: str, job_meta: dict[str, Any], *cb_args: Any,
                        **cb_kwargs: Any) -> bool:
    """FLARE's example callback: prints the meta the first times, then dots while running."""
    counter = cb_kwargs.setdefault("cb_run_counter", {"count": 0})
    if job_meta["status"] == "RUNNING":
        if counter["count"] < 3:
            print(job_meta)
        else:
            print(".", end="")
    else:
        print("\n" + str(job_meta))
    counter["count"] += 1
    return True


__all__ = ["Session", "basic_cb_with_print", "new_secure_session"]
