"""The backend on our own server: a thin layer over ``AsyncSession`` (pushes included)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.api.async_session import CHANGES_JOBS, AsyncSession
from console.api.errors import NoConnection
from console.api.spec import MonitorReturnCode
from console.backends.base import Backend, EventListener, LogLines, LogStream, MonitorCallback, StateListener
from console.backends.spools import spool_probe
from console.commands import Engine


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
        return await self.client.request(command, args, acts=command in CHANGES_JOBS)

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

    async def list_jobs(self) -> list[dict[str, Any]]:
        return await self.client.request("list_jobs", {"reverse": True})

    async def site_names(self) -> list[str]:
        status = await self.client.request("check_status", {"target_type": "server"})
        return sorted(c["client_name"] for c in status.get("clients", []))

    async def monitor_job(self, job_id: str, timeout: float, interval: float,
                          cb: MonitorCallback | None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        return await self.session.monitor_job(job_id, timeout, interval, cb)

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
