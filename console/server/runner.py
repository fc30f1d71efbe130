"""The job runner: a job's server app runs in a child process; its sites run their share.

The child speaks JSON lines on stdout (``started``, ``progress``, ``task``, ``error``: read by
``console.server.server_app_events``), each bounded (``console.runtime.limits``), and ends
with an exit code (0 completed, 1 an app or executor raised, 2 bad config, 3 aborted, 4 too
few sites left); its stdin carries site results and the abort line, and closes when the
server dies, so no job process outlives the server. Models never pass through those lines:
they are files in the job's ``.transfer/`` folder, streamed to and from the sites by
``Deployment``. The child runs in its own session with the job's process marker; when it
ends, or the job is aborted, every process it started is killed. Sites get the job before
the child starts and are told to stop, and asked for their workspaces, when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from console import safe_json
from console.commands import Right
from console.jobdef.archive import JobLimits
from console.jobdef.deploy_map import server_app_name, site_apps
from console.jobdef.signing import expected_signer, load_crl, verify_archive, verify_signer
from console.jobdef.validate import JobDefinitionError
from console.log_floods import per_peer
from console.process import stop_child
from console.provision.certs import load_cert
from console.runtime.child import TRANSFER_DIR
from console.runtime.procs import job_process_ended, reap_job_processes, start_job_process
from console.server.authz import Principal
from console.server.deployment import Deployment
from console.server.interfaces import RunnerHost
from console.server.job_commands import deployed_sites
from console.server.job_errors import add_error
from console.server.kept_workspace import ABANDONED, SERVER_APP_DIR, archive_workspace, sites_note
from console.server.running_job import RunningJob
from console.server.server_app_events import read_events
from console.server.status import JobStatus
from console.server.store import SIGNATURE_FILE
from console.wire.errors import RemoteError

log = logging.getLogger("console.server.runner")

#: How long an aborted job's process gets to stop by itself before it is killed.
ABORT_GRACE_SECONDS = 3.0
#: How long a site may take to answer one task (``task_timeout`` in meta.json or the workflow args overrides).
DEFAULT_TASK_TIMEOUT = 600.0

_EXIT_STATUS = {
    0: JobStatus.FINISHED_COMPLETED,
    1: JobStatus.FINISHED_EXECUTION_EXCEPTION,
    2: JobStatus.FINISHED_EXECUTION_EXCEPTION,
    3: JobStatus.FINISHED_ABORTED,
    4: JobStatus.FINISHED_ABNORMAL,
}


def verified_signature(job_dir: Path, root_ca: Path, meta: dict[str, Any], crl: Path | None = None) -> dict[str, str]:
    """The job's signature record, checked against its archive, the project's root CA and
    revocation list ``crl``, and the job's submitter in ``meta`` (signing.py says who may sign)."""
    try:
        record = safe_json.loads((job_dir / SIGNATURE_FILE).read_text())
    except (OSError, ValueError):
        raise JobDefinitionError("the job has no readable signature record; it cannot run") from None
    root = load_cert(root_ca)
    signer = verify_signer(str(record.get("signer_pem", "")), root, str(record.get("signed_by", "")),
                           expected_signer(meta), crl=load_crl(crl, root))
    verify_archive(job_dir / "job.zip", record.get("signature", ""), signer)
    return record


def _prepare_workspace(job_zip: Path, workspace: Path, app_name: str, limits: JobLimits) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=workspace))
    try:
        limits.extract(job_zip, scratch)
        shutil.rmtree(workspace / SERVER_APP_DIR, ignore_errors=True)
        (scratch / app_name).rename(workspace / SERVER_APP_DIR)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class JobRunner:
    def __init__(self, server: RunnerHost) -> None:
        self.server = server
        self.jobs: dict[str, RunningJob] = {}
        #: The server is stopping (``stop_all``): a job whose run ends now ends ABANDONED.
        self.stopping = False

    def is_active(self, job_id: str) -> bool:
        return job_id in self.jobs

    async def ended(self, job_id: str, timeout: float) -> bool:
        """Whether the job's run is over (its final status stored) within ``timeout`` s; the run goes on
        either way."""
        job = self.jobs.get(job_id)
        if job is None or job.task is None:
            return job is None
        done, _ = await asyncio.wait({job.task}, timeout=timeout)
        return bool(done)

    @property
    def active_count(self) -> int:
        return len(self.jobs)

    def running_jobs(self) -> list[tuple[str, str]]:
        return [(job.job_id, job.app_name) for job in self.jobs.values()]

    def start(self, meta: dict[str, Any], targets: list[str]) -> None:
        job_id = meta["job_id"]
        app_name = server_app_name(meta.get("deploy_map", {})) or ""
        job = RunningJob(job_id, meta.get("name", ""), app_name, self.server.workspace / job_id, meta, list(targets))
        self.jobs[job_id] = job
        dispatched = self.server.change_status(job_id, JobStatus.DISPATCHED)
        job.task = asyncio.create_task(self._run(job, dispatched))

    async def _run(self, job: RunningJob, dispatched: asyncio.Future[dict[str, Any] | None]) -> None:
        if await dispatched is None:  # aborted or deleted before its DISPATCHED was stored: it never runs
            self.jobs.pop(job.job_id, None)
            log.info("job %s: not started, it ended or went while it was being dispatched", job.job_id,
                     extra=per_peer(job.meta.get("submitter_name")))
            self.server.scheduler.wake()
            return
        deployment = Deployment(self.server, job, _meta_task_timeout(job.meta) or DEFAULT_TASK_TIMEOUT)
        status = JobStatus.FINISHED_ABNORMAL
        try:
            status = await self._run_job(job, deployment)
        except asyncio.CancelledError:
            status = JobStatus.FINISHED_ABANDONED
            raise
        except Exception:
            log.exception("job %s could not be run", job.job_id)
            status = JobStatus.FINISHED_FAILED_TO_RUN
        finally:
            job.ending = True
            if self.stopping and status is not JobStatus.FINISHED_COMPLETED:
                # stop_all kills the job's process before it cancels this task: its end (-9, ABNORMAL) is often
                # seen first, mostly under load (the reaping runs on a thread meanwhile). ABNORMAL would skip
                # _leave_to_next_start (nothing recorded to collect) and stop the sites' jobs on the way down.
                status = JobStatus.FINISHED_ABANDONED
            if job.aborting:
                status = JobStatus.FINISHED_ABORTED
            # Every site that took the job, however the run ended (a failure after the deploy, such as
            # a job deleted meanwhile, included: its sites ran it for ever). A server stopping (the
            # job ABANDONED) leaves them be: it collects their workspaces when it is back.
            deployed = [] if status is JobStatus.FINISHED_ABANDONED else list(deployment.deployed)
            if status is JobStatus.FINISHED_ABANDONED:
                self._leave_to_next_start(job, deployment)
            # Sites stop and hand over their workspaces, and the server's is archived, before the
            # final status is written: whoever sees it can download or delete the job at once. Each
            # workspace comes at a minimum pace, and abort_job bounds the waiting for the sites
            # (connection_limits' abort_wait_seconds): one that trickles its workspace, or never answers, cannot keep
            # the job from ending, and the others' workspaces that come within the bound are kept.
            if job.sites_told is not None:  # abort_job told them already, as it came
                told = await job.sites_told
            else:
                told = await deployment.stop_sites(deployed, abort=status is not JobStatus.FINISHED_COMPLETED,
                                                   stop=job.stop_waiting)
            await deployment.collect_workspaces(deployed, self.server.store.job_dir(job.job_id) / "sites",
                                                job.stop_waiting, told)
            if job.abort_timer is not None:
                job.abort_timer.cancel()
            await self._archive_workspace(job)
            self.jobs.pop(job.job_id, None)
            await self.server.change_status(job.job_id, status, **(job.errors.meta() if job.errors else {}))

    def _leave_to_next_start(self, job: RunningJob, deployment: Deployment) -> None:
        """A server stopping leaves the job's sites be: their workspaces are collected when they connect
        to the next start, from the sites its deploy record names (as after a kill, where the start
        finds the job still active). Recorded before the final status is, so a kill in between still
        leaves the job to the start's own check."""
        sites = deployed_sites(self.server.store.get(job.job_id) or job.meta) | set(deployment.deployed)
        self.server.expect_collects({job.job_id: sites})
        add_error(job.errors, "server", f"{ABANDONED}; {sites_note(sites)}")

    async def _run_job(self, job: RunningJob, deployment: Deployment) -> JobStatus:
        store = self.server.store
        if job.aborting:  # aborted while it was being dispatched: nothing deploys
            return JobStatus.FINISHED_ABORTED
        try:  # nothing runs unless the stored archive is still the one its submitter signed
            tls = self.server.kit.tls
            job.signature = await asyncio.to_thread(verified_signature, store.job_dir(job.job_id), tls.ca,
                                                    job.meta, tls.crl)
        except JobDefinitionError as exc:
            add_error(job.errors, "server", str(exc))
            log.error("job %s: %s", job.job_id, exc)
            return JobStatus.FINISHED_FAILED_TO_RUN
        if job.sites:
            apps = site_apps(job.meta.get("deploy_map", {}), job.sites)
            deployed = await deployment.deploy(store.job_zip(job.job_id), apps, job.stop_waiting)
            job.sites = list(deployed)
            needed = max(int(job.meta.get("min_clients") or 0), 1)
            missing = set(job.meta.get("mandatory_clients") or []) - set(deployed)
            if len(deployed) < needed or missing:
                log.warning("job %s: deployed to %d site(s), needs %d%s", job.job_id, len(deployed), needed,
                            f"; mandatory {sorted(missing)} missing" if missing else "")
                return JobStatus.FINISHED_FAILED_TO_RUN
            server_part = ["server: OK"] if job.app_name else []
            store.write(store.update_meta, job.job_id, job_deploy_detail=[*server_part, *(
                f"{site}: OK" for site in deployed)])
        if not job.app_name:
            return JobStatus.FINISHED_COMPLETED  # nothing deploys to the server
        await asyncio.to_thread(_prepare_workspace, store.job_zip(job.job_id), job.workspace, job.app_name,
                                self.server.kit.job_limits)
        if job.aborting:
            return JobStatus.FINISHED_ABORTED
        return await self._run_controller(job, deployment)

    def _custom_code_allowed(self, meta: dict[str, Any]) -> bool:
        """Job code runs only for a job marked ``byoc`` whose submitter holds the right now (the
        policy may have been tightened since the submit); otherwise the child imports none."""
        if not meta.get("byoc"):
            return False
        submitter = Principal(meta.get("submitter_name", ""), meta.get("submitter_org", ""),
                              meta.get("submitter_role", ""))
        try:
            self.server.policy.require_here(submitter, Right.BYOC)
        except RemoteError:
            return False
        return True

    async def _run_controller(self, job: RunningJob, deployment: Deployment) -> JobStatus:
        (job.workspace / TRANSFER_DIR).mkdir(exist_ok=True)
        timeout = _meta_task_timeout(job.meta)
        job.deployment = deployment
        job.process, job.output = await start_job_process("console.runtime.server_app", [
            "--job-id", job.job_id,
            "--app-dir", str(job.workspace / SERVER_APP_DIR),
            "--workspace", str(job.workspace),
            "--sites", ",".join(job.sites),
            *(["--task-timeout", str(timeout)] if timeout else []),
            *(["--custom-code"] if self._custom_code_allowed(job.meta) else []),
        ], job.workspace, job.marker, self.server.kit.job_process_limits)
        if job.aborting:  # abort arrived while the process was being created
            asyncio.create_task(self._stop_process(job))
        reader = asyncio.create_task(read_events(self.server, job, deployment))
        code = await job_process_ended(job.process, job.marker, reader, f"job {job.job_id} server app", log,
                                       job.output)
        log.info("job %s server app exited with code %s", job.job_id, code)
        if job.forced_status is not None:
            return job.forced_status
        return _EXIT_STATUS.get(code, JobStatus.FINISHED_ABNORMAL)

    async def _archive_workspace(self, job: RunningJob) -> None:
        """The server workspace into the store (``console.server.kept_workspace``); what it left
        out, or that it could not be archived, goes into the job's errors."""
        if not job.workspace.is_dir():
            return
        store = self.server.store
        target = store.workspace_zip(job.job_id)
        if not target.parent.is_dir():  # deleted meanwhile
            return
        try:
            left_out = await asyncio.to_thread(archive_workspace, job.workspace, store.job_zip(job.job_id),
                                               job.app_name, target, self.server.kit.job_limits,
                                               job.meta.get("submitter_name"))
        except OSError as exc:
            log.exception("job %s: could not archive its workspace", job.job_id)
            add_error(job.errors, "server", f"its workspace could not be archived ({exc}); it stays in the "
                                            f"server's folder {job.job_id}/ until delete_job")
            return
        if left_out:
            add_error(job.errors, "server", left_out)

    def abort(self, job_id: str) -> None:
        """Stop the job's process (it ends ABORTED; once its run is over, it keeps the status its run
        ended with) and bound what the job still awaits of its sites: ``abort_wait_seconds``
        (connection_limits, 10 s by default) from the first abort, after which their answers and workspaces not in are cut off (``stop_waiting``).
        So the job is final within that bound, plus the archiving of its server workspace."""
        job = self.jobs.get(job_id)
        if job is None:
            return
        if job.abort_timer is None:
            wait = self.server.kit.connection_limits.abort_wait_seconds
            job.abort_timer = asyncio.get_running_loop().call_later(wait, job.stop_waiting.set)
        if job.ending or job.aborting:
            return
        job.aborting = True
        if job.deployment is not None:
            # Its sites stop with the server app, not after it: a trainer mid-round is told now, and its workspace
            # is collected while the app's process ends (the sites' workspaces are kept, as FLARE keeps them).
            deployed = list(job.deployment.deployed)
            job.sites_told = asyncio.create_task(job.deployment.stop_sites(deployed, abort=True,
                                                                           stop=job.stop_waiting))
        asyncio.create_task(self._stop_process(job))

    async def _stop_process(self, job: RunningJob) -> None:
        # Only the stop: _run_controller's job_process_ended reaps what the process leaves (a second
        # /proc sweep at the same time only slowed both on a loaded machine).
        if job.process is not None and not await stop_child(job.process, b"abort\n", ABORT_GRACE_SECONDS):
            log.warning("job %s did not stop within %.0f s; killed it", job.job_id, ABORT_GRACE_SECONDS)

    async def stop_all(self) -> None:
        """Server shutdown: stop every job process; their jobs end ABANDONED."""
        self.stopping = True
        for job in list(self.jobs.values()):
            if job.process is not None and job.process.returncode is None:
                job.process.kill()
            if job.process is not None:
                await reap_job_processes(job.marker, job.process.pid)
            if job.task is not None:
                job.task.cancel()
        tasks = [job.task for job in self.jobs.values() if job.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _meta_task_timeout(meta: dict[str, Any]) -> float | None:
    """meta.json's ``task_timeout`` in seconds, if it sets a positive number."""
    try:
        value = float(meta.get("task_timeout") or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None
