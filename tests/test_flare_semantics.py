"""FLARE 2.9's semantics on our real server: listing, commands on jobs by state, long logs.

Each expectation is FLARE's (nvflare/private/fed/server/job_cmds.py, fuel/flare_api/flare_api.py):
the values a script sees, the exception class of every refusal, and nothing written by a refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.flare_api import InvalidArgumentError, JobNotDone, JobNotFound, JobNotRunning, NoClientsAvailable
from console.runtime.target_commands import MAX_LOG_BYTES, TargetCommandError, read_job_log

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
    with pytest.raises(JobNotDone, match=rf"^job {running} is still running; abort it before deleting it "
                                         rf"\(abort_job {running}\), or wait until it ends$"):  # FLARE's words first
        session.delete_job(running)
    assert session.get_job_status(running) == "RUNNING"  # the refusal changed nothing

    assert session.abort_job(waiting) == f"Aborted the job {waiting} before running it."
    assert session.abort_job(running) == "Abort signal has been sent to the server app."
    wait_until(lambda: session.get_job_status(running).startswith("FINISHED:"), 30, "the abort")
    for job_id in (waiting, running):
        assert session.get_job_status(job_id) == "FINISHED:ABORTED"
        # FLARE 2.9's words first (a script may match them), then the status it really ended with
        assert session.abort_job(job_id) == f"Job for {job_id} is already completed."  # FLARE's words, whole
        with pytest.raises(JobNotRunning):
            session.show_errors(job_id, "server")
        assert Path(session.download_job_result(job_id, str(dest))).is_dir()
    session.delete_job(waiting)
    assert [row["job_id"] for row in session.list_jobs()] == [running]
    # FLARE's words first, then what to do: for a full ID and for a prefix matching no job alike
    for unknown in ("0123abcd-0000-4000-8000-000000000000", "0123abcd"):
        with pytest.raises(JobNotFound, match=rf"^no such job: {unknown}; list_jobs shows your jobs$"):
            session.get_job_meta(unknown)
    # No site is connected here: a stop of every connected site says so (it asked "are you sure?" of none)
    for command in (session.restart, session.shutdown):
        with pytest.raises(NoClientsAvailable, match=r"client was refused: no site is connected, so there is none "
                                                      r"to (restart|shutdown) \(check_status server lists"):
            command("client")


def _log(lines: int) -> str:
    return "".join(f"{i:07d} {'step done' if i % 1000 == 0 else 'working'} {'.' * 60}\n" for i in range(lines))


def test_log_reader_keeps_the_end(tmp_path: Path) -> None:
    (tmp_path / "job").mkdir()
    text = _log(300)
    (tmp_path / "job" / "log.txt").write_text(text)
    whole = read_job_log(tmp_path, "job/log.txt", limit=len(text))
    assert whole == text  # fits: no marker
    cut = read_job_log(tmp_path, "job/log.txt", limit=1000)
    marker, rest = cut.split("\n", 1)
    assert rest == text[-len(rest):] and rest.startswith("0000") and len(rest) <= 1000  # whole lines only
    assert marker == f"... output truncated to last {len(rest)} bytes ({len(text) - len(rest)} earlier bytes cut) ..."
    assert read_job_log(tmp_path, "job/log.txt", tail_lines=2) == "".join(text.splitlines(True)[-2:])
    assert read_job_log(tmp_path, "job/log.txt", tail_lines=0) == ""
    assert read_job_log(tmp_path, "job/log.txt", grep_text="0000299") == text.splitlines(True)[-1]
    assert read_job_log(tmp_path, "job/log.txt", tail_lines=5, grep_text="0000001") == ""  # tail, then grep
    assert read_job_log(tmp_path, "job/nope.txt") is None
    with pytest.raises(TargetCommandError, match="outside the workspace"):
        read_job_log(tmp_path, "../x")


@pytest.mark.timeout(90)
def test_long_logs_come_back_as_their_newest_bytes(session, sites, project, tmp_path: Path) -> None:
    folder = waiting_for_sites(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "deploy_map": {"app": ["server", "site-1", "site-2", "site-9"]},
                                                  "min_clients": 1, "mandatory_clients": ["site-9"]}))
    job_id = session.submit_job(str(folder))  # waits for site-9, which never comes: nothing else writes its logs
    text = _log(90_000)  # 6.4 MB: more than FLARE's 5 MiB
    last_line = text.splitlines(True)[-1]
    for root in (project.server_kit, project.kit("site-1")):
        (root / job_id).mkdir(exist_ok=True)
        (root / job_id / "log.txt").write_text(text)
    for target in ("server", "site-1"):
        log = session.get_job_logs(job_id, target=target)["logs"][target]
        assert log.startswith("... output truncated to last ") and log.endswith(last_line)
        kept = log.split("\n", 1)[1]
        assert text.endswith(kept) and len(kept.encode()) <= MAX_LOG_BYTES and kept[:7].isdigit()
        assert session.get_job_logs(job_id, target=target, tail_lines=3)["logs"][target] == \
            "".join(text.splitlines(True)[-3:])
        hits = session.get_job_logs(job_id, target=target, grep_pattern="step done")["logs"][target]
        assert hits.splitlines()[-1] == "0089000 step done " + "." * 60  # the last match, whole
        assert len(hits.splitlines()) == 90  # over the whole log, not only its last 5 MiB
    everyone = session.get_job_logs(job_id, target="@all", tail_lines=1)  # FLARE's "all"/"@ALL": the job's
    last = text.splitlines(True)[-1]
    assert everyone == {"logs": {"server": last, "site-1": last},  # server and deploy_map sites
                        "unavailable": {"site-2": "site-2 log not available for this job",
                                        "site-9": "site-9 is not connected"}}
    assert session.get_job_logs(job_id, target="site-2", log_file_name="missing_log.txt") == {
        "logs": {}, "unavailable": {"site-2": "site-2 log not available for this job"}}
    with pytest.raises(ValueError, match="tail_lines must be greater than or equal to 0"):
        session.get_job_logs(job_id, tail_lines=-1)
