"""The job store: metadata in SQLite (WAL), job data as files beside it.

Layout under the server's workspace::

    store/jobs.db                 one row per job, meta as JSON plus indexed columns; a job's
                                  round_metrics and job_errors in a table beside (listing
                                  never reads them)
    store/jobs/<job_id>/job.zip   the submitted job folder
    store/jobs/<job_id>/workspace.zip   the server workspace once the job ended
    store/incoming/               uploads in flight (never listed, cleared at start)

A job exists once its row is committed; files are written and synced before that, so an
acknowledged submit survives a crash and an unacknowledged one leaves only debris that
``open`` removes. Statuses under ``FINISHED:`` are final: every status write is guarded
in SQL, so no late writer can overwrite one. The reads (a job, a prefix resolved, a listing,
the queue) are ``console.server.job_queries``. The records of submit tokens (a retried submit
finds its job) are kept in the same database and transactions by ``console.server.submit_records``,
and the record of each delete (who deleted which job, when) by ``console.server.deleted_jobs``.

Every write commits with a full fsync (milliseconds, more on a busy disk: see
``benchmarks/bench_store.py``). The server's event loop serves every admin and site, so the
writes a running job makes (its status changes, each round's metrics) go to ``write``: one
writer thread, which runs them in the order given, each as durable as a direct call. Writes
use a connection of their own, so the loop's reads (WAL: they see the last commit) never
wait on a write's fsync.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from console.server import deleted_jobs, submit_records
from console.server.deleted_jobs import DeletedJob
from console.server.job_queries import IDS_A_QUERY, JobQueries, name_starts_with
from console.server.status import ACTIVE, FINAL_PREFIX, JobStatus
from console.server.submit_records import SubmitRecord, SubmitTokenUsed

log = logging.getLogger("console.server.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    submit_time REAL NOT NULL,
    submitter_name TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs(submit_time);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs(name, submit_time);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, submit_time);
CREATE INDEX IF NOT EXISTS jobs_by_submitter ON jobs(submitter_name, submit_time);
CREATE INDEX IF NOT EXISTS jobs_by_name_nocase ON jobs(name COLLATE NOCASE, submit_time);
CREATE TABLE IF NOT EXISTS job_extras (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
-- A scoped view (o:submitter) lists one org's jobs: the same expression as job_queries' filter.
CREATE INDEX IF NOT EXISTS jobs_by_submitter_org ON jobs(json_extract(meta, '$.submitter_org'), submit_time);
"""
#: Meta keys kept beside the meta row (``job_extras``), not in it: they grow with the job's run
#: (round_metrics up to 2 MiB, job_errors up to 100 messages of 4 KiB per participant, and their times), and a
#: listing reads every row's meta (security finding 7: 22 MB of round_metrics in one job's meta
#: made list_jobs take 1.5 s for everyone). ``get`` puts them back.
SIDE_KEYS = ("round_metrics", "job_errors", "job_error_times")
#: PRAGMA user_version once the SIDE_KEYS of older stores were moved beside their metas.
_SCHEMA_VERSION = 1
#: Beside job.zip: who signed it, the signature and the signer's certificate (JSON).
SIGNATURE_FILE = "signature.json"


@dataclass(frozen=True, slots=True)
class Submitter:
    name: str
    org: str
    role: str

    @property
    def key(self) -> submit_records.Who:
        return self.name, self.org, self.role


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a job store write failed", exc_info=future.exception())


class StoreLocked(RuntimeError):
    """Another server process already owns this store."""


class JobStore(JobQueries):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs_dir = root / "jobs"
        self.incoming_dir = root / "incoming"
        for folder in (self.root, self.jobs_dir, self.incoming_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # Held for the life of the process; the kernel drops it if the process dies.
        self._lock_file = open(root / "store.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreLocked(
                f"another server is already running on {root.parent}; stop it first (one server per kit)"
            ) from None
        self._db = sqlite3.connect(root / "jobs.db", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA + submit_records.SCHEMA + deleted_jobs.SCHEMA)
        self._db.create_function("name_starts_with", 2, name_starts_with, deterministic=True)
        self._lock = threading.RLock()  # the reading connection
        # Writes have their own connection and lock: a reader never waits for a write's fsync.
        self._wdb = sqlite3.connect(root / "jobs.db", isolation_level=None, check_same_thread=False)
        self._wdb.execute("PRAGMA synchronous=FULL")
        self._wlock = threading.RLock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="job-store-writer")  # one thread: in order
        self._migrate()
        self._remove_debris()

    def close(self) -> None:
        """Finish the writes handed to ``write``, then close."""
        self._writer.shutdown(wait=True)
        with self._wlock:
            self._wdb.close()
        with self._lock:
            self._db.close()
        self._lock_file.close()

    def write(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run one of this store's writes (``set_status``, ``update_meta``, ...) on the writer
        thread, after every write handed over before it; its result (or error) in the future.
        An error is also logged, so a write nobody waits for never fails unseen."""
        future = self._writer.submit(method, *args, **kwargs)
        future.add_done_callback(_log_failure)
        return future

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._wlock:
            self._wdb.execute("BEGIN IMMEDIATE")
            try:
                yield self._wdb
            except BaseException:
                self._wdb.execute("ROLLBACK")
                raise
            self._wdb.execute("COMMIT")

    def _migrate(self) -> None:
        """A store written before SIDE_KEYS lived beside the meta: move them there, once."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= _SCHEMA_VERSION:
            return
        with self._transaction() as db:
            found = " OR ".join(f"meta LIKE '%\"{key}\"%'" for key in SIDE_KEYS)
            rows = db.execute(f"SELECT job_id, meta FROM jobs WHERE {found}").fetchall()
            for job_id, raw in rows:
                meta = json.loads(raw)
                _write_side(db, job_id, meta)
                db.execute("UPDATE jobs SET meta=? WHERE job_id=?", (json.dumps(meta), job_id))
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _remove_debris(self) -> None:
        """Drop uploads in flight and job folders whose row never committed."""
        shutil.rmtree(self.incoming_dir, ignore_errors=True)
        self.incoming_dir.mkdir()
        known = {row[0] for row in self._db.execute("SELECT job_id FROM jobs")}
        for folder in self.jobs_dir.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    # -- files -------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def job_zip(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "job.zip"

    def workspace_zip(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "workspace.zip"

    def new_incoming_path(self, suffix: str = ".zip") -> Path:
        return self.incoming_dir / f"{os.urandom(8).hex()}{suffix}"

    # -- writes ------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        job_zip: Path,
        fields: dict[str, Any],
        job_folder_name: str,
        submitter: Submitter,
        cloned_from: str | None = None,
        extra_files: dict[str, bytes] | None = None,
        submit_token: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """Move ``job_zip`` (and write ``extra_files`` beside it) into the store, then commit the row.

        With ``submit_token`` = (token, content hash), its record is committed with the row, so a
        client whose reply was lost finds the job on retry; if the token is taken already,
        SubmitTokenUsed is raised and nothing is stored.
        """
        folder = self.job_dir(job_id)
        folder.mkdir()
        for name, data in (extra_files or {}).items():
            with open(folder / name, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        target = self.job_zip(job_id)
        os.replace(job_zip, target)
        fsync_dir(folder)
        now = time.time()
        meta: dict[str, Any] = {
            **fields,
            "job_id": job_id,
            "status": JobStatus.SUBMITTED.value,
            "submit_time": now,
            "submit_time_iso": iso_time(now),
            "start_time": "",
            "duration": "N/A",
            "job_folder_name": job_folder_name,
            "submitter_name": submitter.name,
            "submitter_org": submitter.org,
            "submitter_role": submitter.role,
            "study": "default",
            "data_storage_format": 2,  # FLARE 2.9's value; nothing here reads it
        }
        if cloned_from:
            meta["cloned_from"] = cloned_from
        try:
            with self._transaction() as db:
                if submit_token is not None:
                    submit_records.claim(db, submitter.key, *submit_token, job_id)
                db.execute(
                    "INSERT INTO jobs(job_id, name, status, submit_time, submitter_name, meta) VALUES (?,?,?,?,?,?)",
                    (job_id, meta["name"], meta["status"], now, submitter.name, json.dumps(meta)),
                )
        except SubmitTokenUsed:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return meta

    def submit_record(self, submitter: Submitter, token: str) -> SubmitRecord | None:
        """The record of ``token`` for this submitter (FLARE scopes tokens by study and submitter)."""
        with self._lock:
            return submit_records.find(self._db, submitter.key, token)

    def set_status(self, job_id: str, status: JobStatus, **updates: Any) -> dict[str, Any] | None:
        """Write a new status unless the job is already final; the new meta, or None if refused."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT meta FROM jobs WHERE job_id=? AND status NOT LIKE ?", (job_id, FINAL_PREFIX + "%")
            ).fetchone()
            if row is None:
                return None
            meta = json.loads(row[0])
            meta.update(updates)
            meta["status"] = status.value
            if status.is_final and meta.get("start_time"):
                meta["duration"] = str(datetime.now().astimezone() - datetime.fromisoformat(meta["start_time"]))
            side = _write_side(db, job_id, meta)
            db.execute(
                "UPDATE jobs SET status=?, meta=? WHERE job_id=?", (status.value, json.dumps(meta), job_id)
            )
        return {**meta, **side}

    def update_meta(self, job_id: str, **updates: Any) -> None:
        """Change or add meta keys (those of SIDE_KEYS are kept beside the meta row)."""
        with self._transaction() as db:
            main = {k: v for k, v in updates.items() if k not in SIDE_KEYS}
            if main:
                row = db.execute("SELECT meta FROM jobs WHERE job_id=?", (job_id,)).fetchone()
                if row is None:
                    return
                meta = json.loads(row[0])
                meta.update(main)
                db.execute("UPDATE jobs SET meta=? WHERE job_id=?", (json.dumps(meta), job_id))
            elif db.execute("SELECT 1 FROM jobs WHERE job_id=?", (job_id,)).fetchone() is None:
                return
            _write_side(db, job_id, updates)


    def delete_job(self, job_id: str, by: Submitter) -> int | None:
        """Remove the job (``by``: who deletes it); its submit records stay, marked deleted (as FLARE
        2.9), and the delete is recorded (``deleted``). How many submit records were marked; None,
        and nothing removed, when the job is dispatched or running by now; 0 when it is gone: checked in the
        same transaction as the removal, so a delete and the scheduler's DISPATCHED (``set_status``)
        are one before the other, never both (security finding 1: a job deleted while it was being
        dispatched ran on its sites for ever)."""
        with self._transaction() as db:
            row = db.execute("SELECT status, meta FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None:  # deleted meanwhile by another request: that delete has its record
                return 0
            if row[0] in {s.value for s in ACTIVE}:
                return None
            db.execute("DELETE FROM jobs WHERE job_id=?", (job_id,))
            db.execute("DELETE FROM job_extras WHERE job_id=?", (job_id,))
            when = iso_time(time.time())
            deleted_jobs.record(db, json.loads(row[1]), by.key, when)
            marked = submit_records.mark_deleted(db, job_id, when)
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return marked

    def deleted(self, id_or_prefix: str) -> DeletedJob | None:
        """The kept record of the deleted job ``id_or_prefix`` names (``console.server.deleted_jobs``)."""
        with self._lock:
            return deleted_jobs.find(self._db, id_or_prefix)

    def deleted_among(self, job_ids: list[str]) -> set[str]:
        """Those of ``job_ids`` (full IDs) whose delete is kept on record: one query a ``IDS_A_QUERY`` IDs."""
        found: set[str] = set()
        for start in range(0, len(job_ids), IDS_A_QUERY):
            with self._lock:
                found |= deleted_jobs.kept_among(self._db, job_ids[start:start + IDS_A_QUERY])
        return found

    def list_deleted(self, limit: int, submitter: str | None = None,
                     submitter_org: str | None = None) -> list[DeletedJob]:
        """The newest ``limit`` records of deleted jobs, newest first (``console.server.deleted_jobs.listing``)."""
        with self._lock:
            return deleted_jobs.listing(self._db, limit, submitter, submitter_org)

    def abandon_active(self) -> list[str]:
        """At start: jobs that were dispatched or running when the server died are abandoned."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id FROM jobs WHERE status IN (?, ?)", tuple(s.value for s in ACTIVE)
            ).fetchall()
        abandoned = []
        for (job_id,) in rows:
            if self.set_status(job_id, JobStatus.FINISHED_ABANDONED) is not None:
                abandoned.append(job_id)
        return abandoned


def _write_side(db: sqlite3.Connection, job_id: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Store the SIDE_KEYS of ``meta`` beside its row, taking them out of ``meta``; what was taken."""
    side = {key: meta.pop(key) for key in SIDE_KEYS if key in meta}
    db.executemany("INSERT OR REPLACE INTO job_extras(job_id, key, value) VALUES (?, ?, ?)",
                   [(job_id, key, json.dumps(value)) for key, value in side.items()])
    return side
