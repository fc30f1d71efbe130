"""Jobs FLARE 2.9 lists as RUNNING that its restarted server no longer runs (``console.backends.nvflare_orphans``):
marked in list_jobs (a key of its own; a table in words), and abort_job/delete_job say what they are and what FLARE allows.

The answers are FLARE 2.9's shapes (check_status server's meta, list_jobs rows, job meta, abort_job's
"server internal error: Job ... is not running."); the Session stands in for FLARE's in those calls only."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from console.api import errors
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_errors import reworded
from console.backends.nvflare_orphans import NOT_RUNNING, ORPHANED, mark_orphans
from console.shell.human import Expanded, human
from console.shell.safe_text import json_text
from console.shell.top.model import TopModel
from console.shell.top.rows import job_cells
from console.worded import engine_answer, for_people

STARTED = time.time() - 60  # the server (engine) started a minute ago, after a kill -9
BEFORE = datetime.datetime.fromtimestamp(STARTED - 600).astimezone().isoformat()
AFTER = datetime.datetime.fromtimestamp(STARTED + 30).astimezone().isoformat()
ORPHAN, LIVE, NEW = "cf1bebd2-0000-0000-0000-000000000001", "aa000000-0000-0000-0000-000000000002", \
    "bb000000-0000-0000-0000-000000000003"
STATUS = {"status": "ok", "server_status": "started", "server_start_time": STARTED,
          "jobs": [{"job_id": LIVE, "app_name": "app"}], "clients": []}


class FlareInternalError(Exception):
    pass


FlareInternalError.__name__ = "InternalError"


class FlareJobNotDone(Exception):
    pass


FlareJobNotDone.__name__ = "JobNotDone"


class Session:
    def __init__(self) -> None:
        self.rows = [
            {"job_id": ORPHAN, "job_name": "hello", "status": "RUNNING", "submit_time": BEFORE, "duration": "1:00:00"},
            {"job_id": LIVE, "job_name": "hello", "status": "RUNNING", "submit_time": BEFORE, "duration": "0:00:30"},
            {"job_id": NEW, "job_name": "hello", "status": "RUNNING", "submit_time": AFTER, "duration": "0:00:01"},
        ]

    def list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
        return dict(STATUS)

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        row = next(r for r in self.rows if r["job_id"] == job_id)
        return {"job_id": job_id, "status": row["status"], "submit_time_iso": row["submit_time"]}

    def abort_job(self, job_id: str) -> None:
        if job_id == ORPHAN:
            raise FlareInternalError(f"server internal error: Job {job_id} is not running.")

    def delete_job(self, job_id: str) -> None:
        raise FlareJobNotDone(f"job {job_id} is still running")


def test_list_jobs_marks_a_running_job_its_restarted_server_does_not_run_and_only_that_one() -> None:
    """The fact in its own key (JSON and the API keep FLARE's status value); a table says it in words."""
    rows = COMMANDS["list_jobs"](Session(), {"reverse": True})
    assert {r["job_id"]: r["status"] for r in rows} == {ORPHAN: "RUNNING", LIVE: "RUNNING", NEW: "RUNNING"}
    # Run by the engine, or submitted after it started (a job just starting or ending): as FLARE lists it.
    assert {r["job_id"]: r.get(ORPHANED) for r in rows} == {ORPHAN: True, LIVE: None, NEW: None}
    assert mark_orphans([{"job_id": ORPHAN, "status": "FINISHED:COMPLETED", "submit_time": BEFORE}], STATUS) == [
        {"job_id": ORPHAN, "status": "FINISHED:COMPLETED", "submit_time": BEFORE}]
    table = human(rows, 200).splitlines()
    assert table[0].split() == ["job_id", "job_name", "status", "submit_time", "duration"], table  # no key column
    shown = {line.split()[0]: line for line in table[2:]}
    assert "RUNNING (not running on the server: abandoned by a server restart?)" in shown[ORPHAN], table
    assert NOT_RUNNING not in shown[LIVE] + shown[NEW], table
    assert f"RUNNING ({NOT_RUNNING})" in human(rows, 200, Expanded.ON)
    assert json.loads(json_text(rows))[0] == {**Session().rows[0], ORPHANED: True}


def test_top_shows_an_orphaned_job_in_words_and_not_as_running() -> None:
    model = TopModel()
    model.apply_jobs(COMMANDS["list_jobs"](Session(), {"reverse": True}))
    orphan, live = model.jobs[ORPHAN], model.jobs[LIVE]
    assert (orphan.status, orphan.running, live.running) == ("RUNNING", False, True)
    assert job_cells(orphan, time.time())[2] == f"RUNNING ({NOT_RUNNING})"
    assert job_cells(live, time.time())[2] == "RUNNING"


def test_abort_of_an_orphaned_job_says_what_it_is_and_what_flare_allows() -> None:
    with pytest.raises(errors.JobNotRunning) as failed:
        COMMANDS["abort_job"](Session(), {"job_id": ORPHAN})
    said = str(reworded(failed.value, "abort_job", "localhost:8002"))
    assert said.startswith(f"abort_job: job {ORPHAN} is listed RUNNING, but FLARE's server does not run it "
                           f"({NOT_RUNNING}); FLARE 2.9 has no command that ends such a job"), said
    assert "clone_job runs it again" in said
    aborted = COMMANDS["abort_job"](Session(), {"job_id": LIVE})
    assert engine_answer(aborted) is None and for_people(aborted) == f"abort requested for {LIVE}"


def test_delete_of_an_orphaned_job_is_not_told_to_abort_it_first() -> None:
    with pytest.raises(errors.JobNotDone) as failed:
        COMMANDS["delete_job"](Session(), {"job_id": ORPHAN})
    said = str(reworded(failed.value, "delete_job", "localhost:8002"))
    assert NOT_RUNNING in said and "abort it before deleting it" not in said, said
    with pytest.raises(FlareJobNotDone):  # a job the engine runs: FLARE's refusal, reworded as before
        COMMANDS["delete_job"](Session(), {"job_id": LIVE})


def test_list_jobs_asks_for_the_servers_running_jobs_only_when_a_running_job_could_be_orphaned() -> None:
    """A job submitted after the server's engine started (as far as this Session saw it start) cannot be
    orphaned by it: no second call. A new Session (the backend logs in again after a server restart) asks again."""
    class Counting(Session):
        asked = 0

        def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
            self.asked += 1
            return super().check_status(target_type, targets)

    session = Counting()
    session.rows = [r for r in session.rows if r["job_id"] == NEW]  # submitted after the engine started
    for _ in range(3):
        assert [r.get(ORPHANED) for r in COMMANDS["list_jobs"](session, {})] == [None]
    assert session.asked == 1  # the first time only: when the engine started was not known yet
    session.rows = Session().rows  # one submitted before the engine started and no longer run: asked, marked
    assert {r["job_id"]: r.get(ORPHANED) for r in COMMANDS["list_jobs"](session, {})} == \
        {ORPHAN: True, LIVE: None, NEW: None}
    assert session.asked == 2
    again = Counting()
    again.rows = [r for r in again.rows if r["job_id"] == NEW]
    COMMANDS["list_jobs"](again, {})
    assert again.asked == 1


class RestartingSession(Session):
    """FLARE 2.9's refusal of a restart while its engine runs a job: flare_api's garbled JobNotDone (training_cmds'
    JOB_RUNNING, wrapped by ``_do_command``), and no site answers in the reply."""

    class api:  # noqa: N801  (FLARE's attribute name)
        @staticmethod
        def do_command(command: str, props: Any = None) -> dict[str, Any]:
            return {"status": "SUCCESS", "data": [], "meta": {"status": "job_running"}}

    def restart(self, target_type: str, names: Any, wait: bool) -> None:
        raise FlareJobNotDone("job There are still jobs running. Please let them finish or abort_job before restart. "
                              "is still running")

    shutdown = restart


@pytest.mark.parametrize("command", ["restart", "shutdown"])
def test_a_refused_restart_names_orphaned_jobs_apart_and_never_tells_to_abort_them(command: str) -> None:
    """Report 10 #12: the orphaned job was among 'abort them first', though abort_job refuses it."""
    for refuse in (lambda: COMMANDS[command](RestartingSession(), {"target_type": "client", "targets": ["site-b1"]}),
                   lambda: __import__("console.backends.nvflare_shutdown", fromlist=["x"]).refuse_before_asking(
                       RestartingSession(), {"command": command, "target_type": "server"})):
        with pytest.raises(errors.JobNotDone) as refused:
            refuse()
        said = str(reworded(refused.value, command, "localhost:8002"))
        assert said.startswith(f"{command} was refused: job {LIVE} (hello) is still running; let it finish or abort "
                               f"it first (abort_job {LIVE}). Job {ORPHAN} (hello) is listed RUNNING too, but no process "
                               f"runs it (abandoned by a server restart): it does not hold the {command} up, and FLARE "
                               "2.9 has no command that ends it (abort_job refuses it)"), said
        assert NEW not in said  # submitted after the engine started: starting, not orphaned, not run by the engine
