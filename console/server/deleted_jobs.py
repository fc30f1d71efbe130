"""The kept record of deleted jobs: which job went, whose it was, when, and who deleted it.

A deleted job's row and files are gone (as FLARE 2.9's delete_job leaves nothing to list), and
log.txt keeps only its last 60 MiB: a clone + delete loop could push every line about an earlier
delete out of it. So each delete also writes a compact row here, in the store's database and the
delete's own transaction (a delete is never without its record, and the record survives log
rotation and restarts). Kept bounded per submitter *and* deleter: the newest ``KEPT_PER_PAIR``
deletes of one identity's jobs by one identity. A flood of deletes only ever pushes out the
flooder's own older records of its own kind; the record of a delete of somebody else's job is
pushed out only by deleting that many more of that person's jobs, each of which they made.

Read by the job lookup (``console.server.job_access``): a command naming a deleted job is
answered "no such job" (FLARE's JobNotFound) with when and by whom it was deleted, to a user
whose view covers the job; and listed by the ``deleted_jobs`` command (our engine's own: FLARE keeps no
such record), the records of the jobs the user's view covers. Used by ``console.server.store`` inside its transactions; owns only
the ``deleted_jobs`` table, never a job row or a file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.server.scope_sql import scope_clauses

SCHEMA = """
CREATE TABLE IF NOT EXISTS deleted_jobs (
    job_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    submitter_name TEXT NOT NULL,
    submitter_org TEXT NOT NULL,
    submitter_role TEXT NOT NULL,
    submit_time TEXT NOT NULL,
    deleted_time TEXT NOT NULL,
    deleted_by TEXT NOT NULL,
    deleted_by_org TEXT NOT NULL,
    deleted_by_role TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deleted_jobs_by_pair ON deleted_jobs(submitter_name, deleted_by);
"""
#: Records kept per (submitter, deleter): past it the oldest of that pair goes first. ~300 bytes each.
KEPT_PER_PAIR = 1000
#: Longest name kept (a job's name is bounded on submit; this bounds the record whatever came before).
_MAX_NAME = 256
_COLUMNS = ("job_id, name, submitter_name, submitter_org, submitter_role, submit_time, deleted_time, deleted_by, "
            "deleted_by_org, deleted_by_role")


@dataclass(frozen=True, slots=True)
class DeletedJob:
    """One delete as kept: the job's ID, name and submitter (name, org, role), its submit time and
    the delete's (ISO 8601 with the server's offset), and who deleted it (name, org, role)."""

    job_id: str
    name: str
    submitter_name: str
    submitter_org: str
    submitter_role: str
    submit_time: str
    deleted_time: str
    deleted_by: str
    deleted_by_org: str
    deleted_by_role: str

    @property
    def submitter(self) -> dict[str, str]:
        """The job's submitter as a meta names it: what the policy's ``n:``/``o:submitter`` rules read."""
        return {"submitter_name": self.submitter_name, "submitter_org": self.submitter_org,
                "submitter_role": self.submitter_role}

    def row(self) -> dict[str, str]:
        """The record as the ``deleted_jobs`` command answers it (its keys named as list_jobs' where it has them)."""
        return {"job_id": self.job_id, "job_name": self.name, "submitter": self.submitter_name,
                "submitter_org": self.submitter_org, "submit_time": self.submit_time,
                "deleted_time": self.deleted_time, "deleted_by": self.deleted_by, "deleted_by_org": self.deleted_by_org}

    def said(self) -> str:
        """The record as one clause: ``"JOB (NAME, submitted by S) was deleted on T by D (ORG)"``."""
        try:  # to the second: the record keeps microseconds
            when = datetime.fromisoformat(self.deleted_time).isoformat(sep=" ", timespec="seconds")
        except ValueError:
            when = self.deleted_time
        return (f"job {self.job_id} ({self.name}, submitted by {self.submitter_name}) was deleted on "
                f"{when} by {self.deleted_by} ({self.deleted_by_org})")


def record(db: sqlite3.Connection, meta: dict[str, Any], by: tuple[str, str, str], when: str) -> None:
    """Keep the delete of the job of ``meta`` by ``by`` (name, org, role) at ``when`` (ISO time),
    then drop the oldest records of the same submitter and deleter past ``KEPT_PER_PAIR``."""
    submitter = str(meta.get("submitter_name") or "")
    db.execute(f"INSERT OR REPLACE INTO deleted_jobs({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (
        meta["job_id"], str(meta.get("name") or "")[:_MAX_NAME], submitter, str(meta.get("submitter_org") or ""),
        str(meta.get("submitter_role") or ""), str(meta.get("submit_time_iso") or ""), when, *by))
    db.execute("DELETE FROM deleted_jobs WHERE submitter_name=? AND deleted_by=? AND rowid NOT IN ("
               "SELECT rowid FROM deleted_jobs WHERE submitter_name=? AND deleted_by=? ORDER BY rowid DESC LIMIT ?)",
               (submitter, by[0], submitter, by[0], KEPT_PER_PAIR))


def find(db: sqlite3.Connection, id_or_prefix: str) -> DeletedJob | None:
    """The kept delete of the job ``id_or_prefix`` names: its ID, or a prefix of exactly one kept ID
    (lower-cased, as job IDs are looked up)."""
    low = id_or_prefix.lower()
    if not low:
        return None
    rows = db.execute(f"SELECT {_COLUMNS} FROM deleted_jobs WHERE job_id >= ? AND job_id < ? ORDER BY job_id "
                      "LIMIT 2", (low, low + "\U0010ffff")).fetchall()
    exact = [row for row in rows if row[0] == low]
    return DeletedJob(*(exact or rows)[0]) if exact or len(rows) == 1 else None


def listing(db: sqlite3.Connection, limit: int, submitter: str | None = None,
            submitter_org: str | None = None) -> list[DeletedJob]:
    """The newest ``limit`` records, newest first; ``submitter``/``submitter_org``: only those of that
    submitter's or org's jobs (a scoped ``view``, as ``JobQueries.resolve`` takes it)."""
    clauses, params = scope_clauses(submitter, submitter_org, "submitter_org")
    rows = db.execute(f"SELECT {_COLUMNS} FROM deleted_jobs WHERE {' AND '.join(['1', *clauses])} ORDER BY rowid "
                      "DESC LIMIT ?", (*params, limit)).fetchall()
    return [DeletedJob(*row) for row in rows]


def kept_among(db: sqlite3.Connection, job_ids: list[str]) -> set[str]:
    """Those of ``job_ids`` (full IDs, at most ``job_queries.IDS_A_QUERY``: one query) whose delete is kept on record."""
    rows = db.execute(f"SELECT job_id FROM deleted_jobs WHERE job_id IN ({','.join('?' * len(job_ids))})",
                      job_ids).fetchall()
    return {row[0] for row in rows}
