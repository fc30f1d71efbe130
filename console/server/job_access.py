"""A request's job: the ID or prefix a user typed resolved to one job (and noted for the audit
trail), the right checked on that job with the stored submitter (``n:submitter``,
``o:submitter``), and what a scoped ``view`` lets a user see of the jobs (listings, status rows,
pushed events, the candidates of an ambiguous prefix, what a job's meta may say of other jobs);
a deleted job, named, is said to be deleted (when, by whom) to a user whose view covers it.
Used by the job, system and log handlers and the server's publishing; reads the store and the
policy, owns no state.
"""

from __future__ import annotations

from typing import Any, Protocol

from console.commands import Right
from console.server.audit import VIEW_REFUSED
from console.server.authz import Policy, Principal, principal
from console.server.job_queries import no_such_job
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext

#: What a scoped viewer is shown in a job's meta in place of another job's ID (a clone's
#: ``cloned_from``) when that job is not theirs to view (or no longer there).
HIDDEN_JOB = "(a job outside your view)"
#: ... and in place of a clone's ``signed_by`` that only such a job would tell them of.
HIDDEN_SIGNER = "(the signer of a job outside your view)"
#: Clone-of-a-clone steps followed back to judge a signer's name; a longer chain hides it.
_MAX_CLONE_STEPS = 16


class JobLookup(Protocol):
    def get(self, job_id: str) -> dict[str, Any] | None: ...


def may_view(policy: Policy, user: Principal, meta: dict[str, Any]) -> bool:
    """Whether ``user`` may see the job of ``meta`` (its submitter against the ``view`` condition)."""
    return policy.allows(user, Right.VIEW, submitter=meta)


def view_filter(policy: Policy, user: Principal) -> dict[str, str] | None:
    """The store's listing filter for the jobs ``user`` may view: ``{}`` (all of them), one
    submitter's or one org's; None when the ``view`` right covers no job (``none``, or ``o:site``
    for a user not of the server's org: a job is judged where it is kept, as FLARE 2.9's server
    judges every command with its own org)."""
    condition = policy.condition(user.role, Right.VIEW)
    if condition == "any" or (condition == "o:site" and policy.home_org is not None and policy.home_org == user.org):
        return {}
    if condition == "n:submitter":
        return {"submitter": user.name}
    if condition == "o:submitter":
        return {"submitter_org": user.org}
    return None


def resolve_job(ctx: RequestContext, id_or_prefix: str) -> str:
    """The full job ID ``id_or_prefix`` names among the jobs the user may view (``view_filter``);
    the request's audit line records it. Every job command needs the view of its job as well as
    its own right (checked on the job after this: ``job_meta``, ``require_on_job``), whatever
    else the policy grants: a right that covers more jobs than the view (``download_job: any``
    with ``view: n:submitter``) reaches no more than the view.

    A job outside the view is answered as one that does not exist: JobNotFound with the same
    text, by the same single indexed query whether or not such a job is there; a prefix is
    ambiguous (InvalidArgumentError) only among the jobs in view, and names only those. So a
    scoped viewer learns neither the ID nor the existence of another's job."""
    store = ctx.server.store
    scope = view_filter(ctx.server.policy, principal(ctx.connection))
    try:
        if scope is None:  # the user may name no job at all
            raise no_such_job(id_or_prefix)
        job_id = store.resolve(id_or_prefix, **scope)
    except RemoteError as exc:
        if exc.error_type is not ErrorType.JOB_NOT_FOUND:
            raise
        if scope != {}:
            _note_hidden(ctx, id_or_prefix)
        gone = _deleted_in_view(ctx, id_or_prefix)
        if gone is None:
            raise
        # (its record, instead of the list_jobs hint: list_jobs no longer has it)
        raise RemoteError(ErrorType.JOB_NOT_FOUND, f"no such job: {id_or_prefix}; {gone}") from None
    ctx.notes["job_id"] = job_id
    return job_id


def _deleted_in_view(ctx: RequestContext, id_or_prefix: str) -> str | None:
    """The kept record of a deleted job ``id_or_prefix`` names, said, if the user's view covers that
    job as it covered the job before its delete (``console.server.deleted_jobs``); else None."""
    record = ctx.server.store.deleted(id_or_prefix)
    if record is None or not may_view(ctx.server.policy, principal(ctx.connection), record.submitter):
        return None
    return record.said()


def _note_hidden(ctx: RequestContext, id_or_prefix: str) -> None:
    """For the audit trail only (the user is told "no such job" all the same): the job outside the
    user's view that ``id_or_prefix`` names, so the operator sees the probe as refused, with its job
    (security tester, session 10, item 8). Looked up after the scoped lookup found nothing, for a
    job that is not there as for a hidden one."""
    try:
        ctx.notes[VIEW_REFUSED] = ctx.server.store.resolve(id_or_prefix)
    except RemoteError as exc:
        if exc.error_type is ErrorType.INVALID_ARGUMENT:  # ambiguous: several hidden jobs match
            ctx.notes[VIEW_REFUSED] = f"several jobs outside the view start with {id_or_prefix[:64]!r}"


def note_hidden_folder(ctx: RequestContext, job_id: str) -> None:
    """The audit trail's note that a file command on ``job_id``'s folder was answered as a folder that
    is not there because the job is outside the user's view (``_note_hidden``'s rule)."""
    ctx.notes[VIEW_REFUSED] = job_id


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


class MetaView:
    """Job metas as ``user`` is shown them (get_job_meta, list_jobs -d, a download's meta.json).

    With ``view: any`` a meta is shown as stored. Under a scoped ``view`` the fields that name
    another job or what only that job would tell are judged by the view of that job: a clone's
    ``cloned_from`` (the source's ID) reads ``HIDDEN_JOB`` unless its source is in view, and its
    ``signed_by`` (the signer of the source, or of the source's source) reads ``HIDDEN_SIGNER``
    unless the signer is the clone's own submitter, the user, or the submitter of a job in view
    back along the clone chain (and that name is left out of its ``job_errors``, where a refused
    signature names it). So a visible clone tells nothing of a hidden job, and the clone itself is
    still seen to be one. One instance per request: sources are looked up once."""

    def __init__(self, policy: Policy, user: Principal, store: JobLookup) -> None:
        self._policy, self._user, self._store = policy, user, store
        self._scoped = view_filter(policy, user) != {}
        self._viewable: dict[str, dict[str, Any] | None] = {}

    def shown(self, meta: dict[str, Any]) -> dict[str, Any]:
        if not self._scoped or not meta.get("cloned_from"):
            return meta
        shown = dict(meta)
        if self._source(meta) is None:
            shown["cloned_from"] = HIDDEN_JOB
        if "signed_by" in meta and not self._signer_shown(meta):
            shown["signed_by"] = HIDDEN_SIGNER
            if isinstance(meta.get("job_errors"), dict):  # a refused signature names its signer there too
                signer = str(meta["signed_by"])
                shown["job_errors"] = {
                    target: [str(error).replace(signer, HIDDEN_SIGNER) for error in errors]
                    if isinstance(errors, list) else errors for target, errors in meta["job_errors"].items()}
        return shown

    def _source(self, meta: dict[str, Any]) -> dict[str, Any] | None:
        """The meta of the job ``meta`` was cloned from, if it is there and in view."""
        source_id = str(meta["cloned_from"])
        if source_id not in self._viewable:
            source = self._store.get(source_id)
            self._viewable[source_id] = source if source and may_view(self._policy, self._user, source) else None
        return self._viewable[source_id]

    def _signer_shown(self, meta: dict[str, Any]) -> bool:
        for _ in range(_MAX_CLONE_STEPS):
            signer = meta.get("signed_by")
            if signer in (self._user.name, meta.get("submitter_name")) or not meta.get("cloned_from"):
                return True
            source = self._source(meta)
            if source is None:
                return False
            meta = source
        return False
