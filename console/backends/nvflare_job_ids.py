"""Job IDs on NVIDIA FLARE: a unique prefix of an ID resolved to the whole ID, as our server resolves them.

Owns what counts as a match (only IDs of FLARE's form that start with the prefix: the one resolved names
FLARE's download folder, ``destination/<job_id>``), the errors for no match and for an ambiguous prefix
(naming up to ``MAX_CANDIDATES`` candidates), and which arguments of a command are job IDs (the
registry's ``JOB_ID`` parameters). Must not import nvflare: it asks FLARE's ``list_jobs`` through the
backend's ``call``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from console.api import errors
from console.api.arguments import FULL_JOB_ID
from console.backends.nvflare_commands import list_jobs
from console.commands import CATALOG, ParamKind

#: Candidates named in an ambiguous-prefix error (as our server).
MAX_CANDIDATES = 5

#: ``FlareBackend.call``: ``func(session, args)`` with the user's FLARE Session.
Call = Callable[..., Awaitable[Any]]


async def resolve_job_id(call: Call, id_or_prefix: str) -> str:
    """The full job ID for a unique prefix (FLARE's list_jobs). Raises JobNotFound when nothing matches,
    InvalidArgumentError when more than one ID does."""
    if FULL_JOB_ID.fullmatch(id_or_prefix):
        return id_or_prefix
    rows = await call(list_jobs, {"id_prefix": id_or_prefix}, what="list_jobs")
    ids = sorted({r["job_id"] for r in rows if isinstance(r, dict) and isinstance(r.get("job_id"), str)
                  and FULL_JOB_ID.fullmatch(r["job_id"]) and r["job_id"].startswith(id_or_prefix)})
    if id_or_prefix in ids or len(ids) == 1:
        return id_or_prefix if id_or_prefix in ids else ids[0]
    if not ids:
        # (the hint as our server's no_such_job gives it: console.server.job_queries.NO_SUCH_JOB_HINT)
        raise errors.JobNotFound(f"no such job: {id_or_prefix}; list_jobs shows your jobs")
    names = {r["job_id"]: r.get("job_name") or r.get("name") or "" for r in rows}
    shown = ", ".join(f"{i} ({names.get(i, '')})" for i in ids[:MAX_CANDIDATES])
    more = " and more" if len(ids) > MAX_CANDIDATES else ""
    raise errors.InvalidArgumentError(
        f"job ID prefix '{id_or_prefix}' is ambiguous: it matches {shown}{more}; type more of the ID")


async def with_job_ids_resolved(call: Call, command: str, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` of ``command`` with each job ID argument given as a prefix resolved (a copy; ``args`` itself
    when it has none)."""
    job_params = [p.name for p in CATALOG[command].params if p.kind is ParamKind.JOB_ID and args.get(p.name)]
    if not job_params:
        return args
    args = dict(args)
    for name in job_params:
        args[name] = await resolve_job_id(call, str(args[name]).strip())
    return args
