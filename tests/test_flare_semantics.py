"""FLARE 2.9's semantics on our real server: listing, commands on jobs by state, long logs.

Each expectation is FLARE's (nvflare/private/fed/server/job_cmds.py, fuel/flare_api/flare_api.py):
the values a script sees, the exception class of every refusal, and nothing written by a refusal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.flare_api import InvalidArgumentError, JobNotDone, JobNotRunning

from conftest import wait_until
from jobs import hello_server, waiting_for_sites


@pytest.mark.timeout(60)
def test_list_jobs_limit_keeps_the_most_recent(session, tmp_path: Path) -> None:
    ids = [session.submit_job(str(waiting_for_sites(tmp_path / str(i), name=name)))
           for i, name in enumerate(["Alpha", "beta", "alpine"])]
    listed = lambda **kw: [row["job_id"] for row in session.list_jobs(**kw)]  # noqa: E731
    assert listed() == ids
    assert listed(limit=1) == [ids[2]]  # list_jobs(limit=1)[0] is "my last job"
    assert listed(limit=2) == ids[1:]  # the most recent, in submit order
    assert listed(limit=2, reverse=True) == [ids[2], ids[1]]
    assert listed(name_prefix="AL") == [ids[0], ids[2]]  # FLARE matches prefixes case-insensitively
    assert listed(name_prefix="al", limit=1) == [ids[2]]
    assert listed(id_prefix=ids[1][:6].upper()) == [ids[1]]
    with pytest.raises(InvalidArgumentError):
        session.list_jobs(limit=-1)


@pytest.mark.timeout(90)
def test_commands_on_jobs_in_each_state(session, tmp_path: Path) -> None:
    waiting = session.submit_job(str(waiting_for_sites(tmp_path / "w")))
    running = session.submit_job(str(hello_server(tmp_path, name="long", steps=400, step_seconds=0.1)))
    wait_until(lambda: session.get_job_status(running) == "RUNNING", 30, "the server-only job to run")
    dest = tmp_path / "downloads" / "here"
    for job_id, status in ((waiting, "SUBMITTED"), (running, "RUNNING")):
        assert session.get_job_status(job_id) == status
        with pytest.raises(JobNotDone, match="is not done"):  # FLARE: only a finished job downloads
            session.download_job_result(job_id, str(dest))
        assert not (tmp_path / "downloads").exists()  # a refusal writes nothing
    with pytest.raises(JobNotRunning):
        session.show_stats(waiting, "server")
    with pytest.raises(JobNotDone):
        session.delete_job(running)
    assert session.get_job_status(running) == "RUNNING"  # the refusal changed nothing

    assert session.abort_job(waiting) == f"Aborted the job {waiting} before running it."
    assert session.abort_job(running) == "Abort signal has been sent to the server app."
    wait_until(lambda: session.get_job_status(running).startswith("FINISHED:"), 30, "the abort")
    for job_id in (waiting, running):
        assert session.get_job_status(job_id) == "FINISHED:ABORTED"
        assert session.abort_job(job_id) == f"Job for {job_id} is already completed."
        with pytest.raises(JobNotRunning):
            session.show_errors(job_id, "server")
        assert Path(session.download_job_result(job_id, str(dest))).is_dir()
    session.delete_job(waiting)
    assert [row["job_id"] for row in session.list_jobs()] == [running]
