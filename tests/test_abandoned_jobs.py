"""A server killed (kill -9), or stopped normally (SIGTERM), while a job runs on two sites: at its restart the job is
FINISHED:ABANDONED; a download at once waits for its server workspace's archive (never a result
with workspace/ silently missing, nor a site zip a kill cut short); the site that comes back is asked for its workspace as for
a finished job, and job_errors say so; the site that never comes back holds up nothing.
Real server, sites and job processes on loopback."""

from __future__ import annotations

import json
import os
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from console.flare_api import JobNotDone
from console.server.abandoned import COLLECTED, PENDING_FILE
from console.wire.exceptions import InvalidTarget

from conftest import HostileSiteProcess, SiteProcess, stop_together, wait_until
from jobs import numpy_job


def _download_when_archived(session, job_id: str, dest: Path) -> Path | None:
    try:
        return Path(session.download_job_result(job_id, str(dest)))
    except JobNotDone:
        return None


@pytest.mark.timeout(150)
def test_an_abandoned_jobs_workspaces_are_collected_from_the_sites_that_come_back(
        server, project, session, sites, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=200, sleep=0.2)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 30, "the job to run")
    site_logs = [project.kit(name) / job_id / "log.txt" for name in ("site-1", "site-2")]
    wait_until(lambda: all(log.is_file() and "round" in log.read_text() for log in site_logs), 30,
               "both sites to train")
    # A big server workspace: archiving it at start takes a moment, in which a download comes.
    (project.server_kit / job_id / "big.bin").write_bytes(os.urandom(48 << 20))
    server.kill()
    killed_at = time.time()
    sites["site-2"].kill()  # site-2 never comes back
    # What a kill while the job's results were written leaves: a site's zip cut short, a temporary file.
    stored = project.server_kit / "store" / "jobs" / job_id
    (stored / "sites").mkdir(exist_ok=True)
    (stored / "sites" / "site-2.zip").write_bytes(b"PK\x03\x04 cut short")
    (stored / ".workspace.zip.k2n1x0.part").write_bytes(b"PK")

    server.start()
    # At once: whole (it waited for the archive), or, on a machine too slow for the wait, a plain
    # "retry" (JobNotDone) and whole a moment later; never without its workspace.
    try:
        result = Path(session.download_job_result(job_id, str(tmp_path / "first")))
    except JobNotDone as exc:
        assert "still being archived after the server's restart; download it again" in str(exc)
        result = wait_until(lambda: _download_when_archived(session, job_id, tmp_path / "first"), 60,
                            "the archive to be done")
    assert (result / "workspace" / "big.bin").stat().st_size == 48 << 20, sorted(result.rglob("*"))
    assert "round" in (result / "workspace" / "log.txt").read_text()
    assert not (result / "sites" / "site-2").exists()  # never a half site zip as its workspace
    assert not (stored / ".workspace.zip.k2n1x0.part").exists()
    meta = session.get_job_meta(job_id)
    assert meta["status"] == "FINISHED:ABANDONED"

    errors = wait_until(lambda: COLLECTED in str(e := session.get_job_meta(job_id).get("job_errors", {}))
                        and e, 40, "site-1's workspace to be collected")
    assert any("site-1, site-2" in line and "collected as each connects again" in line
               for line in errors["server"]), errors
    assert errors["site-1"][-1] == COLLECTED, errors
    # Each note with its time: the abandonment's is its server log's last line (before the kill), not the restart.
    times = session.get_job_meta(job_id)["job_error_times"]
    assert datetime.fromisoformat(times["server"][0]).timestamp() <= killed_at < datetime.fromisoformat(
        times["site-1"][-1]).timestamp(), times
    assert "site-2" not in errors, errors
    # Stopped on site-1 first, so its workspace holds the whole log.
    wait_until(lambda: f"job {job_id} aborted" in sites["site-1"].stderr, 20, "site-1 to stop the job")
    result = Path(session.download_job_result(job_id, str(tmp_path / "second")))
    assert "round" in (result / "sites" / "site-1" / "log.txt").read_text()
    assert not (result / "sites" / "site-2").exists()
    assert sorted(p.name for p in (stored / "sites").iterdir()) == ["site-1.zip"]  # no half-written part left
    # What is still to collect outlives a restart; deleting the job forgets it.
    assert json.loads((project.server_kit / "store" / PENDING_FILE).read_text()) == {"site-2": [job_id]}
    session.delete_job(job_id)
    assert json.loads((project.server_kit / "store" / PENDING_FILE).read_text()) == {}


@pytest.mark.timeout(120)
def test_a_server_stopped_normally_collects_its_running_jobs_site_workspaces_at_the_next_start(
        server, project, session, sites, tmp_path: Path) -> None:
    # SIGTERM (a systemd stop, Ctrl-C): the stopping server itself ends the job ABANDONED, so the next
    # start finds no active job; what is still to collect must come from the stop, as after a kill.
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=200, sleep=0.2)))
    site_logs = [project.kit(name) / job_id / "log.txt" for name in ("site-1", "site-2")]
    wait_until(lambda: all(log.is_file() and "round" in log.read_text() for log in site_logs), 40,
               "both sites to train")
    server.stop()
    assert json.loads((project.server_kit / "store" / PENDING_FILE).read_text()) == {
        "site-1": [job_id], "site-2": [job_id]}
    server.start()
    errors = wait_until(lambda: all(COLLECTED in str((e := session.get_job_meta(job_id).get("job_errors", {}))
                                                     .get(site)) for site in ("site-1", "site-2")) and e,
                        60, "both sites' workspaces to be collected")
    assert session.get_job_meta(job_id)["status"] == "FINISHED:ABANDONED"
    assert any("site-1, site-2" in line and "collected as each connects again" in line
               for line in errors["server"]), errors
    result = Path(session.download_job_result(job_id, str(tmp_path / "result")))
    for site in ("site-1", "site-2"):
        assert "round" in (result / "sites" / site / "log.txt").read_text()
    assert json.loads((project.server_kit / "store" / PENDING_FILE).read_text()) == {}


def test_a_download_while_the_archive_takes_too_long_says_so_and_to_retry(tmp_path: Path) -> None:
    import asyncio
    from types import SimpleNamespace

    from console.server.abandoned import AbandonedJobs
    from console.server.store import JobStore
    from console.wire.errors import RemoteError

    store = JobStore(tmp_path / "store")
    try:
        async def scenario() -> None:
            jobs = AbandonedJobs(SimpleNamespace(store=store, kit=None))
            jobs.archiving(["slow", "quick"])
            waiting = asyncio.ensure_future(jobs.wait_archived("quick", timeout=30))
            await asyncio.sleep(0)
            jobs.archived("quick")
            await asyncio.wait_for(waiting, 5)  # released as its archive is done, not at the deadline
            with pytest.raises(RemoteError, match="still being archived after the server's restart; download it "
                                                  "again in a moment"):
                await jobs.wait_archived("slow", timeout=0.05)
            jobs.all_archived()
            await jobs.wait_archived("slow", timeout=0.05)
            await jobs.wait_archived("never-archived", timeout=0.05)

        asyncio.run(scenario())
    finally:
        store.close()


@pytest.mark.timeout(150)
def test_a_site_no_record_names_gets_nothing_of_an_abandoned_job_it_claims(server, project, session,
                                                                           tmp_path: Path) -> None:
    """Security finding 3: a site of another org (here site-2, never in the job's deploy_map: the
    tester's hostile site-b2 with its own kit) claimed at login that it still ran an abandoned job,
    and its made-up workspace went into that job's result. What a site says is no record: only
    the sites the job's deploy_map or deploy record names are collected from; a claimant's word is one
    line in the log (its claim of a job never sent to it is not acted on: session 12's made-up claims)."""
    folder = numpy_job(tmp_path, name="site-1-only", rounds=200, sleep=0.2, min_clients=1)
    meta = json.loads((folder / "meta.json").read_text())
    meta["deploy_map"] = {"app": ["server", "site-1"]}
    (folder / "meta.json").write_text(json.dumps(meta))
    planted = tmp_path / "planted.zip"
    with zipfile.ZipFile(planted, "w") as archive:
        archive.writestr("PLANTED_BY_SITE_2.txt", "never ran this job\n")
    replies = tmp_path / "replies.json"
    site_1 = SiteProcess(project.kit("site-1"))
    hostile = HostileSiteProcess(project.kit("site-2"), HOSTILE_REPLIES=str(replies), HOSTILE_WORKSPACE=str(planted))
    try:
        site_1.start()
        job_id = session.submit_job(str(folder))
        wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 30, "the job to run")
        server.kill()
        server.start()
        claimed = [{"job_id": job_id, "app_name": "app", "status": "started"}]
        replies.write_text(json.dumps({"login": {"site": "site-2", "org": "example", "features": [], "jobs": claimed},
                                       "status": {"site": "site-2", "jobs": claimed}}))
        hostile.start()
        # Its claim is one line, and costs nothing more: the job never went to site-2 (session 12).
        server.wait_for_line(f"site site-2 said at login that it runs 1 job(s) the server has no record of "
                             f"sending it ({job_id})", 30)
        errors = wait_until(lambda: COLLECTED in str(e := session.get_job_meta(job_id).get("job_errors", {}))
                            and e, 40, "site-1's workspace to be collected")
        assert "site-2" not in errors, errors
        stored = project.server_kit / "store" / "jobs" / job_id / "sites"
        assert sorted(p.name for p in stored.iterdir()) == ["site-1.zip"]
        result = Path(session.download_job_result(job_id, str(tmp_path / "dl")))
        assert not (result / "sites" / "site-2").exists()
        assert not list(result.rglob("PLANTED_BY_SITE_2.txt"))
        # Nor is its word that it runs the job (check_status, and so top's rows).
        assert session.check_status("client", ["site-2"])["client_status"] == [
            {"client_name": "site-2", "status": "no_jobs"}]
        # Nor is its log of the job: asked of a site the job never went to, the answer is refused, as follow's.
        with pytest.raises(InvalidTarget, match=r"site-2 is not a target of job .*one of its sites \(site-1\)"):
            session.get_job_logs(job_id, target="site-2")
        assert "site-1" in session.get_job_logs(job_id, target="site-1", tail_lines=1)["logs"]
    finally:
        stop_together([site_1, hostile])
