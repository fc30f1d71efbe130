"""After a crash: the jobs the server was running when it died (``FINISHED:ABANDONED``).

Two things the server finishes for them once it is back:

- **Its own workspace** is archived at start in the background (``kept_workspace.tidy_at_start``),
  so a big one never holds up the start. Until a job's archive is written, ``download_job``
  waits for it (``ARCHIVING_WAIT_SECONDS`` at most), then says plainly that the job is still
  being archived and to retry: never a download with its ``workspace/`` silently missing.
- **Its sites' workspaces** stayed on the sites. Each site that took part (its deploy_map
  names it, or its deploy record lists it: recorded at start, ``expect``) is asked for it once,
  when it connects again, as for a finished job: the job is stopped there first,
  then ``get_workspace`` streams it in with the same limits, checks and pace
  (``workspace_fetch.fetch_workspace``), into ``sites/<site>.zip`` (written whole or not at all: a
  download never gets half of one). The job's ``job_errors`` then say it was collected (or that
  the site had none, or that its archive was refused), in place of the note that it was not collected
  when the job ended with the site away (``console.server.job_errors``: one note, never both). What is still to
  collect is kept in ``pending_workspace_collects.json`` beside the job store, so it outlives
  another restart; a site that never comes back holds up nothing, and deleting the job forgets it.
  What a site says at login is never a source: a site that claims a job no record names it in (any
  org's site, with its own kit: security finding 3) gets one line in the log and nothing else
  (``console.server.site_claims``), and its workspace is not collected, so it cannot plant files in
  another org's result, nor replace its own part at a later login.

A job that ended while one of its sites was away (its process died, it shut down, its link dropped)
hands that site's workspace to the same pending list (``Deployment.collect_workspaces``): it is
collected the same way when the site connects again.

Owns those two waits and the pending list; the store owns the job's files and meta.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Iterable
from typing import Protocol

from console.runtime.limits import cut
from console.server.deployment import AWAY_SETTLED, SITE_COMMAND_TIMEOUT
from console.server.kept_workspace import left_out_error, note
from console.server.site_job_lists import SiteJobsFile, load_site_jobs
from console.server.store import JobStore
from console.server.workspace_fetch import REFUSED_ARCHIVE, fetch_workspace, refused_archive
from console.wire.errors import ErrorType, RemoteError
from console.wire.exceptions import JobNotFound
from console.wire.kit import ServerKit
from console.wire.pace import Pace
from console.wire.requesting import Requester
from console.within import within

log = logging.getLogger("console.server.abandoned")

PENDING_FILE = "pending_workspace_collects.json"
#: How long a download_job waits for an abandoned job's workspace being archived at start.
ARCHIVING_WAIT_SECONDS = 10.0
COLLECTED = "its workspace was collected when it connected again"
NONE_THERE = "it had no workspace of the job when it connected again: nothing to collect"


class Host(Protocol):
    """What this needs of the server: its kit (limits, pace) and job store."""

    @property
    def kit(self) -> ServerKit: ...

    @property
    def store(self) -> JobStore: ...


class AbandonedJobs:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._file = host.store.root / PENDING_FILE
        self._writer = SiteJobsFile(self._file)
        #: site -> the abandoned jobs whose workspace it still holds
        self.pending: dict[str, list[str]] = load_site_jobs(self._file)
        self._archiving: dict[str, asyncio.Event] = {}
        self._tidied = asyncio.Event()
        self._tidied.set()
        self._collecting: dict[str, asyncio.Task[None]] = {}  # per site

    # -- the server's own workspace, archived at start ---------------------------------------

    def archiving(self, job_ids: Iterable[str]) -> None:
        """The start's tidying begins, and archives these jobs' workspaces (on the loop, before it
        starts; ``all_archived`` when it is over)."""
        for job_id in job_ids:
            self._archiving[job_id] = asyncio.Event()
        self._tidied.clear()

    def archived(self, job_id: str) -> None:
        """One job's archiving is over (done, or failed: its folder then stays whole). On the loop."""
        event = self._archiving.pop(job_id, None)
        if event is not None:
            event.set()

    def all_archived(self) -> None:
        for job_id in list(self._archiving):
            self.archived(job_id)
        self._tidied.set()

    async def wait_archived(self, job_id: str, timeout: float = ARCHIVING_WAIT_SECONDS) -> None:
        """Return once the job's workspace is archived (at once when it is not being archived);
        raises RemoteError (JobNotDone) when ``timeout`` seconds pass first."""
        event = self._archiving.get(job_id)
        if event is None:
            return
        try:
            await within(event.wait(), timeout)
        except TimeoutError:
            raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id}'s workspace is still being archived after the "
                                                      "server's restart; download it again in a moment") from None

    # -- the sites' workspaces, collected as they connect again ------------------------------

    def _save(self) -> None:
        self._writer.write(self._writer.taken(self.pending))

    def expect(self, sites_of: dict[str, set[str]]) -> None:
        """At start: each abandoned job's workspace is to be collected from its ``sites_of[job]``."""
        for job_id, sites in sites_of.items():
            for site in sorted(sites):
                jobs = self.pending.setdefault(site, [])
                if job_id not in jobs:
                    jobs.append(job_id)
        if sites_of:
            self._save()

    def forget(self, job_id: str) -> None:
        """The job is deleted: nothing of it is collected any more."""
        changed = False
        for jobs in self.pending.values():
            if job_id in jobs:
                jobs.remove(job_id)
                changed = True
        if changed:
            self._save()

    def on_login(self, site: str, link: Requester, running: set[str]) -> set[str]:
        """``site`` connected (``running``: the jobs it says it still runs): collect, in the background,
        what it holds of the abandoned jobs whose records name it (``expect``), once each. The jobs
        handled so; the caller stops none of them itself (each is stopped here before its workspace
        is asked for). A job it claims that no record names it in is not collected: the caller stops it."""
        jobs = list(self.pending.get(site, []))
        if not jobs:
            return set()
        old = self._collecting.get(site)
        if old is not None:  # it was collecting on a link now replaced: on the new one instead
            old.cancel()
        task = asyncio.create_task(self._collect(site, link, jobs, running))
        self._collecting[site] = task
        task.add_done_callback(lambda done: self._collecting.pop(site) if self._collecting.get(site) is done else None)
        return set(jobs)

    async def stop(self) -> None:
        for task in list(self._collecting.values()):
            task.cancel()
        await asyncio.gather(*self._collecting.values(), return_exceptions=True)

    async def _collect(self, site: str, link: Requester, jobs: list[str], running: set[str]) -> None:
        await self._tidied.wait()  # the start's notes in job_errors are written first
        for job_id in jobs:
            if link.closed:
                return  # away again: tried at its next connection
            if job_id in running:
                try:
                    await link.request("abort_job", {"job_id": job_id}, timeout=SITE_COMMAND_TIMEOUT)
                except Exception as exc:
                    log.info("job %s: abort_job on %s: %s", job_id, site, cut(str(exc)))
            try:
                message = await self._fetch(site, link, job_id)
            except Exception as exc:  # lost, too slow, refused: tried again at its next connection
                log.warning("job %s (abandoned): the workspace of %s was not collected: %s", job_id, site,
                            cut(str(exc) or type(exc).__name__))
                continue
            if message is not None:
                # In place of "not collected: the site was away" when the job's end left that note: never both.
                await asyncio.wrap_future(self.host.store.write(note, self.host.store, job_id, message, site,
                                                                AWAY_SETTLED))
                log.info("job %s (abandoned): %s: %s", job_id, site, message.split(";")[0])
            if job_id in self.pending.get(site, []):
                self.pending[site].remove(job_id)
                await asyncio.to_thread(self._writer.write, self._writer.taken(self.pending))

    async def _fetch(self, site: str, link: Requester, job_id: str) -> str | None:
        """Bring the site's workspace of the job into the store; what job_errors then say (None:
        the job is gone meanwhile)."""
        store = self.host.store
        meta = store.get(job_id)
        if meta is None:
            return None
        target_dir = store.job_dir(job_id) / "sites"
        target_dir.mkdir(parents=True, exist_ok=True)
        job_limits = self.host.kit.job_limits
        limit = job_limits.max_workspace_bytes
        limits = self.host.kit.connection_limits
        try:
            left_out = await fetch_workspace(link, job_id, target_dir / f"{site}.zip", job_limits,
                                             Pace(limits.transfer_floor_seconds, limits.min_transfer_bytes_per_second),
                                             timeout=SITE_COMMAND_TIMEOUT, submitter=meta.get("submitter_name"))
        except JobNotFound:
            return NONE_THERE
        except REFUSED_ARCHIVE as exc:  # asked again, it would send the same: said once, not retried
            log.warning("job %s: the workspace archive of %s was refused: %s", job_id, site, cut(str(exc)))
            return refused_archive(exc)
        if store.get(job_id) is None:  # deleted while it came: nothing of it stays
            with contextlib.suppress(OSError):
                shutil.rmtree(store.job_dir(job_id))
            return None
        if left_out:
            return f"{COLLECTED}; " + left_out_error(
                left_out, f"{limit} bytes or the site's own, if smaller (job_limits.max_workspace_bytes)",
                f"sites/{site}/")
        return COLLECTED
