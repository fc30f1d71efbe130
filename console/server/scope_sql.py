"""A scoped ``view`` as SQL: the clauses that keep one submitter's rows, or one org's.

``console.server.job_access.view_filter`` turns a ``view`` right scoped to the user's own jobs
or org's into ``submitter`` / ``submitter_org``; the job store's reads (``job_queries``) and the
record of deleted jobs (``deleted_jobs``) narrow their rows by them the same way, each naming
where its rows keep the submitter's org (the jobs table: in the meta, indexed by that
expression; ``deleted_jobs``: a column of its own).
"""

from __future__ import annotations

#: Where the jobs table keeps a job's submitter's org (the store's schema indexes this expression).
JOBS_ORG = "json_extract(meta, '$.submitter_org')"


def scope_clauses(submitter: str | None, submitter_org: str | None, org_column: str) -> tuple[list[str], list[str]]:
    """``(clauses, params)`` keeping the rows of ``submitter`` (by ``submitter_name``) and of
    ``submitter_org`` (by ``org_column``); None leaves that side open. The clauses are to be
    joined with AND, their ``?`` bound to ``params`` in order."""
    clauses: list[str] = []
    params: list[str] = []
    if submitter is not None:
        clauses.append("submitter_name = ?")
        params.append(submitter)
    if submitter_org is not None:
        clauses.append(f"{org_column} = ?")
        params.append(submitter_org)
    return clauses, params


__all__ = ["JOBS_ORG", "scope_clauses"]
