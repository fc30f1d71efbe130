"""The one poll behind every monitor on NVIDIA FLARE (which pushes nothing).

A task alive while some job is followed: each tick it asks FLARE for the meta of every
followed job once (on the backend's worker, like every FLARE call), hands it to that job's
monitors and lets the backend publish a ``job_status`` event when a status changed.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from console.backends.nvflare_commands import COMMANDS

if TYPE_CHECKING:
    from console.backends.nvflare import FlareBackend

#: Seconds between two checks of the followed jobs (a monitor's --interval can only shorten it).
POLL_INTERVAL = 0.5
#: ...but never below this: a tiny --interval must not turn into a flood of requests to FLARE.
MIN_POLL_INTERVAL = 0.1


class _Watch:
    """One monitor's view of the shared poll: the latest meta of its job, and a wake-up."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.meta: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.changed = asyncio.Event()


class JobPoll:
    """The one poll behind every monitor on FLARE: a task alive while some job is followed."""

    def __init__(self, backend: FlareBackend) -> None:
        self.backend = backend
        self.watches: dict[str, set[_Watch]] = {}
        self.statuses: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, job_id: str, interval: float) -> _Watch:
        watch = _Watch(interval)
        self.watches.setdefault(job_id, set()).add(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return watch

    def unwatch(self, job_id: str, watch: _Watch) -> None:
        followers = self.watches.get(job_id)
        if followers is not None:
            followers.discard(watch)
            if not followers:
                del self.watches[job_id]

    async def _run(self) -> None:
        while self.watches:
            began = time.monotonic()
            for job_id in list(self.watches):
                try:
                    meta = await self.backend.call(COMMANDS["get_job_meta"], {"job_id": job_id})
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # delivered to the monitors of this job, which decide
                    self._deliver(job_id, None, exc)
                    continue
                self._deliver(job_id, meta, None)
            intervals = [w.interval for ws in self.watches.values() for w in ws]
            tick = max(min([POLL_INTERVAL, *intervals]), MIN_POLL_INTERVAL)
            await asyncio.sleep(max(tick - (time.monotonic() - began), 0.0))

    def _deliver(self, job_id: str, meta: dict[str, Any] | None, error: BaseException | None) -> None:
        for watch in self.watches.get(job_id, ()):
            watch.meta, watch.error = meta, error
            watch.changed.set()
        if meta is not None:
            self.backend.note_status(meta)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
