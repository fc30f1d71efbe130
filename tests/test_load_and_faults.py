"""Load (many sessions, concurrent submits) and faults (the server killed mid-transfer)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from console.api.load import run_load
from console.flare_api import InternalError, NoConnection, new_secure_session

from conftest import ADMIN, EXAMPLES, Project, ServerProcess, make_project, set_connection_limits, wait_until
from jobs import hello_server

LOAD_SESSIONS = 50


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The suite's project with room for the load test's sessions, all of one admin (the default
    per-identity cap, 16, is for people, not load generators)."""
    made = make_project(tmp_path)
    set_connection_limits(made.server_kit, max_per_identity=LOAD_SESSIONS + 4)
    return made


def test_many_sessions_and_concurrent_submits_lose_nothing(server, project, session) -> None:
    report = asyncio.run(run_load(ADMIN, project.admin_kit, sessions=LOAD_SESSIONS, seconds=2.0, submitters=10,
                                  job_folder=EXAMPLES / "hello-server"))
    assert report.failures == []
    assert report.requests > 100 and report.submits == 10
    stored = {row["job_id"] for row in session.list_jobs()}
    assert set(report.submitted_ids) == stored  # every acknowledged submit is there, nothing else


def _integrity(server_kit: Path) -> str:
    db = sqlite3.connect(server_kit / "store" / "jobs.db")
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def test_kill_9_during_a_submit_keeps_the_store_sound(server, project, session, tmp_path: Path) -> None:
    done = session.submit_job(str(hello_server(tmp_path, steps=1, step_seconds=0.05)))
    big = hello_server(tmp_path, name="big")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(150 << 20))
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            with new_secure_session(ADMIN, str(project.admin_kit)) as sess:
                sess.submit_job(str(big))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=submit)
    thread.start()
    incoming = project.server_kit / "store" / "incoming"
    wait_until(lambda: any(p.stat().st_size > 0 for p in incoming.glob("*.zip")), 60, "the upload to begin")
    server.kill()
    thread.join(60)
    assert errors and isinstance(errors[0], NoConnection)  # the submitter is told it did not land
    server.start()
    assert [row["job_id"] for row in session.list_jobs()] == [done]  # the acknowledged job, and nothing half
    assert list(incoming.iterdir()) == []
    assert _integrity(project.server_kit) == "ok"


def test_kill_9_during_a_download(server, project, session, tmp_path: Path) -> None:
    big = hello_server(tmp_path, name="big", steps=1, step_seconds=0.05)
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(120 << 20))
    job_id = session.submit_job(str(big))
    session.wait_for_job(job_id, timeout=60)
    dest = tmp_path / "dl"
    outcome: list[object] = []

    def download() -> None:
        try:
            with new_secure_session(ADMIN, str(project.admin_kit)) as sess:
                outcome.append(sess.download_job_result(job_id, str(dest)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=download)
    thread.start()
    wait_until(lambda: any(p.is_file() and p.stat().st_size > 0 for p in dest.rglob("result.zip")), 60,
               "the download to begin")
    server.kill()
    thread.join(60)
    if not isinstance(outcome[0], NoConnection):  # it may have finished first on a fast machine
        pytest.skip("the download finished before the kill")
    assert not (dest / job_id).exists()  # no half result left where the whole one belongs
    server.start()
    assert session.get_job_status(job_id) == "FINISHED:COMPLETED"
    assert Path(session.download_job_result(job_id, str(dest))).is_dir()
    assert _integrity(project.server_kit) == "ok"


def test_disk_full_during_upload_stores_nothing(project, tmp_path: Path) -> None:
    store = project.server_kit / "store"
    store.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(store)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        big = hello_server(tmp_path, name="big")
        (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(12 << 20))
        with new_secure_session(ADMIN, str(project.admin_kit)) as sess:
            with pytest.raises(InternalError, match="disk is full; nothing was stored"):
                sess.submit_job(str(big))
            assert sess.list_jobs() == []
            assert list((store / "incoming").iterdir()) == []
            assert sess.submit_job(str(hello_server(tmp_path)))  # space is back: the next submit lands
        assert _integrity(project.server_kit) == "ok"
    finally:
        server.stop()
        subprocess.run(["umount", str(store)], check=False)


METRICS_FLOOD = '''
def run(ctx):
    blob = "x" * 1000  # 500 rounds of it fit the job's 2 MiB of recorded metrics
    for i in range(1, 1501):
        ctx.progress(round=i, aggregated={"loss": 1.0 / i, "blob": blob})
'''


@pytest.mark.timeout(120)
def test_job_code_flooding_round_metrics_holds_up_no_other_job(server, session, tmp_path: Path) -> None:
    # Each round's metrics go into the job's meta on the store's one writer thread. Job code sending
    # 1500 rounds of 30 KB at once queued a whole-meta write each (up to 15 MB apiece): other jobs'
    # status changes waited behind them for minutes and the server grew to 1 GB (security test).
    # (A round now keeps at most 16 KiB, a job 2 MiB: tests/test_job_metrics_limits.py.)
    flood = hello_server(tmp_path, name="metrics-flood")
    (flood / "app" / "custom" / "hello.py").write_text(METRICS_FLOOD)
    flooding = session.submit_job(str(flood))
    wait_until(lambda: session.get_job_status(flooding) != "SUBMITTED", 30, "the flood to start")
    other = session.submit_job(str(hello_server(tmp_path, name="other", steps=1, step_seconds=0.1)))
    assert session.wait_for_job(other, timeout=30)["status"] == "FINISHED:COMPLETED"
    meta = session.wait_for_job(flooding, timeout=30)
    assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
    rounds = [entry["round"] for entry in meta["round_metrics"]]
    assert rounds == list(range(1001, 1501)), (len(rounds), rounds[:3], rounds[-3:])  # the last 500, in order
