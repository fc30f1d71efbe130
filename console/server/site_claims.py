"""What a site says it runs, judged by what the server itself sent it.

A site names the jobs it still runs in its login answer (``site_answers.login``: under 64 KiB, so
~1,300 job IDs at most) and in its ``status`` answer (check_status). Either is only the site's word,
and costs the server nothing per job it names beyond the jobs the server sent there (security
tester, session 12: a site claiming ~1,200 made-up jobs at each login made the server write a
``log.txt`` line and send an ``abort_job`` for each; 125 logins in 20 s wrote 7.8 MB):

- the claims are looked up in the store at once (``JobStore.metas_of``, ``deleted_among``: a query
  a 500 IDs, never one each), the first ``MAX_CLAIMS`` distinct ones of a login only;
- a claim counts for a job the server sent to that site (``sent_to``: its deploy_map names the site
  or is ``@ALL``, or its deploy record lists it; security finding 3's rule) and for a job the server
  deleted (security finding 1: a site never keeps running what the server no longer has). Such a job
  not running here with that site is stopped there (its workspace removed too, when deleted), one
  log line each, summed up per site past a burst (``console.log_floods.per_peer``), the requests
  sent one after another on one task per login;
- every other claim (a made-up job, another site's job, any past ``MAX_CLAIMS``) is neither stopped
  nor logged one by one: one line per login names the site and how many (``say_ignored``), summed
  up per site like every line one identity can repeat at will.

Jobs the server's own lists hand the site at login (deleted jobs' workspaces to remove, abandoned
jobs' workspaces to collect) are theirs: the caller leaves them out (``handled``).

Owns the rule and its lines; the site registry (``console.server.sites``) calls it at each login.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.log_floods import per_peer
from console.server.job_commands import deployed_sites
from console.server.scheduler import required_sites
from console.wire.requesting import Requester

log = logging.getLogger("console.server.sites")

#: Distinct jobs of one login's claim looked up, at most (the rest only counted): far above what one
#: site runs (the server dispatches ``max_jobs`` jobs at once, 4 by default), far below what a login
#: answer holds (~1,300 IDs in 64 KiB).
MAX_CLAIMS = 256
#: Jobs named in the line about ignored claims, at most.
_EXAMPLES = 3
#: Seconds a site gets to answer each ``abort_job`` / ``delete_workspace`` of a stale job.
STOP_TIMEOUT = 10.0


class Store(Protocol):
    def metas_of(self, job_ids: Collection[str]) -> dict[str, dict[str, Any]]: ...

    def deleted_among(self, job_ids: list[str]) -> set[str]: ...


class Running(Protocol):
    @property
    def sites(self) -> list[str]: ...


def sent_to(site: str, meta: dict[str, Any]) -> bool:
    """Whether the job of ``meta`` went, or may have gone, to ``site``: its deploy_map names the site
    or is ``@ALL``, or its deploy record lists it (security finding 3)."""
    return required_sites(meta)[1] or site in deployed_sites(meta)


@dataclass
class Claims:
    """One login's claims, judged: ``stale`` (job ID, deleted by the server) to stop there;
    ``ignored`` the distinct claims looked up that count for nothing, ``past_cap`` those not looked up."""

    stale: list[tuple[str, bool]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    past_cap: int = 0


def judge(site: str, claimed: list[str], running: Mapping[str, Running], store: Store,
          handled: Collection[str] = ()) -> Claims:
    """``claimed`` (the job IDs of ``site``'s login answer, in its order, as checked by
    ``site_answers.login``) judged by the module's rule; ``running``: the server's running jobs by ID;
    ``handled``: jobs the server's own lists deal with at this login."""
    distinct = [job_id for job_id in dict.fromkeys(claimed) if job_id not in handled]
    looked, claims = distinct[:MAX_CLAIMS], Claims(past_cap=max(0, len(distinct) - MAX_CLAIMS))
    metas = store.metas_of(looked)
    deleted = store.deleted_among([job_id for job_id in looked if job_id not in metas])
    for job_id in looked:
        job, meta = running.get(job_id), metas.get(job_id)
        if job is not None and site in job.sites:
            continue  # running here with it: nothing to do
        if meta is not None and sent_to(site, meta):
            claims.stale.append((job_id, False))
        elif meta is None and job_id in deleted:
            claims.stale.append((job_id, True))
        else:
            claims.ignored.append(job_id)
    return claims


def say_ignored(site: str, claims: Claims) -> None:
    """One line for the claims that count for nothing (none when there are none), summed up per site."""
    count = len(claims.ignored) + claims.past_cap
    if not count:
        return
    examples = ", ".join(claims.ignored[:_EXAMPLES]) + (", ..." if count > _EXAMPLES else "")
    past = (f"; {claims.past_cap} of them past the {MAX_CLAIMS} a login is looked up for, not looked up"
            if claims.past_cap else "")
    log.warning("site %s said at login that it runs %d job(s) the server has no record of sending it (%s%s): "
                "ignored, none of them stopped there (a site's word is no record)", site, count, examples, past,
                extra=per_peer(site))


async def stop_stale(site: str, link: Requester, stale: list[tuple[str, bool]],
                     deleted_args: Callable[[str], dict[str, str]]) -> None:
    """Stop each ``stale`` job there, one after another (a deleted one's workspace removed too, with
    ``deleted_args(job_id)``), until the link fails."""
    for job_id, gone in stale:
        log.info("site %s still runs job %s, %s: stopping it there", site, job_id,
                 "which the server no longer has (its workspace there is removed too)" if gone else
                 "which is not running with it (it went on without the site, or ended)", extra=per_peer(site))
        try:
            await link.request("abort_job", {"job_id": job_id}, timeout=STOP_TIMEOUT)
            if gone:
                await link.request("delete_workspace", deleted_args(job_id), timeout=STOP_TIMEOUT)
        except Exception as exc:
            if link.closed:
                return  # away again: what is left is judged at its next login
            log.info("site %s did not stop job %s: %s", site, job_id, exc or type(exc).__name__,
                     extra=per_peer(site))
