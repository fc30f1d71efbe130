"""The scheduler: queued jobs start oldest first when their sites are online and a slot is free.

A job that cannot be placed is retried with back-off (1 s doubling to 30 s), each attempt
counted in ``schedule_count`` as FLARE does; after ``max_schedule_count`` attempts it ends
``FINISHED:CAN_NOT_SCHEDULE``. Each pass looks at the whole queue (IDs only) and tries the
oldest jobs that are due, so jobs waiting out their back-off never hide one that could start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from console.jobdef.deploy_map import ALL_SITES, SERVER, app_targets
from console.server.interfaces import SchedulerHost
from console.server.status import JobStatus
from console.within import within

log = logging.getLogger("console.server.scheduler")

TICK_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
MAX_HISTORY = 30  # schedule_history keeps the last attempts, as many as max_schedule_count allows by default
_SCAN_LIMIT = 200


def required_sites(meta: dict[str, Any]) -> tuple[set[str], bool]:
    """Sites a job names, and whether it asks for all sites (``@ALL``)."""
    named: set[str] = set()
    all_sites = False
    for targets in app_targets(meta.get("deploy_map", {})).values():
        for target in targets:
            if target == ALL_SITES:
                all_sites = True
            elif target != SERVER:
                named.add(target)
    return named, all_sites


class Scheduler:
    def __init__(self, server: SchedulerHost) -> None:
        self.server = server
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_try: dict[str, tuple[float, float]] = {}  # job_id -> (when, backoff)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await within(self._wake.wait(), TICK_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.schedule_pass()
            except Exception:
                log.exception("scheduling pass failed")

    def placement(self, meta: dict[str, Any]) -> list[str] | None:
        """The sites to deploy to now, or None if the job cannot start yet."""
        named, all_sites = required_sites(meta)
        if not named and not all_sites:
            return []
        online = self.server.sites.online()
        mandatory = set(meta.get("mandatory_clients") or [])
        if not mandatory <= online:
            return None
        candidates = online if all_sites else named & online
        if len(candidates) < max(int(meta.get("min_clients") or 0), 1):
            return None
        return sorted(candidates)

    async def schedule_pass(self) -> None:
        server = self.server
        queued = server.store.queued_ids()
        now = time.monotonic()
        live = set(queued)
        for job_id in list(self._next_try):
            if job_id not in live:
                del self._next_try[job_id]
        due = [job_id for job_id in queued if self._next_try.get(job_id, (0.0, 0.0))[0] <= now][:_SCAN_LIMIT]
        for job_id in due:
            if server.runner.active_count >= server.kit.max_jobs:
                return
            meta = server.store.get(job_id)
            # A job just started has its DISPATCHED still on the store's writer thread: not twice.
            if meta is None or meta["status"] != JobStatus.SUBMITTED.value or server.runner.is_active(job_id):
                continue  # deleted or aborted since the IDs were read
            _, backoff = self._next_try.get(job_id, (0.0, 0.5))
            attempts = int(meta.get("schedule_count", 0)) + 1
            targets = self.placement(meta)
            result = "scheduled" if targets is not None else "not enough sites connected"  # FLARE's wording
            history = [*meta.get("schedule_history", []), f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {result}"]
            # On the store's writer thread (an fsync per attempt must not hold up the loop), awaited:
            # the next pass reads the count it wrote.
            await asyncio.wrap_future(server.store.write(
                server.store.update_meta, job_id, schedule_count=attempts, last_schedule_time=time.time(),
                schedule_history=history[-MAX_HISTORY:]))
            if targets is None:
                if attempts >= server.kit.max_schedule_count:
                    server.change_status(job_id, JobStatus.FINISHED_CAN_NOT_SCHEDULE)
                    self._next_try[job_id] = (float("inf"), backoff)  # until it has left the queue
                    continue
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                self._next_try[job_id] = (now + backoff, backoff)
                continue
            self._next_try.pop(job_id, None)
            meta = server.store.get(job_id)  # aborted or deleted while the attempt was written: not started
            if meta is None or meta["status"] != JobStatus.SUBMITTED.value or server.runner.is_active(job_id):
                continue
            server.runner.start(meta, targets)
