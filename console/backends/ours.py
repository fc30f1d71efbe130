"""The backend on our own server: a thin layer over ``AsyncSession`` (pushes included)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.api.async_session import CHANGES_JOBS, AsyncSession, keeps_going
from console.api.errors import NoConnection
from console.api.spec import MonitorReturnCode
from console.backends.base import (
    SITES_SILENT,
    Backend,
    EventListener,
    LogLines,
    LogStream,
    MonitorCallback,
    StateListener,
    client_names,
)
from console.backends.deploy_map import deploy_map_sites
from console.backends.folder_listing import plain_names
from console.backends.spools import spool_probe
from console.commands import Engine
from console.commands.catalog import CATALOG, CHECK_ONLY
from console.runtime.target_commands import private_folders
from console.wire.answers import MalformedAnswer
from console.wire.features import REFUSAL_CHECK


class OursBackend(Backend):
    engine = Engine.OURS

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.client = session.client
        self.upload_dir = Path(session.upload_dir)

    @property
    def user(self) -> str:  # type: ignore[override]
        login = self.client.login_info
        return login.user if login else self.session.username

    @property
    def server(self) -> str:  # type: ignore[override]
        login = self.client.login_info
        return login.server if login else self.session.kit.server_identity

    @property
    def org(self) -> str:  # type: ignore[override]
        login = self.client.login_info
        return login.org if login else ""

    def right_condition(self, right: str) -> str | None:
        login = self.client.login_info
        return login.rights.get(right) if login and login.rights else None

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def silent(self) -> bool:
        return self.client.silent

    @property
    def silent_for(self) -> int | None:
        return self.client.silent_for

    def add_silence_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        return self.client.add_silence_listener(listener)

    @property
    def tells_silence(self) -> bool:
        return self.client.heartbeat is not None

    @property
    def closed(self) -> bool:
        return self.client.closed

    async def connect(self) -> None:
        await self.session.connect()

    async def close(self) -> None:
        await self.session.close()

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        return self.client.add_state_listener(listener)

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        return self.client.add_event_listener(listener)

    async def request(self, command: str, args: dict[str, Any], on_answer: Callable[[Any], None] | None = None) -> Any:
        # The answer arrives on the loop that awaits it: nothing to gain from on_answer here.
        answer = await self.client.request(command, args, acts=command in CHANGES_JOBS)
        if command in ("set_timeout", "unset_timeout") and isinstance(answer, dict) and "command_timeout" in answer:
            self.client.use_command_timeout(answer["command_timeout"])  # what the server says is in force
        return answer

    async def submit_job(self, job_folder: str, submit_token: str | None = None) -> str:
        return await self.session.submit_job(job_folder, submit_token)

    async def clone_job(self, job_id: str) -> str:
        return await self.session.clone_job(job_id)

    async def download_job(self, job_id: str, destination: str | None) -> str:
        return await self.session.download_job_result(job_id, destination)

    def download_probe(self, job_id: str, destination: str | None) -> Callable[[], int] | None:
        folder = Path(destination or self.session.download_dir).expanduser()
        return spool_probe((folder, ".flare-download-*/result.zip"))

    async def get_job_meta(self, job_id: str) -> dict[str, Any]:
        return await self.session.get_job_meta(job_id)

    async def refuse_before_asking(self, command: str, args: dict[str, Any]) -> None:
        """The server's own checks, nothing done (``check_only``), where the registry gives the command that
        argument and the server lists ``refusal_check``; raises its refusal as the command itself would."""
        spec = CATALOG.get(command)
        if spec is None or CHECK_ONLY not in spec.params or REFUSAL_CHECK not in self.client.peer_features:
            return
        await self.client.request(command, {**args, CHECK_ONLY.name: True})

    async def list_jobs(self, newest: int | None = None) -> list[dict[str, Any]]:
        if newest is None:
            return await self.client.request("list_jobs", {"reverse": True})
        return await self.client.request_rows("list_jobs", {"reverse": True, "limit": newest}, keep=newest)

    async def site_names(self, most: int | None = None) -> list[str]:
        if most is None:
            return client_names(await self.client.request("check_status", {"target_type": "server"}))
        clients = await self.client.request_rows("check_status", {"target_type": "server"}, keep=most, under="clients")
        return client_names({"clients": clients})

    async def folder_names(self, target: str, folder: str) -> list[str]:
        asked = f"{folder}/" if folder else "."  # the '/': a file named as a folder is refused as one
        answer = await self.client.request("ls", {"target": target, "options": "-a", "path": asked})
        names = await asyncio.to_thread(plain_names, answer, asked)  # a folder of 100,000 names: off the loop
        if any(part != "." for part in Path(folder).parts):
            return names
        # What every file command refuses (the target's kit, the server's store and audit records) is
        # listed by ls but offered by no completion: the same rule as the refusal.
        private = private_folders(target)
        return [name for name in names if name.removesuffix("/") not in private]

    async def monitor_job(self, job_id: str, timeout: float, interval: float,
                          cb: MonitorCallback | None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        """The session's monitor; the metas ``cb`` gets carry ``SITES_SILENT``: the job's sites (its deploy_map's)
        whose connection dropped since the monitor started and that have not connected again (pushed
        ``site_status``), so that the shell says when one goes and comes back, as on FLARE."""
        away: set[str] = set()

        def on_event(topic: str, data: dict[str, Any]) -> None:
            site = data.get("site")
            if topic == "site_status" and isinstance(site, str):
                (away.add if data.get("status") == "disconnected" else away.discard)(site)

        async def told(meta: dict[str, Any]) -> bool:
            named, every = deploy_map_sites(meta)
            shown = {**meta, SITES_SILENT: sorted(s for s in away if every or s in named)}
            return True if cb is None else await keeps_going(cb, shown)

        remove = self.client.add_event_listener(on_event)
        try:
            return await self.session.monitor_job(job_id, timeout, interval, told)
        finally:
            remove()

    async def follow_log(self, job_id: str, target: str, lines: int, on_lines: LogLines,
                         resume: dict[str, Any] | None = None) -> LogStream:
        # Listening starts before the request: the lines so far are pushed before its answer.
        wanted: dict[str, Any] = {"prefix": job_id.strip(), "targets": None, "ended": set()}
        offsets: dict[str, int] = {t: at for t, at in (resume or {}).items() if isinstance(at, int)}
        stream: LogStream | None = None

        def on_event(topic: str, data: dict[str, Any]) -> None:
            job, target_name = data.get("job_id"), data.get("target")
            if not isinstance(job, str) or not job.startswith(wanted["prefix"]) or not isinstance(target_name, str):
                return
            if wanted["targets"] is not None and target_name not in wanted["targets"]:
                return
            if topic == "job_log" and isinstance(data.get("lines"), list):
                at = data.get("offset")
                if isinstance(at, int) and not isinstance(at, bool):
                    offsets[target_name] = at  # where to go on from after a dropped connection
                on_lines(target_name, [str(line) for line in data["lines"]])
            elif topic == "job_log_end":
                wanted["ended"].add(target_name)
                if stream is not None and wanted["ended"] >= set(stream.targets):
                    stream.done.set()

        remove = self.client.add_event_listener(on_event)
        try:
            args: dict[str, Any] = {"job_id": job_id, "target": target, "lines": lines}
            if offsets:
                args["resume"] = [f"{t}={at}" for t, at in sorted(offsets.items())]
            info = await self.client.request("follow", args)
            if not (isinstance(info, dict) and isinstance(info.get("job_id"), str) and isinstance(info.get("targets"), list)
                    and all(isinstance(t, str) for t in info["targets"])):
                raise MalformedAnswer("the server's answer to follow is no job ID with a list of targets")
        except BaseException:
            remove()
            raise
        full = info["job_id"]
        wanted["prefix"], wanted["targets"] = full, set(info["targets"])

        async def close() -> None:
            remove()
            remove_state()
            if self.client.connected:
                await self.client.request("unfollow", {"job_id": full})

        stream = LogStream(full, info.get("name") or "", list(info["targets"]), close)
        stream.resume = offsets  # kept up to date by on_event

        def on_state(up: bool) -> None:  # the server forgets a dropped session's follows
            if not up and stream is not None and not stream.done.is_set():
                stream.error = NoConnection("the connection to the server was lost")
                stream.done.set()

        remove_state = self.client.add_state_listener(on_state)
        if wanted["ended"] >= set(stream.targets):
            stream.done.set()
        return stream
