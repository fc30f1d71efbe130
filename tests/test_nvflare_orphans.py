"""Jobs FLARE 2.9 lists as RUNNING that its restarted server no longer runs (``console.backends.nvflare_orphans``):
marked in list_jobs, and abort_job/delete_job say what they are and what FLARE allows.

The answers are FLARE 2.9's shapes (check_status server's meta, list_jobs rows, job meta, abort_job's
"server internal error: Job ... is not running."); the Session stands in for FLARE's in those calls only."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest

from console.api import errors
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_errors import reworded
from console.backends.nvflare_orphans import NOT_RUNNING, mark_orphans

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
    rows = COMMANDS["list_jobs"](Session(), {"reverse": True})
    status = {r["job_id"]: r["status"] for r in rows}
    assert status[ORPHAN] == f"RUNNING ({NOT_RUNNING})" == "RUNNING (not running on the server: abandoned by a server restart?)"
    # Run by the engine, or submitted after it started (a job just starting or ending): as FLARE lists it.
    assert status[LIVE] == status[NEW] == "RUNNING"
    assert mark_orphans([{"job_id": ORPHAN, "status": "FINISHED:COMPLETED", "submit_time": BEFORE}], STATUS)[0][
        "status"] == "FINISHED:COMPLETED"


def test_abort_of_an_orphaned_job_says_what_it_is_and_what_flare_allows() -> None:
    with pytest.raises(errors.JobNotRunning) as failed:
        COMMANDS["abort_job"](Session(), {"job_id": ORPHAN})
    said = str(reworded(failed.value, "abort_job", "localhost:8002"))
    assert said.startswith(f"abort_job: job {ORPHAN} is listed RUNNING, but FLARE's server does not run it "
                           f"({NOT_RUNNING}); FLARE 2.9 has no command that ends such a job"), said
    assert "clone_job runs it again" in said
    assert COMMANDS["abort_job"](Session(), {"job_id": LIVE}) == f"abort requested for {LIVE}"


def test_delete_of_an_orphaned_job_is_not_told_to_abort_it_first() -> None:
    with pytest.raises(errors.JobNotDone) as failed:
        COMMANDS["delete_job"](Session(), {"job_id": ORPHAN})
    said = str(reworded(failed.value, "delete_job", "localhost:8002"))
    assert NOT_RUNNING in said and "abort it before deleting it" not in said, said
    with pytest.raises(FlareJobNotDone):  # a job the engine runs: FLARE's refusal, reworded as before
        COMMANDS["delete_job"](Session(), {"job_id": LIVE})
