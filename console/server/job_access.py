"""A request's job: the ID or prefix a user typed resolved to one job (and noted for the audit
trail), and the right checked on that job with the stored submitter (``n:submitter``,
``o:submitter``). Used by the job, system and log handlers; reads the store and the policy
through the request's context, owns no state.
"""

from __future__ import annotations

from typing import Any

from console.commands import Right
from console.server.authz import principal
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext


def resolve_job(ctx: RequestContext, id_or_prefix: str) -> str:
    """The full job ID ``id_or_prefix`` names (JobNotFound, or InvalidArgumentError for an ambiguous
    prefix); the request's audit line records it."""
    job_id = ctx.server.store.resolve(id_or_prefix)
    ctx.notes["job_id"] = job_id
    return job_id


def job_meta(ctx: RequestContext, id_or_prefix: str, right: Right | None = None) -> dict[str, Any]:
    """The job's meta; with ``right``, only if the user holds that right on this job."""
    meta = ctx.server.store.get(resolve_job(ctx, id_or_prefix))
    if meta is None:  # deleted between resolve and get
        raise RemoteError(ErrorType.JOB_NOT_FOUND, f"no such job: {id_or_prefix}")
    if right is not None:
        require_on_job(ctx, right, meta)
    return meta


def require_on_job(ctx: RequestContext, right: Right, meta: dict[str, Any]) -> None:
    """AuthorizationError unless the user holds ``right`` on the job of ``meta`` (its submitter)."""
    ctx.server.policy.require(principal(ctx.connection), right, submitter=meta, what=f"job {meta['job_id']}")
