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
from console.server.job_queries import no_such_job
from console.wire.request_context import RequestContext


def may_view(policy: Policy, user: Principal, meta: dict[str, Any]) -> bool:
    """Whether ``user`` may see the job of ``meta`` (its submitter against the ``view`` condition)."""
    return policy.allows(user, Right.VIEW, submitter=meta)


def view_filter(policy: Policy, user: Principal) -> dict[str, str] | None:
    """The store's listing filter for the jobs ``user`` may view: ``{}`` (all of them), one
    submitter's or one org's; None when the ``view`` right covers no job (``none``, or ``o:site``,
    which is about sites, as FLARE's job commands read it)."""
    return _jobs_covered(policy.condition(user.role, Right.VIEW), user)


def _jobs_covered(condition: str, user: Principal) -> dict[str, str] | None:
    """The store's listing filter for the jobs a right's ``condition`` covers for ``user`` (see above)."""
    if condition == "any":
        return {}
    if condition == "n:submitter":
        return {"submitter": user.name}
    if condition == "o:submitter":
        return {"submitter_org": user.org}
    return None


#: How much of the store each job-scoped condition covers, to take the broader of two.
_BREADTH = {"any": 3, "o:submitter": 2, "n:submitter": 1}


def job_scope(policy: Policy, user: Principal, right: Right) -> dict[str, str] | None:
    """The jobs ``user`` may name in a command needing ``right`` (``view_filter``'s shape): those
    they may view, and those the right itself covers (a policy may grant more of one than of the
    other). Any other job is, to them, a job that does not exist."""
    conditions = (policy.condition(user.role, Right.VIEW), policy.condition(user.role, right))
    return _jobs_covered(max(conditions, key=lambda condition: _BREADTH.get(condition, 0)), user)


def resolve_job(ctx: RequestContext, id_or_prefix: str) -> str:
    """The full job ID ``id_or_prefix`` names among the jobs the user may name in this command
    (``job_scope`` of its right); the request's audit line records it.

    A job outside that scope is answered as one that does not exist: JobNotFound with the same
    text, by the same single indexed query whether or not such a job is there; a prefix is
    ambiguous (InvalidArgumentError) only among the jobs in scope, and names only those. So a
    scoped viewer learns neither the ID nor the existence of another's job."""
    store = ctx.server.store
    scope = job_scope(ctx.server.policy, principal(ctx.connection), ctx.spec.right)
    if scope is None:  # the user may name no job at all
        raise no_such_job(id_or_prefix)
    job_id = store.resolve(id_or_prefix, **scope)
    ctx.notes["job_id"] = job_id
    return job_id


def job_meta(ctx: RequestContext, id_or_prefix: str, right: Right | None = None) -> dict[str, Any]:
    """The job's meta; with ``right``, only if the user holds that right on this job."""
    meta = ctx.server.store.get(resolve_job(ctx, id_or_prefix))
    if meta is None:  # deleted between resolve and get
        raise no_such_job(id_or_prefix)
    if right is not None:
        require_on_job(ctx, right, meta)
    return meta


def require_on_job(ctx: RequestContext, right: Right, meta: dict[str, Any]) -> None:
    """AuthorizationError unless the user holds ``right`` on the job of ``meta`` (its submitter)."""
    ctx.server.policy.require(principal(ctx.connection), right, submitter=meta, what=f"job {meta['job_id']}")
