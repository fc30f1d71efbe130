"""Completion data kept fresh: a fetch in the background, pushed changes in between.

A fetch asks for the newest ``MAX_JOBS_KEPT`` jobs only, reads the answer a row at a time as it
comes (``console.wire.json_rows`` on ours; FLARE's list_jobs with its limit) and takes the rows in
slices, handing the loop back between them: a store of 300,000 jobs, or a server that answers
with them whatever it is asked, never holds a key echo.

The data comes from the backend (pushed events on ours, polls on FLARE). A refresh builds a new ``CompletionData`` off to the side and swaps it in whole, so a
keystroke never sees a half-built index; status pushes that arrive while it is being
built are replayed onto the new one before the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from console.backends.base import Backend
from console.shell.completion_data import MAX_JOBS_KEPT, MAX_SITES_KEPT, CompletionData

#: Rows taken into completion data between two returns to the event loop (a few ms each).
SLICE_ROWS = 500
#: Jobs a poll between full refreshes fetches (the newest: where submissions and status changes are).
TOP_UP_JOBS = 200
#: Polls from one full refresh to the next.
FULL_EVERY = 6


class CompletionRefresher:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.data = CompletionData()
        self._task: asyncio.Task[None] | None = None  # a full refresh
        self._top: asyncio.Task[None] | None = None  # a top-up a stale menu started
        self._pending: list[tuple[str, dict[str, Any]]] | None = None
        backend.add_event_listener(self._on_event)

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        self._apply(self.data, topic, data)
        if self._pending is not None:
            self._pending.append((topic, data))

    @staticmethod
    def _apply(target: CompletionData, topic: str, data: dict[str, Any]) -> None:
        site = data.get("site")
        if topic == "site_status" and isinstance(site, str):
            up = data.get("status") == "connected"
            if len(target.seen_sites) < MAX_SITES_KEPT:
                target.seen_sites.add(site)
            elif site not in target.seen_sites:
                return
            target.sites = sorted((set(target.sites) | {site}) if up else (set(target.sites) - {site}))
            return
        job_id = data.get("job_id")
        if not isinstance(job_id, str):
            return
        if topic == "job_status":
            target.upsert(job_id, data.get("name"), data.get("status"))
        elif topic == "job_deleted":
            target.remove(job_id)

    def refresh(self) -> asyncio.Task[None]:
        """Start a background refresh (replacing one in progress); the task can be awaited."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.create_task(self._refresh())
        # A background refresh that fails (the link dropped under it) is not news: the toolbar and
        # the reconnect loop say so. Retrieving its exception here keeps it from surfacing as an
        # "unhandled exception" that stops the prompt; whoever awaits the task still gets it.
        self._task.add_done_callback(lambda task: task.cancelled() or task.exception())
        return self._task

    async def _refresh(self) -> None:
        self._pending = []
        try:
            rows = await self.backend.list_jobs(newest=MAX_JOBS_KEPT)
            fresh = CompletionData()
            for start in range(0, len(rows), SLICE_ROWS):  # the loop handed back between slices
                fresh.take(rows[start:start + SLICE_ROWS])
                await asyncio.sleep(0)
            fresh.index()
            fresh.sites = await self.backend.site_names(most=MAX_SITES_KEPT)
            fresh.seen_sites = set(fresh.sites) | set(list(self.data.seen_sites)[:MAX_SITES_KEPT - len(fresh.sites)])
            for topic, data in self._pending:
                self._apply(fresh, topic, data)
            self.data = fresh
        finally:
            self._pending = None

    def _refreshing(self) -> bool:
        return self._task is not None and not self._task.done()

    async def top_up(self) -> None:
        """Fetch only the newest ``TOP_UP_JOBS`` jobs and the sites, and patch them in
        (``CompletionData.merge``): what changes between two polls is at the new end. Not while a
        full refresh is under way (it brings all of it)."""
        if self._refreshing():
            return
        rows = await self.backend.list_jobs(newest=TOP_UP_JOBS)
        sites = await self.backend.site_names(most=MAX_SITES_KEPT)
        if self._refreshing():
            return  # a full refresh started meanwhile: its data replaces this one's
        data = self.data
        data.merge(rows)
        data.sites = sites
        for site in sites[:max(0, MAX_SITES_KEPT - len(data.seen_sites))]:
            data.seen_sites.add(site)
        data.fetched = time.monotonic()

    def stale(self) -> None:
        """Completion showed job data older than it should be: top it up in the background, unless
        a fetch is under way (called from completion, on the loop)."""
        if not self._refreshing() and (self._top is None or self._top.done()) and self.backend.connected:
            self._top = asyncio.create_task(self.top_up())
            self._top.add_done_callback(lambda task: task.cancelled() or task.exception())
            self.data.fetched = time.monotonic()  # one fetch per stale period, even if this one fails

    async def keep_fresh(self, every: float) -> None:
        """For engines that push nothing (FLARE): every ``every`` seconds the newest jobs and the
        sites (``top_up``), every ``FULL_EVERY`` times all that completion keeps (jobs deleted
        further back go then): jobs others submit and sites that come and go still reach
        completion. Runs until cancelled."""
        polls = 0
        while True:
            await asyncio.sleep(every)
            polls += 1
            if self.backend.connected:
                with contextlib.suppress(Exception):  # a lost link shows in the toolbar, not here
                    await (self.refresh() if polls % FULL_EVERY == 0 else self.top_up())

    def note_job(self, job_id: str, name: str = "", status: str = "SUBMITTED") -> None:
        """Record a job this shell just created, before any push or refresh mentions it."""
        self.data.upsert(job_id, name, status)
