"""Completion data kept fresh: a full fetch in the background, pushed changes in between.

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
from console.shell.completion_data import CompletionData


class CompletionRefresher:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.data = CompletionData()
        self._task: asyncio.Task[None] | None = None
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
            target.seen_sites.add(site)
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
            rows = await self.backend.list_jobs()
            fresh = CompletionData.from_rows(rows)
            fresh.sites = await self.backend.site_names()
            fresh.seen_sites = self.data.seen_sites | set(fresh.sites)
            for topic, data in self._pending:
                self._apply(fresh, topic, data)
            self.data = fresh
        finally:
            self._pending = None

    def stale(self) -> None:
        """Completion showed job data older than it should be: refresh it in the background, unless
        a refresh is under way (called from completion, on the loop)."""
        if (self._task is None or self._task.done()) and self.backend.connected:
            self.refresh()
            self.data.fetched = time.monotonic()  # one refresh per stale period, even if this one fails

    async def keep_fresh(self, every: float) -> None:
        """Refresh every ``every`` seconds, for engines that push nothing (FLARE): jobs others
        submit and sites that come and go still reach completion. Runs until cancelled."""
        while True:
            await asyncio.sleep(every)
            if self.backend.connected:
                with contextlib.suppress(Exception):  # a lost link shows in the toolbar, not here
                    await self.refresh()

    def note_job(self, job_id: str, name: str = "", status: str = "SUBMITTED") -> None:
        """Record a job this shell just created, before any push or refresh mentions it."""
        self.data.upsert(job_id, name, status)
