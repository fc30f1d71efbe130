"""``monitor_job`` on NVIDIA FLARE: a job followed through the shared job poll until it ends.

Owns the monitor's loop (FLARE pushes nothing: it waits on the poll's change events for the job,
``nvflare_poll.JobPoll``), its timeout, the callback that may end it, and the check, as it starts and
every ``ORPHAN_CHECK`` s while the job is RUNNING, that FLARE's server still runs it (``nvflare_orphans``:
a restart of the server leaves it listed RUNNING for good). Must not import nvflare nor poll FLARE
itself: every call goes through the backend (``console.backends.nvflare.FlareBackend``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from console.api import errors
from console.api.async_session import is_final, keeps_going
from console.api.spec import MonitorReturnCode
from console.backends.base import SITES_SILENT, SITES_WITHOUT_JOB, MonitorCallback
from console.backends.nvflare_commands import orphaned
from console.backends.nvflare_orphans import orphan_message
from console.backends.nvflare_poll import FlareCalls, JobPoll
from console.backends.nvflare_progress import (
    SITES_BATCH,
    ask_sites,
    connected_sites,
    job_sites,
    running_sites,
    silent_sites,
)
from console.within import within

#: Seconds between a monitor's checks that the RUNNING job it follows still runs on FLARE's server (``nvflare_orphans``).
ORPHAN_CHECK = 30.0
#: Seconds between a monitor's ``check_status client`` of its RUNNING job's sites (FLARE tells no site's loss:
#: a killed site stays in its server's list until its heartbeat times out; flare10 item 15). One call on the
#: poll's Session, relayed by FLARE's server to those sites; a site that does not answer holds it for FLARE's
#: command timeout, the user's Session never.
SITES_CHECK = 10.0
#: At most this many sites are asked one by one, within this many seconds, when asking them all at once failed.
ALONE_SITES = 8
ALONE_SECONDS = 20.0
#: Seconds of RUNNING before a site without the job is said (FLARE starts its sites' job processes after RUNNING).
START_GRACE = 15.0


class MonitoredBackend(FlareCalls, Protocol):
    """What a monitor uses of the FLARE backend: its calls, its job poll and a job's meta (resolved ID)."""

    @property
    def poll(self) -> JobPoll: ...

    async def get_job_meta(self, job_id: str) -> dict[str, Any]: ...


async def monitor_job(backend: MonitoredBackend, job_id: str, timeout: float, interval: float,
                      cb: MonitorCallback | None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
    """As FLARE's ``Session.monitor_job``: how the monitor ended and the job's last meta. ``timeout``: seconds
    (0: none); ``interval``: seconds between the poll's checks of this job. While the job runs, the metas ``cb``
    gets carry ``SITES_SILENT`` (its sites that did not answer the last ``check_status client``, every
    ``SITES_CHECK`` s; each site asked alone when one holds up the call to all) and ``SITES_WITHOUT_JOB`` (sites
    that answered two checks in a row without running the job: a site restarted, or its job process killed;
    FLARE's job then waits for it). Raises JobNotRunning for a job orphaned by a server restart, and what the poll's check of
    the job raised."""
    meta = await backend.get_job_meta(job_id)
    full = meta["job_id"]
    start = time.monotonic()
    await _unless_orphaned(backend, meta)  # as it starts, and again after a lost connection (a server restart)
    watch = backend.poll.watch(full, interval)
    checked = SiteCheck()  # not known until asked
    without: list[str] | None = None  # sites found twice running without the job (once: it may be starting it)
    next_orphan_check = next_sites_check = start + ORPHAN_CHECK
    running_since = start  # when this monitor saw the job RUNNING (its sites start their part after)
    if meta.get("status") == "RUNNING":
        next_sites_check = start  # at once: a site down before the monitor started is said too
    try:
        while True:
            shown = meta if checked.silent is None else {**meta, SITES_SILENT: checked.silent}
            if without is not None:
                shown[SITES_WITHOUT_JOB] = without
            if not await keeps_going(cb, shown):
                return MonitorReturnCode.ENDED_BY_CB, meta
            if is_final(meta.get("status")):
                return MonitorReturnCode.JOB_FINISHED, meta
            now = time.monotonic()
            remaining = timeout - (now - start) if timeout else None
            if remaining is not None and remaining <= 0:
                return MonitorReturnCode.TIMEOUT, meta
            due = min(next_orphan_check, next_sites_check) - now
            try:
                await within(watch.changed.wait(), max(min(remaining or due, due), 0))
            except TimeoutError:
                now = time.monotonic()
                if remaining is not None and now - start >= timeout:
                    return MonitorReturnCode.TIMEOUT, meta
                if now >= next_orphan_check:
                    next_orphan_check = now + ORPHAN_CHECK
                    await _unless_orphaned(backend, meta)
                if now >= next_sites_check:
                    next_sites_check = now + SITES_CHECK
                    if meta.get("status") == "RUNNING":
                        earlier, checked = checked, await _check_sites(backend, meta, checked)
                        if checked.without is not None and now - running_since >= START_GRACE:
                            without = sorted(set(checked.without) & set(earlier.without or []))
                continue
            watch.changed.clear()
            if watch.error is not None:
                raise watch.error
            assert watch.meta is not None
            if watch.meta.get("status") == "RUNNING" and meta.get("status") != "RUNNING":
                next_sites_check = running_since = time.monotonic()  # it started: are its sites there?
            meta = watch.meta
    finally:
        backend.poll.unwatch(full, watch)


@dataclass
class SiteCheck:
    """What one check of a running job's sites found: ``silent`` (no answer), ``without`` (answered, but does
    not run the job: its job process ended, a restarted site). None: not known this time."""

    silent: list[str] | None = None
    without: list[str] | None = None


async def _check_sites(backend: MonitoredBackend, meta: dict[str, Any], before: SiteCheck) -> SiteCheck:
    """The job's sites (its deploy_map's; @ALL: those FLARE's server lists) asked with ``check_status client`` now,
    on the poll's Session; what ``before`` knew where FLARE could not be asked (nothing new is known).

    One silent site fails FLARE's whole call (its admin command times out: "Server did not respond"), blinding
    it to the others; then each site is asked alone (``_ask_alone``)."""
    sites = job_sites(meta)
    if sites == []:  # @ALL
        answer, error, _took = await backend.call_aside(ask_sites, {"sites": []})
        sites = connected_sites(answer, error)
    if not sites:
        return before
    asked = sites[:SITES_BATCH]
    # A site found silent is asked alone, the rest together: it would fail their call again (FLARE's timeout twice).
    alone = [site for site in asked if site in (before.silent or [])]
    together = [site for site in asked if site not in alone]
    found: set[str] | None = set()
    without: set[str] = set()
    if together:
        answer, error, _took = await backend.call_aside(ask_sites, {"sites": together})
        found = silent_sites(answer, error, together)
        if found is None:
            return await _ask_alone(backend, meta["job_id"], asked, before) if error is not None else before
        without = set(together) - found - (running_sites(answer, error, meta["job_id"], together) or set())
    if alone:
        checked = await _ask_alone(backend, meta["job_id"], alone, before)
        found |= set(checked.silent or []) & set(alone)
        without |= set(checked.without or []) & set(alone)
    return SiteCheck(sorted(found), sorted(without))


async def _ask_alone(backend: MonitoredBackend, job_id: str, sites: list[str], before: SiteCheck) -> SiteCheck:
    """Each of ``sites`` asked on its own (at most ``ALONE_SITES`` of them, within ``ALONE_SECONDS``: each silent one
    holds the poll's Session for FLARE's command timeout). When none answers, the server is the likelier silent
    one (its connection is the monitor's concern): ``before``."""
    silent: set[str] = set(before.silent or []) & set(sites)
    without: set[str] = set(before.without or []) & set(sites)
    answered = False
    deadline = time.monotonic() + ALONE_SECONDS
    for site in sites[:ALONE_SITES]:
        if time.monotonic() >= deadline:
            break
        answer, error, _took = await backend.call_aside(ask_sites, {"sites": [site]})
        alone = silent_sites(answer, error, [site])
        if alone is None or alone:
            silent.add(site)
            without.discard(site)
            continue
        answered = True
        silent.discard(site)
        if job_id in {r.get("job_id") for r in answer["client_status"] if r.get("client_name") == site}:
            without.discard(site)
        else:
            without.add(site)
    return SiteCheck(sorted(silent), sorted(without)) if answered else before


async def _unless_orphaned(backend: MonitoredBackend, meta: dict[str, Any]) -> None:
    """JobNotRunning (the monitor says so once and ends) for a job orphaned by a server restart (``nvflare_orphans``)."""
    if meta.get("status") in ("RUNNING", "DISPATCHED") and await backend.call_aside(
            lambda s, a: orphaned(s, a["job_id"]), {"job_id": meta["job_id"]}, what="monitor_job"):
        raise errors.JobNotRunning(orphan_message(meta["job_id"], "monitor_job"))
