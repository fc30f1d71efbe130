"""FLARE 2.9's submit records: what a submitter's submit token stands for, in the job store's database.

A client that retries a submit whose answer was lost sends the same token; its record says which
job that token made (or that the job was deleted since), so the retry gets that job instead of a
second one. Records are scoped by study and submitter (name, org, role), as in FLARE, and outlive
their job (marked ``JOB_DELETED``). Used by ``console.server.store`` inside its transactions;
owns only the ``submit_records`` table, never a job row or a file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS submit_records (
    study TEXT NOT NULL,
    submitter_name TEXT NOT NULL,
    submitter_org TEXT NOT NULL,
    submitter_role TEXT NOT NULL,
    token TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    deleted_time TEXT,
    PRIMARY KEY (study, submitter_name, submitter_org, submitter_role, token)
);
CREATE INDEX IF NOT EXISTS submit_records_by_job ON submit_records(job_id);
"""
#: FLARE 2.9's submit record states.
RECORD_CREATED = "CREATED"
RECORD_JOB_DELETED = "JOB_DELETED"
#: Every job here is in FLARE's default study.
STUDY = "default"

#: A submitter as records are keyed: (name, org, role).
Who = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    """What a submit token of one submitter (in one study) stands for, as FLARE 2.9 keeps it."""

    token: str
    content_hash: str
    job_id: str
    state: str
    deleted_time: str | None


class SubmitTokenUsed(Exception):
    """``create_job`` found the token taken (a retry, or a race with one); nothing was stored."""

    def __init__(self, record: SubmitRecord) -> None:
        super().__init__(record.token)
        self.record = record


def find(db: sqlite3.Connection, who: Who, token: str) -> SubmitRecord | None:
    row = db.execute(
        "SELECT token, content_hash, job_id, state, deleted_time FROM submit_records WHERE study=? AND "
        "submitter_name=? AND submitter_org=? AND submitter_role=? AND token=?", (STUDY, *who, token)).fetchone()
    return SubmitRecord(*row) if row else None


def claim(db: sqlite3.Connection, who: Who, token: str, content_hash: str, job_id: str) -> None:
    """Record that ``token`` made ``job_id``; SubmitTokenUsed (with the record) if it is taken."""
    record = find(db, who, token)
    if record is not None:
        raise SubmitTokenUsed(record)
    db.execute("INSERT INTO submit_records VALUES (?,?,?,?,?,?,?,?,NULL)",
               (STUDY, *who, token, content_hash, job_id, RECORD_CREATED))


def mark_deleted(db: sqlite3.Connection, job_id: str, when: str) -> int:
    """Mark the records of a deleted job (``when``: ISO time); how many were marked."""
    return db.execute("UPDATE submit_records SET state=?, deleted_time=? WHERE job_id=? AND state<>?",
                      (RECORD_JOB_DELETED, when, job_id, RECORD_JOB_DELETED)).rowcount
