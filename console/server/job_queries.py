"""The job store's reads: one job, a job ID from a prefix, listings as FLARE's, the queue.

Every read runs on the store's reading connection under its lock (WAL: it sees the last
commit and never waits on a write's fsync). Prefixes use the indexes: job IDs are stored lower
case, names are matched case-insensitively as FLARE's ``list_jobs`` does. Listing reads rows,
never a job's files. A part of ``console.server.store.JobStore``, whose connection it reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from console.server.scope_sql import JOBS_ORG, scope_clauses
from console.server.status import JobStatus
from console.wire.errors import ErrorType, RemoteError

#: Largest number of candidates named in an "ambiguous prefix" error.
_MAX_CANDIDATES = 10
#: Job IDs bound into one query (SQLite's own limit of variables is 999 in older builds).
IDS_A_QUERY = 500


def _prefix_bounds(prefix: str) -> tuple[str, str]:
    # Every string that starts with `prefix` sorts in [prefix, prefix + U+10FFFF).
    return prefix, prefix + "\U0010ffff"


def name_starts_with(name: str | None, lowered_prefix: str) -> bool:
    """FLARE's name filter: ``name.lower().startswith(prefix.lower())`` (job_cmds._job_match)."""
    return (name or "").lower().startswith(lowered_prefix)


def running_duration(status: str | None, start_time: Any, now: datetime | None = None) -> str | None:
    """A RUNNING job's duration so far, as FLARE 2.9's list_jobs gives it (job_cmds ``_set_duration``): the
    time since its ``start_time`` (ISO 8601) as ``str(timedelta)``, e.g. ``0:01:02.345678``; None for any
    other status or a start time that cannot be read (the stored duration, or N/A, stays)."""
    if status != JobStatus.RUNNING.value or not isinstance(start_time, str):
        return None
    try:
        started = datetime.fromisoformat(start_time)
    except ValueError:
        return None
    if started.tzinfo is None:  # as FLARE: a naive start time is local time
        started = started.astimezone()
    return str((now or datetime.now(UTC)) - started)


#: What to do after "no such job: ID" (a full ID or a prefix matching none): said after those words, which
#: stay as they were for a script matching them (session 12's terminal user: no hint).
NO_SUCH_JOB_HINT = "list_jobs shows your jobs"


def no_such_job(id_or_prefix: str) -> RemoteError:
    """The one answer for a job ID that names no job the user may see (none there, or hidden by a scoped view):
    ``no such job: ID; list_jobs shows your jobs``."""
    return RemoteError(ErrorType.JOB_NOT_FOUND, f"no such job: {id_or_prefix}; {NO_SUCH_JOB_HINT}")


class JobQueries:
    """The reading half of ``JobStore``."""

    _db: sqlite3.Connection  # the reading connection, with name_starts_with registered
    _lock: threading.RLock

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT status, meta FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            return None
        meta = json.loads(row[1])
        meta["status"] = row[0]
        with self._lock:
            extras = self._db.execute("SELECT key, value FROM job_extras WHERE job_id=?", (job_id,)).fetchall()
        meta.update((key, json.loads(value)) for key, value in extras)
        return meta

    def metas_of(self, job_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The metas of those of ``job_ids`` the store has, by job ID, without their side keys (``round_metrics``,
        ``job_errors``: up to MiBs each, and no rule about a job's sites reads them): one query a
        ``IDS_A_QUERY`` IDs, however many are named (a site's list of the jobs it says it runs)."""
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), IDS_A_QUERY):
            part = ids[start:start + IDS_A_QUERY]
            with self._lock:
                rows = self._db.execute(f"SELECT job_id, status, meta FROM jobs WHERE job_id IN "
                                        f"({','.join('?' * len(part))})", part).fetchall()
            for job_id, status, text in rows:
                found[job_id] = {**json.loads(text), "status": status}
        return found

    def resolve(self, id_or_prefix: str, *, submitter: str | None = None, submitter_org: str | None = None) -> str:
        """A full job ID from an ID or a unique prefix; JobNotFound or an ambiguity error otherwise.
        ``submitter``/``submitter_org`` (a scoped ``view``) judge among that submitter's or org's jobs
        only: another's job is then answered exactly as a job that does not exist."""
        low, high = _prefix_bounds(id_or_prefix.lower())  # as FLARE, which lower-cases every job ID
        scoped, scope_params = scope_clauses(submitter, submitter_org, JOBS_ORG)
        clauses, params = ["job_id >= ? AND job_id < ?", *scoped], [low, high, *scope_params]
        with self._lock:
            rows = self._db.execute(
                f"SELECT job_id, name FROM jobs WHERE {' AND '.join(clauses)} ORDER BY job_id LIMIT ?",
                (*params, _MAX_CANDIDATES + 1),
            ).fetchall()
        exact = [r for r in rows if r[0] == id_or_prefix.lower()]
        if exact or len(rows) == 1:
            return (exact or rows)[0][0]
        if not rows:
            raise no_such_job(id_or_prefix)
        shown = ", ".join(f"{job_id} ({name})" for job_id, name in rows[:_MAX_CANDIDATES])
        more = " and more" if len(rows) > _MAX_CANDIDATES else ""
        raise RemoteError(
            ErrorType.INVALID_ARGUMENT,
            f"job ID prefix '{id_or_prefix}' is ambiguous: it matches {shown}{more}; type more of the ID",
        )

    def list_jobs(
        self,
        *,
        id_prefix: str | None = None,
        name_prefix: str | None = None,
        submitter: str | None = None,
        submitter_org: str | None = None,
        statuses: tuple[str, ...] = (),
        reverse: bool = False,
        limit: int | None = None,
        keep_oldest: bool = False,
        with_errors: bool = False,
    ) -> list[dict[str, Any]]:
        """Jobs in submit order (newest first with ``reverse``), as FLARE 2.9's ``list_jobs``.

        Prefixes match case-insensitively; ``limit`` keeps the ``limit`` most recent matching
        jobs (FLARE: ``jobs[-limit:]`` in submit order, ``jobs[:limit]`` reversed); 0 or None
        keeps all. ``keep_oldest`` (the scheduler's queue) keeps the oldest instead. The metas come
        without what is kept beside them (``round_metrics``, ``job_errors``: ``get`` has them), but
        for ``job_errors`` with ``with_errors`` (``list_jobs -d`` shows why each job failed).
        ``submitter`` and ``submitter_org`` keep one submitter's jobs, or one org's (a scoped
        ``view``; the org is the meta's, indexed by that expression in the store's schema).
        """
        rows = self._listing("status, meta", id_prefix, name_prefix, submitter, submitter_org, statuses, reverse,
                             limit, keep_oldest)
        result = []
        for status, raw in rows:
            meta = json.loads(raw)
            meta["status"] = status
            result.append(meta)
        if with_errors:
            self._add_errors(result)
        return result

    def _add_errors(self, metas: list[dict[str, Any]]) -> None:
        by_id = {meta["job_id"]: meta for meta in metas}
        ids = list(by_id)
        for start in range(0, len(ids), 500):  # (well under SQLite's bound on parameters)
            chunk = ids[start:start + 500]
            with self._lock:
                rows = self._db.execute(
                    f"SELECT job_id, key, value FROM job_extras WHERE key IN ('job_errors', 'job_error_times') AND job_id IN "
                    f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            for job_id, key, value in rows:
                by_id[job_id][key] = json.loads(value)

    def list_rows(
        self,
        *,
        id_prefix: str | None = None,
        name_prefix: str | None = None,
        submitter: str | None = None,
        submitter_org: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The jobs ``list_jobs`` selects, as FLARE 2.9's non-detailed ``list_jobs`` rows (job_id,
        job_name, status, submit_time, duration, study): SQLite picks those fields out of each meta,
        so no meta is parsed into Python objects."""
        rows = self._listing(
            "job_id, name, status, json_extract(meta, '$.submit_time_iso'), "
            "coalesce(json_extract(meta, '$.duration'), 'N/A'), coalesce(json_extract(meta, '$.study'), 'default'), "
            f"CASE WHEN status = '{JobStatus.RUNNING.value}' THEN json_extract(meta, '$.start_time') END",
            id_prefix, name_prefix, submitter, submitter_org, (), reverse, limit, False,
        )
        keys = ("job_id", "job_name", "status", "submit_time", "duration", "study")
        listed = [dict(zip(keys, row[:-1], strict=True)) for row in rows]
        for row, (*_, start_time) in zip(listed, rows, strict=True):
            if start_time is not None:  # only RUNNING rows carry it
                row["duration"] = running_duration(row["status"], start_time) or row["duration"]
        return listed

    def _listing(self, columns: str, id_prefix: str | None, name_prefix: str | None, submitter: str | None,
                 submitter_org: str | None, statuses: tuple[str, ...], reverse: bool, limit: int | None,
                 keep_oldest: bool) -> list[tuple]:
        clauses: list[str] = []
        params: list[Any] = []
        if id_prefix:
            clauses.append("job_id >= ? AND job_id < ?")  # IDs are stored lower case
            params.extend(_prefix_bounds(id_prefix.lower()))
        if name_prefix:
            lowered = name_prefix.lower()
            if lowered.isascii():
                # NOCASE folds ASCII letters as lower() does, so this indexed range is the same test.
                clauses.append("name COLLATE NOCASE >= ? AND name COLLATE NOCASE < ?")
                params.extend(_prefix_bounds(lowered))
            else:
                clauses.append("name_starts_with(name, ?)")
                params.append(lowered)
        # An empty submitter keeps every submitter's jobs here (as it always has), unlike resolve's.
        scoped, scope_params = scope_clauses(submitter or None, submitter_org, JOBS_ORG)
        clauses.extend(scoped)
        params.extend(scope_params)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        # The most recent come first out of SQLite, so that LIMIT keeps the newest ones.
        newest_first = reverse or (bool(limit) and not keep_oldest)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {columns} FROM jobs {where} ORDER BY submit_time {order}, rowid {order} LIMIT ?"
        params.append(limit if limit else -1)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        if newest_first and not reverse:
            rows.reverse()
        return rows

    def queued_ids(self) -> list[str]:
        """IDs of every SUBMITTED job, oldest first (from the status index; no meta is read)."""
        with self._lock:
            rows = self._db.execute("SELECT job_id FROM jobs WHERE status=? ORDER BY submit_time, rowid",
                                    (JobStatus.SUBMITTED.value,)).fetchall()
        return [row[0] for row in rows]

    def count_queued(self, submitter_name: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE submitter_name=? AND status=?",
                                    (submitter_name, JobStatus.SUBMITTED.value)).fetchone()[0]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
