"""The jobs running on a site: deploy, relay tasks to the client app, end, abort, pack up."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.jobdef.archive import JobLimits, zip_dir_to_file
from console.jobdef.code import job_code
from console.process import stop_child
from console.wire.errors import ErrorType, RemoteError

log = logging.getLogger("console.site.jobs")

STOP_GRACE_SECONDS = 3.0


@dataclass
class SiteJob:
    job_id: str
    job_name: str
    app_name: str
    workspace: Path
    process: asyncio.subprocess.Process | None = None
    status: str = "starting"
    current_tasks: list[str] = field(default_factory=list)
    waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None


class SiteJobs:
    def __init__(self, site_name: str, root: Path, limits: JobLimits | None = None) -> None:
        self.site_name = site_name
        self.root = root
        self.limits = limits or JobLimits()
        self.jobs: dict[str, SiteJob] = {}

    def job(self, job_id: str) -> SiteJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise RemoteError(ErrorType.JOB_NOT_RUNNING, f"job {job_id} is not running on {self.site_name}")
        return job

    def workspace(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"bad job ID {job_id!r}")
        return self.root / job_id

    async def deploy(self, job_id: str, job_name: str, app_name: str, archive: Path, *,
                     custom_allowed: bool = False) -> None:
        """Unpack the job's app and start its client app; job code runs only if ``custom_allowed``."""
        if job_id in self.jobs:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"job {job_id} is already deployed on {self.site_name}")
        workspace = self.workspace(job_id)
        app_dir = workspace / f"app_{self.site_name}"
        await asyncio.to_thread(_unpack_app, archive, workspace, app_name, app_dir, self.limits)
        # The site judges the app itself: the server's byoc flag is not trusted to be complete.
        code = await asyncio.to_thread(job_code, app_dir)
        if code and not custom_allowed:
            await asyncio.to_thread(shutil.rmtree, workspace, True)
            log.error("job %s refused: it brings code (%s) and its submitter lacks 'byoc' here", job_id,
                      ", ".join(code))
            raise RemoteError(ErrorType.AUTHORIZATION, f"{self.site_name}: job {job_id} brings code "
                                                       f"({', '.join(code)}) and its submitter lacks the right "
                                                       "'byoc' on this site")
        job = SiteJob(job_id, job_name, app_name, workspace)
        self.jobs[job_id] = job
        with open(workspace / "log.txt", "ab") as log_file:
            job.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.runtime.site_app", "--job-id", job_id, "--site", self.site_name,
                "--app-dir", str(app_dir), "--workspace", str(workspace), *(["--custom-code"] if code else []),
                cwd=workspace,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file,
            )
        job.reader = asyncio.create_task(self._read_events(job))
        log.info("job %s (%s) deployed: client app pid %s", job_id, job_name, job.process.pid)

    async def _read_events(self, job: SiteJob) -> None:
        assert job.process is not None and job.process.stdout is not None
        while line := await job.process.stdout.readline():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "ready":
                job.status = "started"
            elif kind in ("result", "error"):
                future = job.waiting.pop(event.get("task_id"), None)
                if future is not None and not future.done():
                    future.set_result(event)
        code = await job.process.wait()
        job.status = "stopped"
        for future in job.waiting.values():
            if not future.done():
                future.set_result({"event": "error", "message": f"the client app exited with code {code}"})
        job.waiting.clear()

    async def run_task(self, job_id: str, task_id: int, round_number: int, num_rounds: int,
                       model: str) -> dict[str, Any]:
        job = self.job(job_id)
        assert job.process is not None and job.process.stdin is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        job.waiting[task_id] = future
        job.current_tasks = ["train"]
        command = {"cmd": "task", "task_id": task_id, "round": round_number, "num_rounds": num_rounds, "model": model}
        job.process.stdin.write(json.dumps(command).encode() + b"\n")
        await job.process.stdin.drain()
        try:
            event = await future
        finally:
            job.current_tasks = []
        if event.get("event") == "error":
            # INTERNAL marks "the executor raised": the server ends the job EXECUTION_EXCEPTION.
            raise RemoteError(ErrorType.INTERNAL, f"{self.site_name}: {event.get('message')}")
        return {"model": event["model"], "weight": event.get("weight", 1.0), "metrics": event.get("metrics", {})}

    async def stop(self, job_id: str, *, abort: bool) -> None:
        job = self.jobs.pop(job_id, None)
        if job is None or job.process is None:
            return
        await stop_child(job.process, b"abort\n" if abort else b'{"cmd": "end"}\n', STOP_GRACE_SECONDS)
        if job.reader is not None:
            await asyncio.gather(job.reader, return_exceptions=True)
        log.info("job %s %s", job_id, "aborted" if abort else "ended")

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(job_id, abort=True) for job_id in list(self.jobs)))

    def status(self) -> list[dict[str, Any]]:
        return [{"job_id": j.job_id, "app_name": j.app_name, "status": j.status} for j in self.jobs.values()]

    def pack_workspace(self, job_id: str, out: Path, max_bytes: int | None = None) -> None:
        """The job's workspace as a zip, within this site's limit and the one asked for."""
        workspace = self.workspace(job_id)
        if not workspace.is_dir():
            raise RemoteError(ErrorType.JOB_NOT_FOUND, f"no workspace of job {job_id} on {self.site_name}")
        limit = min(self.limits.max_workspace_bytes, max_bytes or self.limits.max_workspace_bytes)
        zip_dir_to_file(workspace, out, max_bytes=limit)

    def delete_workspace(self, job_id: str) -> bool:
        """Remove a deleted job's workspace here (refused while it runs); whether there was one."""
        if job_id in self.jobs:
            raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id} still runs on {self.site_name}")
        workspace = self.workspace(job_id)
        existed = workspace.is_dir()
        shutil.rmtree(workspace, ignore_errors=True)
        return existed


def _unpack_app(archive: Path, workspace: Path, app_name: str, app_dir: Path, limits: JobLimits) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=workspace))
    try:
        limits.extract(archive, scratch)
        if not (scratch / app_name).is_dir():
            raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, f"the job has no app folder {app_name!r}")
        shutil.rmtree(app_dir, ignore_errors=True)
        (scratch / app_name).rename(app_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
