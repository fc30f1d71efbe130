"""The FLARE API ``Session``: synchronous, thread-safe, over the asyncio client core.

The core runs on an event loop in a daemon thread owned by the session; each call is a
coroutine submitted to that loop, so any number of threads may share one session.
Status changes pushed by the server wake ``monitor_job`` at once instead of at its next
poll, while the callback contract stays FLARE's (called after every poll).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from console.api.client import AsyncClient
from console.api.errors import (
    InvalidArgumentError,
    InvalidJobDefinition,
    JobNotFound,
    NoConnection,
    SessionClosed,
)
from console.api.spec import ClientInfo, JobInfo, MonitorReturnCode, ServerInfo, SystemInfo, TargetType
from console.jobdef.archive import safe_extract, zip_job_folder
from console.wire.kit import AdminKit, KitError

T = TypeVar("T")
MonitorCallback = Callable[..., bool]

#: Largest result archive unpacked by ``download_job_result``.
MAX_DOWNLOAD_BYTES = 64 << 30


def _final(status: str | None) -> bool:
    return bool(status) and status.startswith("FINISHED:")


class Session:
    def __init__(
        self,
        username: str,
        startup_path: str,
        secure_mode: bool = True,
        debug: bool = False,
        study: str = "default",
        timeout: float = 10.0,
    ) -> None:
        if not isinstance(username, str) or not username:
            raise InvalidArgumentError("username must be a non-empty str")
        if not isinstance(startup_path, str | os.PathLike):
            raise InvalidArgumentError("startup_path must be str")
        if not secure_mode:
            raise InvalidArgumentError("only secure mode exists: every connection is mutual TLS")
        try:
            self.kit = AdminKit.load(startup_path)
        except KitError as exc:
            raise InvalidArgumentError(str(exc)) from None
        self.username = username
        self.debug = debug
        self.study = study
        self.upload_dir = str(self.kit.upload_dir)
        self.download_dir = str(self.kit.download_dir)
        self._client = AsyncClient(self.kit, username, connect_timeout=timeout)
        self._closed = False
        self._status_changed = threading.Condition()
        self._event_seq = 0
        self._job_seq: dict[str, int] = {}
        self._client.add_event_listener(self._on_event)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="flare-session", daemon=True)
        self._thread.start()

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise SessionClosed("session closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _cmd(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        return self._call(self._client.request(cmd, args))

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        if topic != "job_status":
            return
        with self._status_changed:
            self._event_seq += 1
            self._job_seq[str(data.get("job_id"))] = self._event_seq
            self._status_changed.notify_all()

    @property
    def client(self) -> AsyncClient:
        """The asyncio core, for code that runs on its own loop (the shell)."""
        return self._client

    def try_connect(self, timeout: float) -> None:
        self._client.connect_timeout = timeout
        self._call(self._client.connect())

    def close(self) -> None:
        if self._closed:
            return
        future = asyncio.run_coroutine_threadsafe(self._client.close(), self._loop)
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

    @staticmethod
    def _validate_job_id(job_id: str) -> None:
        if not job_id:
            raise JobNotFound("job_id is required but not specified.")
        if not isinstance(job_id, str):
            raise JobNotFound(f"invalid job_id {job_id}")

    def submit_job(self, job_definition_path: str, submit_token: str | None = None) -> str:
        if not job_definition_path:
            raise InvalidJobDefinition("job_definition_path is required but not specified.")
        if not isinstance(job_definition_path, str | os.PathLike):
            raise InvalidJobDefinition(f"job_definition_path must be str but got {type(job_definition_path)}.")
        folder = Path(job_definition_path)
        if not folder.is_dir():
            if (Path(self.upload_dir) / folder).is_dir():
                folder = Path(self.upload_dir) / folder
            else:
                raise InvalidJobDefinition(f"job_definition_path '{job_definition_path}' is not a valid folder")
        folder = folder.resolve()
        with tempfile.TemporaryDirectory(prefix="flare-submit-") as scratch:
            archive = Path(scratch) / "job.zip"
            zip_job_folder(folder, archive)
            result = self._call(self._client.upload("submit_job", {"job_folder": folder.name}, archive))
        return result["job_id"]

    def clone_job(self, job_id: str) -> str:
        self._validate_job_id(job_id)
        return self._cmd("clone_job", {"job_id": job_id})["job_id"]

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
        if not isinstance(detailed, bool):
            raise ValueError(f"detailed must be bool but got {type(detailed)}")
        if not isinstance(reverse, bool):
            raise ValueError(f"reverse must be bool but got {type(reverse)}")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
            raise ValueError(f"limit must be None or int but got {type(limit)}")
        if id_prefix is not None and not isinstance(id_prefix, str):
            raise ValueError(f"id_prefix must be None or str but got {type(id_prefix)}")
        if name_prefix is not None and not isinstance(name_prefix, str):
            raise ValueError(f"name_prefix must be None or str but got {type(name_prefix)}")
        mine = bool(kwargs.pop("mine", False))
        if kwargs:
            raise InvalidArgumentError(f"list_jobs: unknown argument(s) {', '.join(sorted(kwargs))}")
        args = {"detailed": detailed, "reverse": reverse, "limit": limit or None, "mine": mine,
                "id_prefix": id_prefix or None, "name_prefix": name_prefix or None}
        return self._cmd("list_jobs", args)

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        self._validate_job_id(job_id)
        return self._cmd("get_job_meta", {"job_id": job_id})

    def get_job_status(self, job_id: str) -> str | None:
        return self.get_job_meta(job_id).get("status")

    def abort_job(self, job_id: str) -> str:
        self._validate_job_id(job_id)
        return self._cmd("abort_job", {"job_id": job_id})

    def delete_job(self, job_id: str) -> dict[str, Any]:
        self._validate_job_id(job_id)
        return self._cmd("delete_job", {"job_id": job_id})

    def download_job_result(self, job_id: str, destination: str | None = None) -> str:
        """Download the job's definition and workspace; returns ``<destination>/<job_id>``."""
        self._validate_job_id(job_id)
        dest_root = Path(destination or self.download_dir).expanduser()
        dest_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".flare-download-", dir=dest_root) as scratch:
            archive = Path(scratch) / "result.zip"
            head = self._call(self._client.download("download_job", {"job_id": job_id}, archive))
            full_id = head["job_id"]
            unpacked = Path(scratch) / full_id
            safe_extract(archive, unpacked, max_total_bytes=MAX_DOWNLOAD_BYTES)
            target = dest_root / full_id
            if target.exists():
                shutil.rmtree(target)
            unpacked.rename(target)
        return str(target)

    # -- monitoring ----------------------------------------------------------------------

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
            if _final(meta.get("status")):
                return MonitorReturnCode.JOB_FINISHED, meta
            wait = poll_interval
            if timeout:
                wait = min(wait, max(timeout - (time.monotonic() - start), 0) + 0.001)
            self._wait_for_change(meta["job_id"], seen, wait)

    def monitor_job(
        self, job_id: str, timeout: float = 0, poll_interval: float = 2.0, cb: MonitorCallback | None = None,
        *cb_args: Any, **cb_kwargs: Any,
    ) -> MonitorReturnCode:
        code, _ = self.monitor_job_and_return_job_meta(job_id, timeout, poll_interval, cb, *cb_args, **cb_kwargs)
        return code

    def wait_for_job(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0) -> dict[str, Any]:
        code, meta = self.monitor_job_and_return_job_meta(job_id, timeout, poll_interval)
        if code is MonitorReturnCode.TIMEOUT:
            from console.api.errors import JobTimeout

            raise JobTimeout(f"job {job_id} did not finish within {timeout:g} s")
        assert meta is not None
        return meta

    # -- system --------------------------------------------------------------------------

    def get_system_info(self) -> SystemInfo:
        data = self._cmd("check_status", {"target": TargetType.SERVER})
        return SystemInfo(
            server_info=ServerInfo(status=data.get("server_status"), start_time=data.get("server_start_time")),
            client_info=[ClientInfo(c.get("client_name"), c.get("client_last_conn_time"))
                         for c in data.get("clients", [])],
            job_info=[JobInfo(job_id=j.get("job_id"), app_name=j.get("app_name")) for j in data.get("jobs", [])],
        )

    def set_timeout(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidArgumentError(f"timeout must be a positive number of seconds, not {value!r}")
        self._cmd("set_timeout", {"value": float(value)})

    def unset_timeout(self) -> None:
        self._cmd("unset_timeout")

    def get_available_apps_to_upload(self) -> list[str]:
        upload = Path(self.upload_dir)
        if not upload.is_dir():
            return []
        return sorted(item.name for item in upload.iterdir() if item.is_dir())


def new_secure_session(
    username: str,
    startup_kit_location: str,
    debug: bool = False,
    timeout: float = 10.0,
    study: str = "default",
    command_timeout: float | None = None,
    auto_login_max_tries: int | None = None,
) -> Session:
    """Log in with an admin startup kit; raises NoConnection or AuthenticationError on failure."""
    session = Session(username, startup_kit_location, debug=debug, study=study, timeout=timeout)
    try:
        session.try_connect(timeout)
        if command_timeout:
            session.set_timeout(command_timeout)
    except BaseException:
        session.close()
        raise
    return session


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


__all__ = ["NoConnection", "Session", "basic_cb_with_print", "new_secure_session"]
