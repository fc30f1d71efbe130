"""A request's job: the ID or prefix a user typed resolved to one job (and noted for the audit
trail), the right checked on that job with the stored submitter (``n:submitter``,
``o:submitter``), and what a scoped ``view`` lets a user see of the jobs (listings, status rows,
pushed events, the candidates of an ambiguous prefix). Used by the job, system and log handlers
and the server's publishing; reads the store and the policy, owns no state.
"""

from __future__ import annotations

from typing import Any

from console.commands import Right
from console.server.authz import Policy, Principal, principal
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext

#: Candidates named in an ambiguous-prefix error (as the store's own error).
_MAX_CANDIDATES = 10


def may_view(policy: Policy, user: Principal, meta: dict[str, Any]) -> bool:
    """Whether ``user`` may see the job of ``meta`` (its submitter against the ``view`` condition)."""
    return policy.allows(user, Right.VIEW, submitter=meta)


def view_filter(policy: Policy, user: Principal) -> dict[str, str] | None:
    """The store's listing filter for the jobs ``user`` may view: ``{}`` (all of them), one
    submitter's or one org's; None when the ``view`` right covers no job (``none``, or ``o:site``,
    which is about sites, as FLARE's job commands read it)."""
    condition = policy.condition(user.role, Right.VIEW)
    if condition == "any":
        return {}
    if condition == "n:submitter":
        return {"submitter": user.name}
    if condition == "o:submitter":
        return {"submitter_org": user.org}
    return None


def resolve_job(ctx: RequestContext, id_or_prefix: str) -> str:
    """The full job ID ``id_or_prefix`` names (JobNotFound, or InvalidArgumentError for an ambiguous
    prefix, naming only candidates the user may view); the request's audit line records it."""
    store = ctx.server.store
    try:
        job_id = store.resolve(id_or_prefix)
    except RemoteError as exc:
        if exc.error_type is not ErrorType.INVALID_ARGUMENT:
            raise
        scope = view_filter(ctx.server.policy, principal(ctx.connection))
        if scope == {}:
            raise
        # The store's message names every candidate: here only those the user may see.
        visible = [] if scope is None else store.list_jobs(id_prefix=id_or_prefix, limit=_MAX_CANDIDATES, **scope)
        shown = "".join(f", {meta['job_id']} ({meta.get('name')})" for meta in visible)
        raise RemoteError(ErrorType.INVALID_ARGUMENT, f"job ID prefix '{id_or_prefix}' is ambiguous: it matches "
                                                      f"several jobs{shown}; type more of the ID") from None
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
