"""The jobs running on a site: deploy, relay tasks to the client app, end, abort, pack up.

Models pass through as files: a task's model arrives as an upload written to the job's
``.transfer/`` folder, the client app writes its result beside it, and that file streams back
as the answer to the same request. The site holds no more than a chunk of either in memory.
The client app runs in its own session with the job's process marker: when the job ends
or is aborted, every process it started is killed (``console.runtime.procs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import safe_json
from console.jobdef.archive import JobLimits
from console.jobdef.code import job_code
from console.jobdef.packing import KnownFiles, zip_dir_to_file
from console.jobdef.process_limits import ProcessLimits
from console.log_floods import per_peer
from console.names import is_server_job_id
from console.process import stop_child
from console.runtime.child import TRANSFER_DIR
from console.runtime.limits import LineTooLong, cut, read_event_line, result_file_limit
from console.runtime.procs import job_marker, job_process_ended, reap_job_processes, start_job_process
from console.runtime.target_commands import KIT_FOLDERS
from console.runtime.transfer import result_file, task_file
from console.site.leftovers import UNPACKING_PREFIX
from console.wire.errors import ErrorType, RemoteError

log = logging.getLogger("console.site.jobs")

STOP_GRACE_SECONDS = 3.0
#: How long a deploy waits for the client app to be up (imports done, executor loaded) before it
#: answers anyway: the job's first round does not pay for the start (a slower app still gets its
#: task, which waits in its pipe).
READY_WAIT_SECONDS = 10.0
#: The largest task model a site accepts from its server.
MAX_TASK_MODEL_BYTES = 64 << 30


@dataclass
class SiteJob:
    job_id: str
    job_name: str
    app_name: str
    workspace: Path
    marker: str
    process: asyncio.subprocess.Process | None = None
    output: asyncio.Task[None] | None = None  # its output, relayed to its log.txt
    status: str = "starting"
    current_tasks: list[str] = field(default_factory=list)
    waiting: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    limits: dict[int, int] = field(default_factory=dict)  # task_id -> max_result_bytes
    watcher: asyncio.Task[None] | None = None
    failure: str | None = None  # why the client app failed, was stopped by the site, or exited early
    stopping: bool = False  # the server ended or aborted the job here
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the client app said "ready"
    #: Who submitted it (the deploy carries it): its lines are summed up per submitter, who can
    #: make job lives at will (clone_job + delete_job), so that one's flood hides no other's job.
    submitter: str | None = None


#: Jobs whose app files a site remembers, to leave them out of their workspace archives.
MAX_UNPACKED_KEPT = 256
#: Jobs the server told this site to end, abort or delete that it remembers, so that a deploy of
#: one landing late is not started (a few thousand IDs: well past any dispatch in flight).
MAX_ENDED_KEPT = 4096


class SiteJobs:
    def __init__(self, site_name: str, root: Path, limits: JobLimits | None = None,
                 process_limits: ProcessLimits | None = None) -> None:
        self.site_name = site_name
        self.root = root
        self.limits = limits or JobLimits()
        self.process_limits = process_limits or ProcessLimits()
        self.jobs: dict[str, SiteJob] = {}
        #: Per job deployed since this site started: its app's files as the job's archive has them,
        #: which its workspace archive leaves out (the server keeps job.zip); the latest few hundred.
        self.unpacked: dict[str, KnownFiles] = {}
        #: The jobs the server ended, aborted or deleted here (in the order told, the latest
        #: MAX_ENDED_KEPT): a deploy of one of them is never started, or stopped at once.
        self.ended: dict[str, None] = {}

    def job(self, job_id: str) -> SiteJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise RemoteError(ErrorType.JOB_NOT_RUNNING, f"job {job_id} is not running on {self.site_name}")
        return job

    def workspace(self, job_id: str) -> Path:
        """The job's workspace folder: ``root/JOB_ID``. Raises RemoteError (InvalidArgument) for an ID
        not of the server's form, and for one whose folder leads (by a link) into this site's kit."""
        if not is_server_job_id(job_id):
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"{self.site_name}: {str(job_id)[:80]!r} is not a job ID "
                                                          "as the server makes them (a lower-case UUID)")
        workspace = self.root / job_id
        try:
            real, root = workspace.resolve(), self.root.resolve()
        except (OSError, RuntimeError):  # 3.11 raises RuntimeError on a symlink loop
            real = root = self.root
        if real == root or any(real.is_relative_to(root / kit) for kit in KIT_FOLDERS):
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"{self.site_name}: the workspace of job {job_id} leads "
                                                          "into this site's own folder; it is never a job's")
        return workspace

    def _ended_meanwhile(self, job_id: str) -> RemoteError | None:
        if job_id not in self.ended:
            return None
        return RemoteError(ErrorType.JOB_NOT_RUNNING, f"{self.site_name}: the server ended job {job_id} while it "
                                                      "was being deployed here; it is not started")

    async def deploy(self, job_id: str, job_name: str, app_name: str, archive: Path, *,
                     custom_allowed: bool = False, submitter: str | None = None) -> None:
        """Unpack the job's app and start its client app; job code runs only if ``custom_allowed``.

        A deploy that does not complete leaves nothing here: cancelled (the server's link went, so
        the server counts this site out of the job), refused, or of a job the server ended or
        deleted meanwhile (``end_job``, ``abort_job``, ``delete_workspace`` crossed it: a deploy
        landing late), its client app is stopped and its workspace removed; a job already ended
        is not unpacked at all. Raises RemoteError (JobNotRunning for an ended job)."""
        if job_id in self.jobs:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"job {job_id} is already deployed on {self.site_name}")
        workspace = self.workspace(job_id)
        if ended := self._ended_meanwhile(job_id):
            log.warning("job %s: a deploy came after the server ended it here; not started", job_id)
            raise ended
        job: SiteJob | None = None
        try:
            job = await self._start(job_id, job_name, app_name, archive, workspace, custom_allowed, submitter)
        except BaseException:
            await self._undo(job_id, job, workspace)
            raise

    async def _start(self, job_id: str, job_name: str, app_name: str, archive: Path, workspace: Path,
                     custom_allowed: bool, submitter: str | None) -> SiteJob:
        app_dir = workspace / f"app_{self.site_name}"
        await asyncio.to_thread(_unpack_app, archive, workspace, app_name, app_dir, self.limits)
        self.unpacked[job_id] = await asyncio.to_thread(KnownFiles, archive, app_name, app_dir.name)
        while len(self.unpacked) > MAX_UNPACKED_KEPT:
            self.unpacked.pop(next(iter(self.unpacked)))
        # The site judges the app itself: the server's byoc flag is not trusted to be complete.
        code = await asyncio.to_thread(job_code, app_dir)
        if code and not custom_allowed:
            log.error("job %s refused: it brings code (%s) and its submitter lacks 'byoc' here", job_id,
                      ", ".join(code))
            raise RemoteError(ErrorType.AUTHORIZATION, f"{self.site_name}: job {job_id} brings code "
                                                       f"({', '.join(code)}) and its submitter lacks the right "
                                                       "'byoc' on this site")
        if ended := self._ended_meanwhile(job_id):
            raise ended
        (workspace / TRANSFER_DIR).mkdir(exist_ok=True)
        job = SiteJob(job_id, job_name, app_name, workspace, job_marker(job_id, self.site_name), submitter=submitter)
        self.jobs[job_id] = job
        # Shielded: a cancel while the child is being made must still get its process, to stop it.
        starting = asyncio.ensure_future(start_job_process("console.runtime.site_app", [
            "--job-id", job_id, "--site", self.site_name, "--app-dir", str(app_dir), "--workspace", str(workspace),
            *(["--custom-code"] if code else []),
        ], workspace, job.marker, self.process_limits))
        try:
            job.process, job.output = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                job.process, job.output = await starting
            raise
        job.watcher = asyncio.create_task(self._watch(job))
        # Answer once the app is up (or has ended, or READY_WAIT_SECONDS passed): its start belongs
        # to the job's start, as in FLARE, where the workflow begins once the clients have started.
        ready = asyncio.create_task(job.ready.wait())
        try:
            await asyncio.wait({ready, job.watcher}, timeout=READY_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if self.jobs.get(job_id) is not job or job_id in self.ended:  # told to stop while it started
            raise self._ended_meanwhile(job_id) or RemoteError(
                ErrorType.JOB_NOT_RUNNING, f"{self.site_name}: job {job_id} was stopped while it was being deployed")
        log.info("job %s (%s) deployed: client app pid %s%s", job_id, job_name, job.process.pid,
                 "" if job.ready.is_set() else " (not ready yet)", extra=per_peer(job.submitter))
        return job

    async def _undo(self, job_id: str, job: SiteJob | None, workspace: Path) -> None:
        """What a deploy that did not complete left: its client app (and every process it started)
        stopped, its workspace removed."""
        job = job or self.jobs.get(job_id)
        if job is not None and self.jobs.get(job_id) is job:
            self.jobs.pop(job_id)
        if job is not None and job.process is not None:
            job.stopping = True
            await stop_child(job.process, b"abort\n", STOP_GRACE_SECONDS)
            if job.watcher is not None:
                await asyncio.gather(job.watcher, return_exceptions=True)
            else:
                await reap_job_processes(job.marker, job.process.pid)
        self.unpacked.pop(job_id, None)
        await asyncio.to_thread(shutil.rmtree, workspace, True)
        log.warning("job %s: its deploy here did not complete; nothing of it is left running or kept", job_id)

    async def _watch(self, job: SiteJob) -> None:
        """Read the client app's events until it exits, then end every process it left behind."""
        assert job.process is not None
        reader = asyncio.create_task(self._read_events(job))
        code = await job_process_ended(job.process, job.marker, reader, f"job {job.job_id} client app", log,
                                       job.output)
        job.status = "stopped"
        # Stopped by the server with tasks out: those tasks end unanswered, which is no failure of
        # the job's code (the server names only real failures in job_errors).
        event = {"event": "stopped"} if job.stopping and not job.failure else None
        why = job.failure or f"the client app exited with code {code}"
        job.failure = why
        for future in job.waiting.values():
            if not future.done():
                future.set_result(event or {"event": "error", "message": why})

    async def _read_events(self, job: SiteJob) -> None:
        assert job.process is not None and job.process.stdout is not None
        try:
            while line := await read_event_line(job.process.stdout):
                self._on_event(job, line)
        except LineTooLong as exc:
            job.failure = (f"the client app sent {exc}; results, metrics and errors have documented limits "
                           "(docs/protocol.md)")
            log.error("job %s: %s; stopping it", job.job_id, job.failure)
            job.process.kill()

    def _on_event(self, job: SiteJob, line: bytes) -> None:
        try:
            event = safe_json.loads(line)
        except ValueError as exc:
            # It may have been a task's result: its task would wait for its timeout. The app is
            # stopped instead, and its tasks fail with this reason (``_watch``).
            job.failure = f"the client app sent a line that is not JSON ({exc}): {line[:200]!r}"
            log.error("job %s: %s; stopping it", job.job_id, job.failure)
            if job.process is not None:
                with contextlib.suppress(ProcessLookupError):  # it has exited meanwhile
                    job.process.kill()
            return
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "ready":
            job.status = "started"
            job.ready.set()
        elif kind in ("result", "error"):
            # Kept until the task's request takes it (it may still be receiving the model).
            future = job.waiting.get(event.get("task_id"))  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(event)
            elif kind == "error":
                job.failure = cut(str(event.get("message")))

    async def receive_task(self, job_id: str, task_id: int, round_number: int, num_rounds: int,
                           max_result_bytes: int, receive: Any) -> None:
        """Store the streamed model (``receive(path, max_bytes)``) and hand the task to the client app."""
        job = self.job(job_id)
        if task_id in job.waiting:
            # Asked again after the server's link dropped mid-task (it waits for a site to come back,
            # deployment.py): the client app has it already, so its model is read and dropped, and
            # ``task_result`` hands over the result made meanwhile, not a second training.
            spare = task_file(job.workspace, task_id).with_suffix(".again")
            try:
                await receive(spare, MAX_TASK_MODEL_BYTES, sync=False)
            finally:
                spare.unlink(missing_ok=True)
            return
        path = task_file(job.workspace, task_id)
        try:
            await receive(path, MAX_TASK_MODEL_BYTES, sync=False)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if job.process is None or job.process.returncode is not None or job.process.stdin is None:
            path.unlink(missing_ok=True)
            raise await self._ended(job)
        job.waiting[task_id] = asyncio.get_running_loop().create_future()
        job.limits[task_id] = max_result_bytes
        job.current_tasks = ["train"]
        command = {"cmd": "task", "task_id": task_id, "round": round_number, "num_rounds": num_rounds,
                   "max_result_bytes": max_result_bytes}
        try:
            job.process.stdin.write(json.dumps(command).encode() + b"\n")
            await job.process.stdin.drain()
        except (ConnectionError, OSError):  # it exited meanwhile
            job.waiting.pop(task_id, None)
            path.unlink(missing_ok=True)
            raise await self._ended(job) from None

    def _failed(self, why: str) -> RemoteError:
        # INTERNAL marks "the job's code failed": the server ends the job EXECUTION_EXCEPTION.
        return RemoteError(ErrorType.INTERNAL, f"{self.site_name}: {why} (the job's log.txt on {self.site_name} "
                           "has the details)")

    async def _ended(self, job: SiteJob) -> RemoteError:
        """The error for a task sent to a client app that has exited: why it did, when known."""
        if job.watcher is not None:  # it has just exited: its last event (why) may be unread yet
            await asyncio.wait({job.watcher}, timeout=STOP_GRACE_SECONDS)
        if job.failure:  # it failed (e.g. its executor cannot be imported): the job's fault, said as such
            return self._failed(job.failure)
        return RemoteError(ErrorType.JOB_NOT_RUNNING, f"job {job.job_id}'s client app on {self.site_name} has ended")

    async def task_result(self, job_id: str, task_id: int) -> tuple[Path, dict[str, Any]]:
        """Wait for the task's result: the trained model file and its head (weight, metrics)."""
        job = self.job(job_id)
        future = job.waiting.get(task_id)
        if future is None:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"no task {task_id} of job {job_id} on {self.site_name}")
        event = await asyncio.shield(future)
        job.waiting.pop(task_id, None)
        job.current_tasks = ["train"] if any(not f.done() for f in job.waiting.values()) else []
        limit = job.limits.pop(task_id, 0)
        path = result_file(job.workspace, task_id)
        if event.get("event") == "stopped":
            path.unlink(missing_ok=True)
            raise RemoteError(ErrorType.JOB_NOT_RUNNING, f"{self.site_name}: job {job_id} was stopped before "
                              f"task {task_id} was done")
        if event.get("event") == "error":
            path.unlink(missing_ok=True)
            raise self._failed(str(event.get("message")))
        size = path.stat().st_size if path.is_file() else -1
        if size < 0 or (limit and size > result_file_limit(limit)):
            path.unlink(missing_ok=True)
            why = "wrote no result file" if size < 0 else \
                f"wrote a result file of {size} bytes, over this task's limit of {result_file_limit(limit)} bytes"
            raise self._failed(f"the client app {why}")
        return path, {"weight": event.get("weight", 1.0), "metrics": event.get("metrics", {})}

    def _remember_ended(self, job_id: str) -> None:
        self.ended.pop(job_id, None)
        self.ended[job_id] = None
        while len(self.ended) > MAX_ENDED_KEPT:
            self.ended.pop(next(iter(self.ended)))

    async def stop(self, job_id: str, *, abort: bool) -> None:
        """End (or abort) the job here; a deploy of it still on its way is then never started."""
        self._remember_ended(job_id)
        job = self.jobs.pop(job_id, None)
        if job is None or job.process is None:
            return
        job.stopping = True
        await stop_child(job.process, b"abort\n" if abort else b'{"cmd": "end"}\n', STOP_GRACE_SECONDS)
        if job.watcher is not None:
            await asyncio.gather(job.watcher, return_exceptions=True)
        shutil.rmtree(job.workspace / TRANSFER_DIR, ignore_errors=True)
        log.info("job %s %s", job_id, "aborted" if abort else "ended", extra=per_peer(job.submitter))

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(job_id, abort=True) for job_id in list(self.jobs)))

    def status(self) -> list[dict[str, Any]]:
        return [{"job_id": j.job_id, "app_name": j.app_name, "status": j.status} for j in self.jobs.values()]

    def pack_workspace(self, job_id: str, out: Path, max_bytes: int | None = None,
                       max_entries: int | None = None, submitter: str | None = None) -> None:
        """The job's workspace as a zip, within this site's limits and the ones asked for (the server
        refuses a workspace archive past its own ``job_limits``). ``submitter``: the job's, whose
        code made the workspace: what zipping leaves out is logged summed up per submitter."""
        workspace = self.workspace(job_id)
        if not workspace.is_dir():
            raise RemoteError(ErrorType.JOB_NOT_FOUND, f"no workspace of job {job_id} on {self.site_name}")
        limit = min(self.limits.max_workspace_bytes, max_bytes or self.limits.max_workspace_bytes)
        entries = min(self.limits.max_entries, max_entries or self.limits.max_entries)
        zip_dir_to_file(workspace, out, max_bytes=limit, known=self.unpacked.get(job_id), max_entries=entries,
                        owner=submitter or None)

    def delete_workspace(self, job_id: str) -> bool:
        """Remove a deleted job's workspace here (refused while it runs: ``stop`` it first); whether
        there was one. A deploy of it still on its way is then never started."""
        self._remember_ended(job_id)
        if job_id in self.jobs:
            raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id} still runs on {self.site_name}")
        workspace = self.workspace(job_id)
        existed = workspace.is_dir()
        shutil.rmtree(workspace, ignore_errors=True)
        self.unpacked.pop(job_id, None)
        return existed


def _unpack_app(archive: Path, workspace: Path, app_name: str, app_dir: Path, limits: JobLimits) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=UNPACKING_PREFIX, dir=workspace))
    try:
        limits.extract(archive, scratch)
        if not (scratch / app_name).is_dir():
            raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, f"the job has no app folder {app_name!r}")
        shutil.rmtree(app_dir, ignore_errors=True)
        (scratch / app_name).rename(app_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
