"""Jobs FLARE lists as RUNNING that its server no longer runs: orphaned by a restart of the server.

When FLARE 2.9's server process dies (kill -9, a crash) and is started again, the jobs it ran stay
RUNNING in its job store for good: the JobRunner code that would mark them FINISHED:ABANDONED
(``update_unfinished_jobs``) is never called. ``list_jobs`` shows them running with growing
durations, ``check_status server`` does not list them, ``abort_job`` fails ("Job ... is not
running.") and ``delete_job`` refuses a running job. FLARE's own API behaves the same; the console
says what they are. A job is taken for orphaned only when all three hold: listed RUNNING (or
DISPATCHED), absent from the server engine's running jobs, and submitted before the server's
engine started (so a job just starting or just ending, listed a moment before or after its run, is
never taken for one).

Must not: import nvflare; change anything on FLARE's server (it only reads ``check_status server``).
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

#: The key an orphaned job's list_jobs row carries (``true``), beside FLARE's own status value (``RUNNING``).
ORPHANED = "orphaned"
#: What the console says of an orphaned job (after its status, for people; in errors).
NOT_RUNNING = "not running on the server: abandoned by a server restart?"
#: What to do about one, as far as FLARE 2.9 allows.
WHAT_TO_DO = ("FLARE 2.9 has no command that ends such a job: abort_job and delete_job refuse it and it stays "
              "listed RUNNING (FLARE's JobRunner would mark it FINISHED:ABANDONED, but 2.9 never does); "
              "clone_job runs it again")

_LISTED_RUNNING = ("RUNNING", "DISPATCHED")


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value:
        with contextlib.suppress(ValueError):
            return float(value)
        with contextlib.suppress(ValueError):
            return datetime.datetime.fromisoformat(value).timestamp()  # naive: local time, as FLARE writes it
    return None


def engine_view(status: Any) -> tuple[set[str], float | None]:
    """(job IDs the server's engine runs, when the engine started: epoch s) from ``check_status server``'s meta."""
    if not isinstance(status, dict):
        return set(), None
    jobs = {str(j.get("job_id")) for j in status.get("jobs") or [] if isinstance(j, dict)}
    return jobs, _epoch(status.get("server_start_time"))


def is_orphan(job: dict[str, Any], running: set[str], started: float | None) -> bool:
    """Whether ``job`` (a list_jobs row or a job meta) is listed running but orphaned (see the module's rule)."""
    if job.get("status") not in _LISTED_RUNNING or job.get("job_id") in running or started is None:
        return False
    submitted = _epoch(job.get("submit_time_iso") or job.get("submit_time"))
    return submitted is not None and submitted < started


def may_be_orphaned(rows: list[Any], started: float | None) -> bool:
    """Whether a row of ``rows`` listed running could be orphaned by a server engine that started at
    ``started`` (None: not known): submitted before it, or when it is not known."""
    for row in rows:
        if isinstance(row, dict) and row.get("status") in _LISTED_RUNNING:
            submitted = _epoch(row.get("submit_time_iso") or row.get("submit_time"))
            if started is None or submitted is None or submitted < started:
                return True
    return False


def mark_orphans(rows: list[Any], status: Any) -> list[Any]:
    """``rows`` (list_jobs) with each orphaned job's row carrying ``ORPHANED: True``; its ``status`` stays
    FLARE's value (``RUNNING``), which JSON output and the API keep; ``in_words`` says it for people."""
    running, started = engine_view(status)
    return [{**row, ORPHANED: True} if isinstance(row, dict) and is_orphan(row, running, started)
            else row for row in rows]


def in_words(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` for people (a table, top): an orphaned job's status followed by what it is,
    ``RUNNING (not running on the server: abandoned by a server restart?)``, and no ``ORPHANED`` key of its own;
    any other row as it is."""
    if row.get(ORPHANED) is not True:
        return row
    return {k: f"{v} ({NOT_RUNNING})" if k == "status" else v for k, v in row.items() if k != ORPHANED}


def listed_running(rows: list[Any]) -> bool:
    return any(isinstance(r, dict) and r.get("status") in _LISTED_RUNNING for r in rows)


def orphan_message(job_id: str, command: str) -> str:
    return (f"{command}: job {job_id} is listed RUNNING, but FLARE's server does not run it ({NOT_RUNNING}); "
            f"{WHAT_TO_DO}")
