"""Deleted jobs are kept on record (who deleted which job, when), and the log lines a peer can repeat
at will are summed up per identity, deletes included (session 10's "not done"; session 11, items 1-2).

A real server and site (``flare-console server|site``, stopped also on failure) with two leads of two
orgs flooding clone + abort + delete; the server's real ``Server`` in this process for the line a race
makes (a status change refused on a final job); the real packing for the lines a workspace makes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from pathlib import Path

import pytest
from kept_lines import KeptLines
from shell_helpers import run_console

from console.flare_api import JobNotFound, new_secure_session
from console.log_floods import BURST, FloodSummary
from console.server import deleted_jobs
from console.server.status import JobStatus
from console.server.store import JobStore, Submitter

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, set_connection_limits
from jobs import waiting_for_sites

LEAD_A, LEAD_B, MEMBER = "lead@example.com", "lead@other.org", "member@example.com"
PEOPLE = [{"name": LEAD_A, "type": "admin", "org": "example", "role": "lead"},
          {"name": LEAD_B, "type": "admin", "org": "other", "role": "lead"},
          {"name": MEMBER, "type": "admin", "org": "example", "role": "member"}]


def summed(text: str, marker: str) -> dict[str | None, int]:
    """Lines with ``marker`` per identity a summary names (None: written as they came), counting what each summary
    stands for: every line of the kind accounted for."""
    found: dict[str | None, int] = {}
    for line in text.splitlines():
        if marker not in line:
            continue
        m = re.search(r"(\d+) more line\(s\) like this in the last [\d.]+ s \(a flood, summed up; by ([^)]+)\)", line)
        key = m.group(2) if m else None
        found[key] = found.get(key, 0) + (int(m.group(1)) if m else 1)
    return found


@pytest.mark.timeout(120)
def test_deletes_are_kept_on_record_and_their_lines_summed_per_identity(tmp_path: Path) -> None:
    """Two leads each clone + abort + delete past the burst: the server's "deleted by" lines are summed up
    per deleter, the site's "job ... deleted" per submitter, each summary naming its identity. Every
    delete is kept in the store: get_job_meta of a deleted ID says when and by whom, to those whose view
    covers the job (a member who views only their own jobs hears "no such job" alone), after a restart too;
    deleted_jobs lists them, newest first, as the view covers them."""
    project = make_project(tmp_path, extra=PEOPLE)
    set_connection_limits(project.server_kit, refusal_log_seconds=600)
    policy_file = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_file.read_text())
    policy["permissions"]["member"] = {"view": "n:submitter"}
    policy_file.write_text(json.dumps(policy))
    server, site = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1"))
    cycles = BURST + 3
    deleted: dict[str, list[str]] = {}
    try:
        server.start()
        site.start()
        for lead in (LEAD_A, LEAD_B):
            with new_secure_session(lead, str(project.kit(lead)), timeout=10) as session:
                first = session.submit_job(str(waiting_for_sites(tmp_path / lead.split("@")[1])))  # waits for site-2
                clones = [session.clone_job(first) for _ in range(cycles)]
                for clone in clones:
                    session.abort_job(clone)
                for clone in clones:  # back to back: within a site's 10 s period however loaded the machine
                    session.delete_job(clone)
                deleted[lead] = clones
        gone = deleted[LEAD_B][0]
        with new_secure_session(ADMIN, str(project.admin_kit), timeout=10) as admin:
            with pytest.raises(JobNotFound, match=rf"job {gone} \(needs-sites, submitted by {LEAD_B}\) was deleted on "
                                                  rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d by {LEAD_B} \(other\)"):
                admin.get_job_meta(gone)
            with pytest.raises(JobNotFound, match=rf"was deleted on \S+ \S+ by {LEAD_A}"):
                admin.download_job_result(deleted[LEAD_A][-1][:13])  # a unique prefix too, and any job command
        with new_secure_session(MEMBER, str(project.kit(MEMBER)), timeout=10) as member:
            with pytest.raises(JobNotFound) as hidden:
                member.get_job_meta(gone)
            assert "deleted" not in str(hidden.value) and LEAD_B not in str(hidden.value)
        # The records as a list, newest first, in a batch: the jobs the user's view covers.
        listed = run_console(tmp_path, "--kit", str(project.admin_kit), "--format", "json", "-c",
                             "deleted_jobs -m 3")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [row["job_id"] for row in rows] == deleted[LEAD_B][::-1][:3], rows
        assert {(row["submitter"], row["deleted_by"], row["deleted_by_org"]) for row in rows} == {(LEAD_B, LEAD_B, "other")}
        mine = run_console(tmp_path, "--kit", str(project.kit(MEMBER)), "--format", "json", "-c", "deleted_jobs")
        assert mine.returncode == 0 and json.loads(mine.stdout) == [], mine.stdout + mine.stderr

        # Each period is long enough for the whole flood (a loaded machine's): what is held is summed up as
        # the server and the site stop.
        site.stop()
        server.stop()
        for log_txt, marker in ((project.server_kit / "log.txt", "deleted by "),
                                (project.kit("site-1") / "log.txt", "deleted: its workspace")):
            text = log_txt.read_text()
            assert summed(text, marker) == {None: 2 * BURST, LEAD_A: cycles - BURST, LEAD_B: cycles - BURST}, text

        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit), timeout=10) as admin:
            with pytest.raises(JobNotFound, match=rf"was deleted on \S+ \S+ by {LEAD_B} \(other\)"):
                admin.get_job_meta(gone)
    finally:
        site.stop()
        server.stop()
        server.kill()
        site.kill()


def _job(store: JobStore, tmp_path: Path, who: Submitter) -> str:
    from console.jobdef.packing import zip_job_folder

    job_id = str(uuid.uuid4())
    folder = waiting_for_sites(tmp_path / job_id)
    archive = tmp_path / f"{job_id}.zip"
    zip_job_folder(folder, archive)
    store.create_job(job_id, archive, json.loads((folder / "meta.json").read_text()), "needs-sites", who)
    return job_id


def test_the_record_is_bounded_per_submitter_and_deleter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of deletes pushes out only the flooder's own older records of the same submitter: the
    record of its delete of another's job stays, as do everyone else's."""
    monkeypatch.setattr(deleted_jobs, "KEPT_PER_PAIR", 3)
    a, b = Submitter(LEAD_A, "example", "lead"), Submitter(ADMIN, "example", "project_admin")
    store = JobStore(tmp_path / "store")
    try:
        victims = [_job(store, tmp_path, a) for _ in range(2)]
        store.delete_job(victims[0], b)  # the admin deletes a lead's job...
        own = [_job(store, tmp_path, b) for _ in range(5)]
        for job_id in own:  # ...then floods with its own
            store.delete_job(job_id, b)
        store.delete_job(victims[1], a)
        assert [store.deleted(j) is not None for j in own] == [False, False, True, True, True]
        kept = store.deleted(victims[0])
        assert kept is not None and (kept.deleted_by, kept.submitter_name) == (ADMIN, LEAD_A)
        assert store.deleted(victims[1]).deleted_by == LEAD_A
        assert store.deleted("") is None and store.deleted(str(uuid.uuid4())) is None
    finally:
        store.close()


def test_refused_status_changes_and_left_out_files_are_summed_up_per_submitter(tmp_path: Path) -> None:
    """The two kinds a race or a job's code makes: a status change refused on a job already final (abort_job
    racing its end, again and again with clone + abort), summed up by the job's submitter in the real
    server; "not archiving" lines of a workspace's links out of it, by the job's submitter in the real
    packing, as the server archives a job's workspace and a site packs its own. Each identity's summary
    names it."""
    from console.jobdef.archive import JobLimits
    from console.server.app import Server
    from console.server.kept_workspace import archive_workspace
    from console.site.jobs import SiteJobs
    from console.wire.kit import ServerKit

    project = make_project(tmp_path / "p")
    kept = KeptLines()
    summary = FloodSummary([kept], period=60)
    loggers = [logging.getLogger(name) for name in ("console.server", "console.jobdef.packing")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(summary)
        logger.setLevel(logging.INFO)
    submitters = [Submitter(LEAD_A, "example", "lead"), Submitter(LEAD_B, "other", "lead")]
    try:
        async def refused() -> None:
            server = Server(ServerKit.load(project.server_kit))
            try:
                for who in submitters:
                    job_id = _job(server.store, tmp_path, who)
                    assert await server.change_status(job_id, JobStatus.FINISHED_ABORTED) is not None
                    for _ in range(BURST + 2):
                        assert await server.change_status(job_id, JobStatus.FINISHED_COMPLETED) is None
            finally:
                server.store.close()
                server.audit.close()

        asyncio.run(refused())
        outside = tmp_path / "secret.txt"
        outside.write_text("not the job's")
        site = SiteJobs("site-1", tmp_path / "site")

        def workspace(folder: Path) -> Path:  # what job code left: its log, and a link out of its workspace
            folder.mkdir(parents=True)
            (folder / "log.txt").write_text("trained\n")
            os.symlink(outside, folder / "leak.txt")
            return folder

        for who in submitters:
            site_job = str(uuid.uuid4())
            workspace(site.workspace(site_job))
            for n in range(BURST // 2 + 1):  # the server archiving its workspaces, a site packing its one
                server_job = workspace(tmp_path / "server" / f"{who.name}-{n}")
                archive_workspace(server_job, tmp_path / "no-job.zip", "", tmp_path / f"{who.name}-{n}.zip",
                                  JobLimits(), who.name)
                site.pack_workspace(site_job, tmp_path / f"{who.name}-{n}-site.zip", submitter=who.name)
    finally:
        summary.close()
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(summary)
            logger.setLevel(level)
    text = "\n".join(kept.lines)
    for marker in ("refused, the job is already final", "not archiving"):
        assert summed(text, marker) == {None: 2 * BURST, LEAD_A: 2, LEAD_B: 2}, text
