"""Where an admin command goes: the server or sites, the right it needs on each (``o:site``
rights depend on the site's org), and the same request asked of several sites at once.

Shared by the command handlers (system, shell, site admin, follow); owns no state: it reads
the server's policy and site registry through the request's context.
"""

from __future__ import annotations

import asyncio
from typing import Any

from console.commands import Right
from console.server import site_answers
from console.server.authz import principal
from console.server.site_answers import MalformedAnswer
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext

#: Answer time allowed to sites for an admin command, unless the session set its own.
DEFAULT_SITE_TIMEOUT = 10.0


def site_timeout(ctx: RequestContext) -> float:
    return ctx.connection.command_timeout or DEFAULT_SITE_TIMEOUT


def site_org(ctx: RequestContext, target: str) -> str:
    """The org ``o:site`` rights on ``target`` depend on: the server's, a connected site's (its
    certificate's), or an away site's as the server knows it (``site_directory``); a name that is
    no site of the project is refused (INVALID_TARGET), never given the server's org."""
    if target == "server":
        return ctx.server.kit.org
    site = ctx.server.sites.get(target)
    if site is not None:
        return site.org
    org = ctx.server.sites.directory.org_of(target)
    if org is None:
        known = ctx.server.sites.directory.known()
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        raise RemoteError(ErrorType.INVALID_TARGET, f"{target!r} is no site of this project (none is provisioned "
                                                    f"by that name, nor has one connected); sites: {shown or 'none'}")
    return org


def require_on_target(ctx: RequestContext, right: Right, target: str, job: dict[str, Any] | None = None) -> None:
    """``right`` on the server or on one site (``o:site`` rights depend on the site's org: ``site_org``);
    with ``job`` (the meta of the job it is about: a job's log), a job-scoped condition is checked on that job."""
    what = target if job is None else f"job {job.get('job_id')} on {target}"
    ctx.server.policy.require(principal(ctx.connection), right, submitter=job, site_org=site_org(ctx, target),
                              what=what)


def chosen_sites(ctx: RequestContext, names: list[str] | None, right: Right | None = None) -> list[str]:
    """The sites a command addresses: those named (each must be connected), or all connected."""
    online = ctx.server.sites.online()
    if not names:
        chosen = sorted(online)
    else:
        unknown = [n for n in names if n not in online]
        if unknown:
            raise RemoteError(ErrorType.INVALID_TARGET, f"not connected: {', '.join(unknown)}; "
                                                        f"connected sites: {', '.join(sorted(online)) or 'none'}")
        chosen = list(dict.fromkeys(names))
    for site in chosen if right is not None else ():
        require_on_target(ctx, right, site)
    return chosen


async def ask_sites(ctx: RequestContext, sites: list[str], cmd: str, args: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The same request to several sites at once; each answer (of its shape: ``site_answers``), or
    ``{"error": ...}`` (the site is away, failed, or answered what is not of that shape), by site. A site whose
    heartbeat is late (``SiteRegistry.late``: frozen, or its network went) is not asked: ``{"error": "no reply:
    ..."}`` at once, so one silent site never holds the others' answers for the command timeout."""
    late = ctx.server.sites.late()

    async def one(site: str) -> Any:
        connected = ctx.server.sites.get(site)
        if connected is None:
            return {"error": f"{site} is not connected"}
        if site in late:
            return {"error": late_words(site, late[site])}
        try:
            return await site_answers.ask(site, connected.link, cmd, args, timeout=site_timeout(ctx))
        except MalformedAnswer as exc:
            return {"error": exc.message}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    answers = await asyncio.gather(*(one(site) for site in sites))
    return dict(zip(sites, answers, strict=True))


def late_words(site: str, seconds: float) -> str:
    """Why a site whose heartbeat is late (``seconds`` unanswered) was not asked, and what to do."""
    return (f"no reply: {site} has not answered its heartbeat for {seconds:.0f} s (frozen, or its network went), "
            "so it was not asked; ask again once it answers (the server drops it if it stays silent)")
