"""``deleted_jobs``: the store's record of deleted jobs (``console.server.deleted_jobs``), as the
user's ``view`` covers them. Our engine's own command: FLARE keeps no such record. Reads the store and
the policy only."""

from __future__ import annotations

from typing import Any

from console.server.authz import principal
from console.server.handlers import handles
from console.server.job_access import view_filter
from console.wire.request_context import RequestContext


@handles("deleted_jobs")
async def deleted_jobs(ctx: RequestContext, args: dict[str, Any]) -> list[dict[str, str]]:
    # The records of the jobs the view covers, judged by each job's submitter as list_jobs judges a job.
    scope = view_filter(ctx.server.policy, principal(ctx.connection))
    if scope is None:
        return []
    return [record.row() for record in ctx.server.store.list_deleted(args["limit"], **scope)]
