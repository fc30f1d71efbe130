"""The FLARE API against a real server over real mutual TLS."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.flare_api import (
    InvalidArgumentError,
    InvalidJobDefinition,
    JobNotDone,
    JobNotFound,
    MonitorReturnCode,
    Session,
    SessionClosed,
    SystemInfo,
    basic_cb_with_print,
    new_secure_session,
)

from conftest import ADMIN, EXAMPLES, Served, wait_until
from jobs import hello_server, waiting_for_sites

LIST_ROW_KEYS = {"job_id", "job_name", "status", "submit_time", "duration", "study"}
META_KEYS = {
    "job_id", "name", "status", "submit_time", "submit_time_iso", "start_time", "duration", "job_folder_name",
    "deploy_map", "min_clients", "resource_spec", "submitter_name", "submitter_org", "submitter_role",
    "study", "data_storage_format",
}


@pytest.fixture
def shared_session(served: Served) -> Iterator[object]:
    """A session of its own on the module's shared server (conftest ``served``), for the tests that
    only look at their own jobs; those that assert the whole store (empty, or exactly theirs), close
    the session or write the database start their own server (``session``)."""
    with new_secure_session(ADMIN, str(served.project.admin_kit), timeout=10) as sess:
        yield sess


def wait_status(sess, job_id: str, status: str, timeout: float = 20.0) -> dict:
    return wait_until(lambda: (m := sess.get_job_meta(job_id))["status"] == status and m, timeout,
                      f"job {job_id} to reach {status}")


def test_hello_server_runs_to_completion(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(EXAMPLES / "hello-server"))
    assert session.monitor_job(job_id, poll_interval=0.5) is MonitorReturnCode.JOB_FINISHED
    meta = session.get_job_meta(job_id)
    assert meta["status"] == "FINISHED:COMPLETED"
    assert META_KEYS <= set(meta)
    assert meta["submitter_name"] == ADMIN and meta["submitter_role"] == "project_admin"
    assert meta["job_folder_name"] == "hello-server"
    assert meta["duration"] != "N/A" and meta["start_time"]
    assert session.get_job_status(job_id) == "FINISHED:COMPLETED"

    result = Path(session.download_job_result(job_id, str(tmp_path / "dl")))
    assert result == tmp_path / "dl" / job_id
    assert (result / "meta.json").is_file()
    assert (result / "job" / "meta.json").is_file()
    assert '"steps_done": 3' in (result / "workspace" / "result.json").read_text()
    assert "step" in (result / "workspace" / "log.txt").read_text()
    # Default destination: the kit's download dir.
    default = Path(session.download_job_result(job_id[:8]))
    assert default.parent == Path(session.download_dir) and (default / "workspace" / "result.json").is_file()


def test_failing_app_ends_with_execution_exception(shared_session) -> None:
    session = shared_session
    job_id = session.submit_job(str(EXAMPLES / "hello-server-fail"))
    code, meta = session.monitor_job_and_return_job_meta(job_id, poll_interval=0.5)
    assert code is MonitorReturnCode.JOB_FINISHED
    assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION"


def test_monitor_reacts_to_pushed_status_not_the_poll(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(hello_server(tmp_path, steps=1, step_seconds=0.1)))
    seen: list[str] = []

    def record(sess, jid, meta, *args, **kwargs) -> bool:
        seen.append(meta["status"])
        return True

    started = time.monotonic()
    code = session.monitor_job(job_id, poll_interval=120, cb=record)
    assert code is MonitorReturnCode.JOB_FINISHED
    assert time.monotonic() - started < 30, "monitor waited for the poll interval instead of the push"
    assert seen[-1] == "FINISHED:COMPLETED"


def test_monitor_timeout_and_callback_end(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    assert session.monitor_job(job_id, timeout=0.3, poll_interval=0.1) is MonitorReturnCode.TIMEOUT
    calls = []
    code = session.monitor_job(job_id, poll_interval=0.05, cb=lambda *a, **k: calls.append(1) or len(calls) < 3)
    assert code is MonitorReturnCode.ENDED_BY_CB and len(calls) == 3
    counter = {"count": 0}
    code = session.monitor_job(job_id, timeout=0.2, poll_interval=0.05, cb=basic_cb_with_print,
                               cb_run_counter=counter)
    assert code is MonitorReturnCode.TIMEOUT and counter["count"] >= 1


def test_list_jobs_options(session, tmp_path: Path) -> None:
    ids = [session.submit_job(str(waiting_for_sites(tmp_path, name=n))) for n in ("alpha", "beta", "alpine")]
    rows = session.list_jobs()
    assert [r["job_id"] for r in rows] == ids
    assert all(set(r) == LIST_ROW_KEYS for r in rows)
    assert rows[0]["job_name"] == "alpha" and rows[0]["status"] == "SUBMITTED"
    detailed = session.list_jobs(detailed=True)
    assert META_KEYS <= set(detailed[0])
    assert [r["job_id"] for r in session.list_jobs(reverse=True)] == ids[::-1]
    assert [r["job_id"] for r in session.list_jobs(limit=2)] == ids[-2:]  # FLARE: the most recent
    assert [r["job_id"] for r in session.list_jobs(limit=2, reverse=True)] == ids[::-1][:2]
    assert [r["job_name"] for r in session.list_jobs(name_prefix="al")] == ["alpha", "alpine"]
    assert [r["job_id"] for r in session.list_jobs(id_prefix=ids[1][:12])] == [ids[1]]
    assert session.list_jobs(name_prefix="zzz") == []
    assert [r["job_id"] for r in session.list_jobs(mine=True)] == ids
    with pytest.raises(ValueError):
        session.list_jobs(detailed="yes")
    with pytest.raises(ValueError):
        session.list_jobs(limit="2")


def test_unschedulable_job_waits_and_can_be_aborted(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    wait_until(lambda: session.get_job_meta(job_id).get("schedule_count", 0) >= 1, 10, "a scheduling attempt")
    assert session.get_job_status(job_id) == "SUBMITTED"
    message = session.abort_job(job_id)
    assert message == f"Aborted the job {job_id} before running it."  # FLARE 2.9's words
    assert session.get_job_status(job_id) == "FINISHED:ABORTED"
    assert session.abort_job(job_id) == f"Job for {job_id} is already completed."


def test_abort_running_job_is_final(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(hello_server(tmp_path, steps=200, step_seconds=0.1)))
    wait_status(session, job_id, "RUNNING")
    assert session.abort_job(job_id) == "Abort signal has been sent to the server app."
    meta = wait_status(session, job_id, "FINISHED:ABORTED", timeout=10)
    assert meta["duration"] != "N/A"
    # Nothing later overwrites the final status, and the job's slot is free again.
    follow = session.submit_job(str(hello_server(tmp_path, steps=1, step_seconds=0.05)))
    assert session.monitor_job(follow, poll_interval=0.5) is MonitorReturnCode.JOB_FINISHED
    assert session.get_job_status(job_id) == "FINISHED:ABORTED"


def test_prefix_ids_clone_and_delete(shared_session, tmp_path: Path) -> None:
    session = shared_session
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    assert session.get_job_meta(job_id[:6])["job_id"] == job_id
    clone = session.clone_job(job_id[:8])
    clone_meta = session.get_job_meta(clone)
    assert clone_meta["cloned_from"] == job_id and clone_meta["name"] == "needs-sites"
    session.abort_job(clone)
    assert session.delete_job(clone)["job_id"] == clone
    with pytest.raises(JobNotFound, match="no such job"):
        session.get_job_meta(clone)


def test_ambiguous_prefix_lists_candidates(session, tmp_path: Path) -> None:
    folder = waiting_for_sites(tmp_path)
    # 17 IDs over 16 hex digits: two share a first character.
    ids = [session.submit_job(str(folder)) for _ in range(17)]
    by_first: dict[str, list[str]] = {}
    for job_id in ids:
        by_first.setdefault(job_id[0], []).append(job_id)
    shared = next(group for group in by_first.values() if len(group) > 1)
    with pytest.raises(InvalidArgumentError, match="ambiguous") as err:
        session.get_job_meta(shared[0][0])
    assert shared[0] in str(err.value) and shared[1] in str(err.value)


def test_delete_running_job_is_refused(session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(hello_server(tmp_path, steps=200, step_seconds=0.1)))
    wait_status(session, job_id, "RUNNING")
    with pytest.raises(JobNotDone, match="still running"):
        session.delete_job(job_id)
    session.abort_job(job_id)
    wait_status(session, job_id, "FINISHED:ABORTED", timeout=10)
    session.delete_job(job_id)
    assert session.list_jobs() == []


def test_bad_job_is_rejected_and_nothing_stored(session, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text('{"name": "bad", "deploy_map": {}}')
    with pytest.raises(InvalidJobDefinition, match="deploy_map"):
        session.submit_job(str(bad))
    with pytest.raises(InvalidJobDefinition, match="not a valid folder"):
        session.submit_job(str(tmp_path / "missing"))
    # Text json.loads fails on with RecursionError or a plain ValueError, in meta.json and in a config.
    deep, long_int = "[" * 30_000, '{"n": ' + "7" * 5_000 + "}"
    for file, text, why in [("meta.json", deep, "too deeply"), ("meta.json", long_int, "number"),
                            ("app/config/config_fed_server.json", deep, "too deeply"),
                            ("app/config/config_fed_server.json", long_int, "number")]:
        job = tmp_path / f"broken-{len(text)}-{file.replace('/', '_')}"
        shutil.copytree(hello_server(tmp_path), job)
        (job / file).write_text(text)
        with pytest.raises(InvalidJobDefinition, match=rf"{file} is not valid JSON \(.*{why}"):
            session.submit_job(str(job))
    assert session.list_jobs() == []


def test_unknown_job_and_closed_session(session) -> None:
    with pytest.raises(JobNotFound, match="no such job: nope"):
        session.get_job_meta("nope")
    with pytest.raises(JobNotFound):
        session.abort_job("nope")
    session.close()
    with pytest.raises(SessionClosed):
        session.list_jobs()


def test_system_info_timeouts_and_apps(session, project) -> None:
    info = session.get_system_info()
    assert isinstance(info, SystemInfo)
    assert info.server_info.status == "stopped" and info.client_info == [] and info.job_info == []
    assert "server_info" in str(info)
    session.set_timeout(5.0)
    session.unset_timeout()
    with pytest.raises(InvalidArgumentError):
        session.set_timeout(-1)
    (Path(session.upload_dir) / "my-job").mkdir()
    assert session.get_available_apps_to_upload() == ["my-job"]


def test_session_is_thread_safe(session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                assert session.get_job_meta(job_id[:10])["job_id"] == job_id
                assert len(session.list_jobs()) == 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_two_sessions_see_each_others_jobs(served: Served, tmp_path: Path) -> None:
    project = served.project
    with new_secure_session(ADMIN, str(project.admin_kit)) as one, \
            new_secure_session(ADMIN, str(project.admin_kit)) as two:
        job_id = one.submit_job(str(hello_server(tmp_path, steps=1, step_seconds=0.05)))
        assert two.monitor_job(job_id, poll_interval=60) is MonitorReturnCode.JOB_FINISHED


def test_list_jobs_answer_bigger_than_one_frame(session, project) -> None:
    """25,000 stored jobs list as several MB of JSON: the answer streams instead of failing."""
    rows = []
    for i in range(25_000):
        meta = {"job_id": f"bulk-{i:05d}", "name": f"bulk-{i % 7}", "status": "FINISHED:COMPLETED",
                "submit_time": 1_000_000.0 + i, "submit_time_iso": "", "duration": "0:00:01", "study": "default",
                "submitter_name": "someone@example.com", "deploy_map": {"app": ["server"]}}
        rows.append((meta["job_id"], meta["name"], meta["status"], meta["submit_time"], meta["submitter_name"],
                     json.dumps(meta)))
    with sqlite3.connect(project.server_kit / "store" / "jobs.db") as db:
        db.executemany("INSERT INTO jobs(job_id, name, status, submit_time, submitter_name, meta) "
                       "VALUES (?,?,?,?,?,?)", rows)
    listed = session.list_jobs(detailed=True)
    assert len(listed) == 25_000 and listed[-1]["job_id"] == "bulk-24999"
    assert [r["job_id"] for r in session.list_jobs(limit=2, reverse=True)] == ["bulk-24999", "bulk-24998"]


def test_a_bad_kit_is_named_by_the_python_argument_it_came_in(tmp_path: Path) -> None:
    """user10 #9: the Python API's error said '--kit (or $FLARE_KIT)', the console's option."""
    for call, argument in ((lambda where: new_secure_session("admin@example.com", where), "startup_kit_location"),
                           (lambda where: Session("admin@example.com", where), "startup_path")):
        # A folder that is not there: FLARE 2.9's own assertion and words (Session's constructor), no option named.
        with pytest.raises(AssertionError, match=r"^startup kit does not exist at \S*nowhere$") as err:
            call(str(tmp_path / "nowhere"))
        assert isinstance(err.value, InvalidArgumentError) and "--kit" not in str(err.value)
        with pytest.raises(InvalidArgumentError, match=rf"^{argument}: \S+ is not a startup kit: it has no startup/"):
            call(str(tmp_path))
