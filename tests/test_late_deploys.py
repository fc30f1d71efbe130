"""A site never runs or keeps a job the server has ended or no longer has (security finding 1:
``delete_job`` racing a dispatch left client apps running for ever, and their workspaces, on every
site of the job, other orgs' too).

- The server: a run that fails after its deploy (the tester's case: the job deleted meanwhile, its
  ``job.zip`` gone) tells the sites that took it to stop it; a delete and the scheduler's DISPATCHED
  are one before the other, never both (the store checks in the delete's transaction).
- A site: a deploy of a job the server ended, aborted or deleted is never started; one the server
  stops while it starts, or whose link goes (the server counts the site out), leaves nothing
  running and no workspace; ``delete_workspace`` of a job still running there stops it first.

The site's own rules are driven on a real ``SiteJobs`` with real client apps, held between their
start and their "ready" (their executor waits for a file), so each crossing is forced, not timed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from console.jobdef.packing import zip_job_folder
from console.server.status import JobStatus
from console.server.store import JobStore, Submitter
from console.site.jobs import SiteJobs
from console.wire.errors import RemoteError

from conftest import wait_until
from jobs import numpy_job

#: A trainer whose import waits for a file: its client app is started, never "ready", until then.
HELD_TRAINER = '''
import os
import select
import sys
from pathlib import Path

GATE = Path({gate!r})
while not GATE.exists():
    if select.select([sys.stdin], [], [], 0.02)[0]:  # told to stop while it waits (no 3 s grace then a kill)
        os._exit(0)


def train(model, ctx):
    return model
'''


def _held_job(root: Path) -> tuple[Path, Path]:
    """(the job's archive, as a site receives it; the file that lets its client apps get ready)."""
    folder = numpy_job(root, name="held", rounds=1)
    gate = root / "gate"
    (folder / "app" / "custom" / "trainer.py").write_text(HELD_TRAINER.format(gate=str(gate)))
    archive = root / "held.zip"
    zip_job_folder(folder, archive)
    return archive, gate


def _site_jobs(root: Path) -> SiteJobs:
    (root / "site").mkdir(exist_ok=True)
    return SiteJobs("site-1", root / "site")


def _pids_of(jobs: SiteJobs, job_id: str) -> int | None:
    job = jobs.jobs.get(job_id)
    return job.process.pid if job is not None and job.process is not None else None


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.timeout(60)
def test_a_late_deploy_of_a_job_the_server_ended_or_deleted_leaves_nothing_on_the_site(tmp_path: Path) -> None:
    archive, _ = _held_job(tmp_path)

    async def scenario() -> None:
        jobs = _site_jobs(tmp_path)
        # Told to end, to abort, or to delete it before its deploy landed: never started, nothing unpacked.
        for tell in ("end", "abort", "delete"):
            job_id = str(uuid.uuid4())
            if tell == "delete":
                await asyncio.to_thread(jobs.delete_workspace, job_id)
            else:
                await jobs.stop(job_id, abort=tell == "abort")
            with pytest.raises(RemoteError, match="the server ended job .* while it was being deployed here"):
                await jobs.deploy(job_id, "held", "app", archive, custom_allowed=True)
            assert job_id not in jobs.jobs and not (jobs.root / job_id).exists(), tell

        # Stopped while its client app starts (the deploy not answered yet): the deploy fails, the
        # app is gone, and so is its workspace.
        job_id = str(uuid.uuid4())
        deploying = asyncio.create_task(jobs.deploy(job_id, "held", "app", archive, custom_allowed=True))
        while _pids_of(jobs, job_id) is None:
            assert not deploying.done(), deploying
            await asyncio.sleep(0.02)
        pid = _pids_of(jobs, job_id)
        await jobs.stop(job_id, abort=True)
        with pytest.raises(RemoteError, match="while it was being deployed"):
            await deploying
        assert pid is not None and _gone(pid) and not (jobs.root / job_id).exists()

        # Its link gone while the app starts (the server counts the site out of the job): the same.
        job_id = str(uuid.uuid4())
        deploying = asyncio.create_task(jobs.deploy(job_id, "held", "app", archive, custom_allowed=True))
        while _pids_of(jobs, job_id) is None:
            await asyncio.sleep(0.02)
        pid = _pids_of(jobs, job_id)
        deploying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await deploying
        assert pid is not None and _gone(pid) and job_id not in jobs.jobs and not (jobs.root / job_id).exists()

    asyncio.run(scenario())


def test_a_delete_and_the_dispatch_of_a_job_never_both_happen(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store")
    folder = numpy_job(tmp_path, name="raced", rounds=1)
    job_ids, who = [], Submitter("admin@example.com", "example", "project_admin")
    for _ in range(2):
        job_id = str(uuid.uuid4())
        archive = tmp_path / f"{job_id}.zip"  # (the store takes it in)
        zip_job_folder(folder, archive)
        store.create_job(job_id, archive, json.loads((folder / "meta.json").read_text()), "raced", who)
        job_ids.append(job_id)
    dispatched, deleted = job_ids
    # The scheduler's DISPATCHED first: the delete is refused (the handler says to abort it first).
    assert store.set_status(dispatched, JobStatus.DISPATCHED) is not None
    assert store.delete_job(dispatched, who) is None
    assert store.get(dispatched)["status"] == JobStatus.DISPATCHED.value and store.job_zip(dispatched).is_file()
    # The delete first: the DISPATCHED is refused, so the runner never starts it.
    assert store.delete_job(deleted, who) == 0
    assert store.set_status(deleted, JobStatus.DISPATCHED) is None and store.get(deleted) is None
    store.close()


@pytest.mark.timeout(120)
def test_a_run_that_fails_after_its_deploy_stops_the_job_on_its_sites(server, project, session, sites,
                                                                     tmp_path: Path) -> None:
    """The tester's case: a job deleted while it was dispatched failed on the server (its job.zip
    gone) after its sites had taken it, and they ran it for ever. Here the server's workspace for
    the job cannot be made (a file is in its way), which fails the run at the same point."""
    sites["site-2"].stop()
    wait_until(lambda: {c.name for c in session.get_connected_client_list()} == {"site-1"}, 30,
               "the server to see site-2 go")
    job_id = session.submit_job(str(numpy_job(tmp_path, name="fails-after-deploy", rounds=1)))
    (project.server_kit / job_id).write_text("in the way of the job's server workspace")
    sites["site-2"].start()  # the job is placed, deployed to both sites, then fails on the server
    meta = session.wait_for_job(job_id, timeout=60)
    assert meta["status"] == JobStatus.FINISHED_FAILED_TO_RUN.value, meta
    assert meta.get("job_deploy_detail"), meta  # it had been deployed

    def running_on_sites() -> list[dict]:
        rows = session.check_status("client")["client_status"]
        return [row for row in rows if row.get("job_id") == job_id]

    wait_until(lambda: not running_on_sites(), 30, "the sites to stop the job")
    for name in ("site-1", "site-2"):
        sites[name].wait_for_line(f"job {job_id} aborted", 20)
    session.delete_job(job_id)
    wait_until(lambda: not any((project.kit(name) / job_id).exists() for name in ("site-1", "site-2")), 30,
               "the sites to remove the deleted job's workspaces")
