"""The FLARE API operations as coroutines: what the sync ``Session`` and the shell share.

One ``AsyncSession`` owns one ``AsyncClient``. Archive packing and result unpacking live here
once, the argument checks in ``console.api.arguments``; ``Session`` runs these coroutines on
its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.api import state_waits
from console.api.arguments import (
    answered_job_id,
    check_job_id,
    check_submit_token,
    checked_client_names,
    checked_file_command,
    checked_info_job_id,
    checked_site_name,
    checked_target_type,
    checked_targets,
    list_jobs_args,
    load_kit,
    system_info,
)
from console.api.client import AsyncClient
from console.api.errors import (
    CancelTooLate,
    InvalidArgumentError,
    InvalidJobDefinition,
    InvalidType,
    InvalidValue,
)
from console.api.job_result import IncompleteDownload, unpack_result
from console.api.spec import MonitorReturnCode, SystemInfo, TargetType
from console.jobdef.archive import zip_job_folder
from console.jobdef.signing import sign_archive
from console.local_paths import missing_job_folder
from console.wire.requesting import USER_COMMAND
from console.within import within

#: Largest result archive ``download_job_result`` takes (refused as soon as the server announces or
#: sends more), and largest total it unpacks to (docs/protocol.md, "Download").
MAX_DOWNLOAD_BYTES = 64 << 30

AsyncMonitorCallback = Callable[[dict[str, Any]], Awaitable[bool] | bool]


def is_final(status: str | None) -> bool:
    return bool(status) and str(status).startswith("FINISHED:")


def next_wait(start: float, timeout: float, poll_interval: float) -> float:
    """How long a monitor waits for a push before it polls again: never past its timeout."""
    if not timeout:
        return poll_interval
    return min(poll_interval, max(timeout - (time.monotonic() - start), 0) + 0.001)


async def keeps_going(cb: AsyncMonitorCallback | None, meta: dict[str, Any]) -> bool:
    """A monitor callback's verdict on ``meta`` (sync or async callback; no callback: go on)."""
    if cb is None:
        return True
    keep = cb(meta)
    if asyncio.iscoroutine(keep):
        keep = await keep
    return bool(keep)




#: Job commands a cancel cannot stop once sent (the server acts on them): CancelTooLate says so.
CHANGES_JOBS = frozenset({"clone_job", "abort_job", "delete_job"})




class AsyncSession:
    def __init__(self, username: str, startup_path: str | os.PathLike[str], timeout: float = 10.0) -> None:
        if not isinstance(username, str) or not username:
            raise InvalidArgumentError("username must be a non-empty str")
        self.kit = load_kit(startup_path)
        self.username = username
        self.upload_dir = str(self.kit.upload_dir)
        self.download_dir = str(self.kit.download_dir)
        self.client = AsyncClient(self.kit, username, connect_timeout=timeout)

    async def connect(self, *, refused_is_final: bool = False) -> None:
        """Log in (``AsyncClient.connect``: ``refused_is_final`` fails at once when nothing listens)."""
        await self.client.connect(refused_is_final=refused_is_final)

    async def close(self) -> None:
        await self.client.close()

    async def _cmd(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        return await self.client.request(cmd, args, acts=cmd in CHANGES_JOBS)

    # -- jobs ----------------------------------------------------------------------------

    def resolve_job_folder(self, job_definition_path: Any) -> Path:
        if not job_definition_path:
            raise InvalidJobDefinition("job_definition_path is required but not specified.")
        if not isinstance(job_definition_path, str | os.PathLike):
            raise InvalidJobDefinition(f"job_definition_path must be str but got {type(job_definition_path)}.")
        folder = Path(job_definition_path).expanduser()
        if not folder.is_dir():
            if (Path(self.upload_dir) / folder).is_dir():
                folder = Path(self.upload_dir) / folder
            else:
                looked = [folder.absolute()] + ([] if folder.is_absolute() else [Path(self.upload_dir) / folder])
                raise InvalidJobDefinition(missing_job_folder(os.fspath(job_definition_path), looked))
        folder = folder.resolve()
        if not (folder / "meta.json").is_file():
            # Said before anything is zipped: a wrong folder (a parent, a home) is not walked first.
            inside = sorted(d.name for d in folder.iterdir() if (d / "meta.json").is_file())[:5]
            hint = f"; job folders inside it: {', '.join(inside)}" if inside else ""
            raise InvalidJobDefinition(f"{folder} is not a job folder: it has no meta.json{hint}")
        return folder

    async def submit_job(self, job_definition_path: str, submit_token: str | None = None) -> str:
        """The new job's ID; with ``submit_token``, retry-safe as FLARE 2.9: the same token and job
        content give the same job ID, other content SubmitTokenConflict, a deleted job
        SubmitTokenJobDeleted."""
        check_submit_token(submit_token)
        folder = self.resolve_job_folder(job_definition_path)
        with tempfile.TemporaryDirectory(prefix="flare-submit-") as scratch:
            archive = Path(scratch) / "job.zip"
            await asyncio.to_thread(zip_job_folder, folder, archive)
            signature = await asyncio.to_thread(sign_archive, archive, self.kit.tls.key)
            args = {"job_folder": folder.name, "signature": signature}
            if submit_token is not None:
                args["submit_token"] = submit_token
            try:
                result = await self.client.upload("submit_job", args, archive)
            except CancelTooLate as late:  # the job exists: hand on its ID, not the raw answer
                job = late.result.get("job_id") if isinstance(late.result, dict) else None
                raise CancelTooLate("submit_job", late.reason, job) from None
        return result["job_id"]

    async def clone_job(self, job_id: str) -> str:
        check_job_id(job_id)
        try:
            return (await self._cmd("clone_job", {"job_id": job_id}))["job_id"]
        except CancelTooLate as late:  # the clone exists: hand on its ID, not the raw answer
            clone = late.result.get("job_id") if isinstance(late.result, dict) else None
            raise CancelTooLate("clone_job", late.reason, clone) from None

    async def list_jobs(self, detailed: bool = False, limit: int | None = None, id_prefix: str | None = None,
                        name_prefix: str | None = None, reverse: bool = False,
                        **kwargs: Any) -> list[dict[str, Any]]:
        return await self._cmd("list_jobs", list_jobs_args(detailed, limit, id_prefix, name_prefix, reverse, kwargs))

    async def get_job_meta(self, job_id: str) -> dict[str, Any]:
        check_job_id(job_id)
        return await self._cmd("get_job_meta", {"job_id": job_id})

    async def abort_job(self, job_id: str) -> str:
        check_job_id(job_id)
        return await self._cmd("abort_job", {"job_id": job_id})

    async def delete_job(self, job_id: str) -> dict[str, Any]:
        check_job_id(job_id)
        return await self._cmd("delete_job", {"job_id": job_id})

    async def download_job_result(self, job_id: str, destination: str | None = None) -> str:
        """Download the job's definition and workspace; returns ``<destination>/<job_id>``.

        The job ID in the answer must be the job asked for (``answered_job_id``): a server's answer
        never names a path outside ``destination``; MalformedAnswer otherwise, nothing written. A
        part whose archive the checks refuse (a link, a path out, too many entries, too large, past
        the expansion ratio) is left out: the rest is delivered, then IncompleteDownload names it."""
        check_job_id(job_id)
        dest_root = Path(destination or self.download_dir).expanduser()
        created = [p for p in (dest_root, *dest_root.parents) if not p.exists()]
        dest_root.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.TemporaryDirectory(prefix=".flare-download-", dir=dest_root) as scratch:
                archive = Path(scratch) / "result.zip"
                # The head names the folder: refused as it comes, before any of the archive is read.
                head = await self.client.download(
                    "download_job", {"job_id": job_id}, archive, max_bytes=MAX_DOWNLOAD_BYTES,
                    head_rule=lambda head: answered_job_id(job_id, head.get("job_id") if isinstance(head, dict)
                                                           else head, "download_job", self.client.peer))
                # It names folders here: checked first (a path in it would reach rmtree and rename).
                full_id = answered_job_id(job_id, head.get("job_id") if isinstance(head, dict) else head,
                                          "download_job", self.client.peer)
                unpacked = Path(scratch) / full_id
                skipped = await asyncio.to_thread(unpack_result, archive, head, unpacked, MAX_DOWNLOAD_BYTES)
                target = dest_root / full_id
                if target.exists():
                    await asyncio.to_thread(shutil.rmtree, target)
                unpacked.rename(target)
        except BaseException:
            for folder in created:  # a refused download leaves no trace, not even the folders made for it
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        if skipped:  # the good parts are delivered; the caller is told what is missing and why
            raise IncompleteDownload(full_id, str(target), skipped)
        return str(target)

    async def monitor_job(self, job_id: str, timeout: float = 0.0, poll_interval: float = 2.0,
                          cb: AsyncMonitorCallback | None = None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        """Follow a job: ``cb(meta)`` after every poll and every pushed status change."""
        check_job_id(job_id)
        changed = asyncio.Event()
        full_id: list[str] = []

        def on_event(topic: str, data: dict[str, Any]) -> None:
            if topic == "job_status" and full_id and data.get("job_id") == full_id[0]:
                changed.set()

        remove = self.client.add_event_listener(on_event)
        start = time.monotonic()
        meta: dict[str, Any] | None = None
        try:
            while True:
                elapsed = time.monotonic() - start
                if timeout and elapsed > timeout:
                    return MonitorReturnCode.TIMEOUT, meta
                changed.clear()
                before = USER_COMMAND.get()
                USER_COMMAND.set("monitor_job")  # a silent server's NoAnswer names monitor_job
                try:
                    meta = await self.get_job_meta(job_id)
                finally:
                    USER_COMMAND.set(before)
                full_id[:] = [meta["job_id"]]
                if not await keeps_going(cb, meta):
                    return MonitorReturnCode.ENDED_BY_CB, meta
                if is_final(meta.get("status")):
                    return MonitorReturnCode.JOB_FINISHED, meta
                wait = next_wait(start, timeout, poll_interval)
                try:
                    await within(changed.wait(), wait)
                except TimeoutError:
                    pass
        finally:
            remove()

    # -- system --------------------------------------------------------------------------

    async def get_system_info(self) -> SystemInfo:
        return system_info(await self._cmd("check_status", {"target_type": TargetType.SERVER}))

    async def set_timeout(self, value: float) -> None:
        # FLARE 2.9's AdminAPI.set_command_timeout: TypeError for no number, ValueError for one <= 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidType(f"timeout must be a number but got {type(value)}")
        if value <= 0:
            raise InvalidValue(f"invalid timeout value {value} - must be > 0.0")
        answer = await self._cmd("set_timeout", {"value": float(value)})
        # In force for the console's own wait too (the server's answer about a slow site comes first),
        # and again after a reconnection (``AsyncClient``).
        self.client.use_command_timeout(answer.get("command_timeout") if isinstance(answer, dict) else float(value))

    async def unset_timeout(self) -> None:
        await self._cmd("unset_timeout")
        self.client.use_command_timeout(None)

    # -- sites ---------------------------------------------------------------------------

    async def check_status(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        target_type = checked_target_type(target_type)
        return await self._cmd("check_status", {"target_type": target_type,
                                                "targets": checked_targets(target_type, targets)})

    async def get_client_job_status(self, client_names: list[str] | None = None) -> list[dict[str, Any]]:
        return (await self.check_status(TargetType.CLIENT, client_names))["client_status"]

    async def get_connected_client_list(self) -> list[Any]:
        return (await self.get_system_info()).client_info

    async def sys_info(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        target_type = checked_target_type(target_type, both=False)
        return await self._cmd("sys_info", {"target_type": target_type, "targets": checked_targets(target_type, targets)})

    async def show_stats(self, job_id: str, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        checked_info_job_id(job_id)
        target_type = checked_target_type(target_type)
        return await self._cmd("show_stats", {"job_id": job_id, "target_type": target_type,
                                              "targets": checked_targets(target_type, targets)})

    async def show_errors(self, job_id: str, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        checked_info_job_id(job_id)
        target_type = checked_target_type(target_type)
        return await self._cmd("show_errors", {"job_id": job_id, "target_type": target_type,
                                               "targets": checked_targets(target_type, targets)})

    async def reset_errors(self, job_id: str) -> None:
        checked_info_job_id(job_id)
        await self._cmd("reset_errors", {"job_id": job_id})

    async def shell_command(self, command: str, target: str, options: str | None = None, path: str | None = None,
                            pattern: str | None = None) -> str:
        return await self._cmd(command, checked_file_command(command, target, options, path, pattern))

    async def get_job_logs(self, job_id: str, target: str = "server", tail_lines: int | None = None,
                           grep_pattern: str | None = None, log_file_name: str = "log.txt") -> dict[str, Any]:
        check_job_id(job_id)
        # FLARE 2.9's argument checks, with its exception class (ValueError).
        if not isinstance(target, str) or not target:
            raise ValueError("target must be a non-empty str")
        if tail_lines is not None:
            try:
                tail_lines = int(tail_lines)
            except (TypeError, ValueError) as exc:
                raise ValueError("tail_lines must be an integer") from exc
            if tail_lines < 0:
                raise ValueError("tail_lines must be greater than or equal to 0")
        if grep_pattern is not None:
            grep_pattern = str(grep_pattern)
        return await self._cmd("get_job_logs", {"job_id": job_id, "target": target, "tail_lines": tail_lines,
                                                "grep_pattern": grep_pattern, "log_file_name": log_file_name})

    async def stop_targets(self, command: str, target_type: str, client_names: list[str] | None = None,
                           wait: bool = False, timeout: float = 30.0) -> dict[str, Any]:
        """``shutdown`` or ``restart``; with ``wait``, returns once the targets changed state (FLARE 2.9)."""
        target_type = checked_target_type(target_type)
        names = checked_targets(target_type, client_names)
        if wait:
            timeout = state_waits.checked_timeout(timeout)
        before = await state_waits.snapshot(self) if wait and command == "restart" else None
        result = await self._cmd(command, {"target_type": target_type, "targets": names})
        if not wait:
            return result
        if command == "shutdown":
            if target_type == TargetType.CLIENT:
                await state_waits.sites_gone(self, names, timeout)
            else:
                await state_waits.server_down(self, timeout)
        elif before is not None:
            server_start, site_times = before
            if target_type == TargetType.CLIENT:
                site_times = {n: t for n, t in site_times.items() if not names or n in names}
            await state_waits.restarted(self, None if target_type == TargetType.CLIENT else server_start,
                                        site_times if target_type != TargetType.SERVER else {}, timeout)
        return result

    async def remove_client(self, client_name: str) -> None:
        await self._cmd("remove_client", {"site": checked_site_name(client_name)})

    async def report_version(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        target_type = checked_target_type(target_type)
        return await self._cmd("report_version", {"target_type": target_type,
                                                  "targets": checked_targets(target_type, targets)})

    async def report_resources(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        target_type = checked_target_type(target_type)
        return await self._cmd("report_resources", {"target_type": target_type,
                                                    "targets": checked_targets(target_type, targets)})

    async def get_client_env(self, client_names: str | list[str] | None = None) -> list[dict[str, Any]]:
        return await self._cmd("report_env", {"targets": checked_client_names(client_names)})

    async def set_client_enabled(self, client_name: str, enabled: bool) -> dict[str, Any]:
        return await self._cmd("enable_client" if enabled else "disable_client", {"site": checked_site_name(client_name)})

    def get_available_apps_to_upload(self) -> list[str]:
        upload = Path(self.upload_dir)
        if not upload.is_dir():
            return []
        return sorted(item.name for item in upload.iterdir() if item.is_dir())

