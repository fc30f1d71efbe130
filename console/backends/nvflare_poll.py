"""The one poll behind every monitor on NVIDIA FLARE (which pushes nothing), paced by what is likely to change.

A task alive while some job is followed. A followed job is checked when it is due (FLARE's
``get_job_meta``, on the backend's worker like every FLARE call; one call per job however many
monitors follow it); its meta goes to that job's monitors and the backend publishes a
``job_status`` event when the status changed. Only followed jobs are ever checked.

Each job has its own pace, the seconds until its next check:

- ``FAST_POLL`` when its watch starts and after each status change, since changes come in
  bursts (SUBMITTED, DISPATCHED and RUNNING within FLARE's scheduling seconds; a job that fails
  mostly fails as it starts). Each check that sees nothing new slows the pace by ``SLOW_DOWN``,
  up to the ceiling: ``POLL_INTERVAL``, or a monitor's shorter ``--interval`` (never below
  ``MIN_POLL_INTERVAL``). About 3 s of fast checks, then two a second.
- ``FAST_POLL`` again around the moment a RUNNING job is expected to end: its start time plus
  the median duration of the finished runs of the same job name (one ``list_jobs`` when it starts
  running), since the same job is run again and again (clones, resubmits). The window is as wide
  as those runs differed, at least a fifth of the duration and at most ``WINDOW_MAX`` seconds on
  either side, so a long job's uncertain end costs few extra checks.

FLARE's server spends about 5 ms of CPU on a ``get_job_meta`` (measured on its POC): a job
followed at rest costs it 1% of a core, a fast phase 10% for its few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from console.backends.nvflare_commands import COMMANDS

#: Seconds between two checks of a followed job at rest (a monitor's --interval can only shorten it).
POLL_INTERVAL = 0.5
#: ...but a monitor's tiny --interval never below this: it must not turn into a flood of requests to FLARE.
MIN_POLL_INTERVAL = 0.1
#: Seconds between checks while a change is likely (see the module's docstring).
FAST_POLL = 0.05
#: Each check that saw no change multiplies the pace by this, back up to the ceiling.
SLOW_DOWN = 1.15
#: Seconds at most before and after a RUNNING job's expected end that it is checked at FAST_POLL.
WINDOW_MAX = 5.0
#: Finished runs of the same name that the expected duration is the median of (the most recent).
HISTORY = 5


class _Watch:
    """One monitor's view of the shared poll: the latest meta of its job, and a wake-up."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.meta: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.changed = asyncio.Event()


@dataclass
class _Pace:
    """When a followed job is next checked, and what its pace is based on."""

    interval: float = FAST_POLL
    due: float = 0.0  # time.monotonic()
    status: str | None = None
    #: Wall-clock time (time.time()) a RUNNING job is expected to end, and how wide its window is.
    expected_end: float | None = None
    window: float = 0.0
    history_asked: bool = False


class FlareCalls(Protocol):
    """What the poll uses of the FLARE backend (``console.backends.nvflare.FlareBackend``)."""

    async def call(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any]) -> Any:
        """``func(session, args)`` with the live FLARE Session, on the backend's worker."""
        ...

    def note_status(self, meta: dict[str, Any]) -> None:
        """A job's meta as polled: the backend publishes a status change from it."""
        ...


class JobPoll:
    """The one poll behind every monitor on FLARE: a task alive while some job is followed."""

    def __init__(self, backend: FlareCalls) -> None:
        self.backend = backend
        self.watches: dict[str, set[_Watch]] = {}
        self.statuses: dict[str, str] = {}
        self.paces: dict[str, _Pace] = {}
        #: FLARE calls this poll made (``get_job_meta`` and ``list_jobs``): the load it puts on FLARE's server.
        self.calls = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def watch(self, job_id: str, interval: float) -> _Watch:
        watch = _Watch(interval)
        self.watches.setdefault(job_id, set()).add(watch)
        if job_id not in self.paces:  # the caller just read its meta: the first check can wait a fast tick
            self.paces[job_id] = _Pace(due=time.monotonic() + FAST_POLL)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return watch

    def unwatch(self, job_id: str, watch: _Watch) -> None:
        followers = self.watches.get(job_id)
        if followers is not None:
            followers.discard(watch)
            if not followers:
                del self.watches[job_id]
                self.paces.pop(job_id, None)

    async def _run(self) -> None:
        while self.watches:
            self._wake.clear()
            for job_id in [j for j in list(self.watches) if self.paces[j].due <= time.monotonic()]:
                await self._check(job_id)
            if not self.watches:
                break
            wait = min(self.paces[j].due for j in self.watches) - time.monotonic()
            with contextlib.suppress(TimeoutError):  # a new watch wakes it early
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    async def _check(self, job_id: str) -> None:
        try:
            self.calls += 1
            meta = await self.backend.call(COMMANDS["get_job_meta"], {"job_id": job_id})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # delivered to the monitors of this job, which decide
            self._deliver(job_id, None, exc)
            self._reschedule(job_id, None)
            return
        self._deliver(job_id, meta, None)
        if job_id in self.watches:
            await self._expect_end(job_id, meta)
            self._reschedule(job_id, meta)

    def _deliver(self, job_id: str, meta: dict[str, Any] | None, error: BaseException | None) -> None:
        for watch in self.watches.get(job_id, ()):
            watch.meta, watch.error = meta, error
            watch.changed.set()
        if meta is not None:
            self.backend.note_status(meta)

    def _ceiling(self, job_id: str) -> float:
        asked = [w.interval for w in self.watches.get(job_id, ()) if w.interval > 0]
        return max(min([POLL_INTERVAL, *asked]), MIN_POLL_INTERVAL)

    def _reschedule(self, job_id: str, meta: dict[str, Any] | None) -> None:
        pace = self.paces.get(job_id)
        if pace is None:
            return
        ceiling = self._ceiling(job_id)
        status = meta.get("status") if meta is not None else None
        if status is not None and status != pace.status:
            pace.status, pace.interval = status, FAST_POLL
        else:
            pace.interval = min(pace.interval * SLOW_DOWN, ceiling)
        wait = pace.interval
        if pace.expected_end is not None and pace.status == "RUNNING":
            to_window = pace.expected_end - pace.window - time.time()
            if -2 * pace.window <= to_window <= 0:
                wait = FAST_POLL
            elif to_window > 0:
                wait = min(wait, to_window)  # wake up as the window opens
        pace.due = time.monotonic() + max(min(wait, ceiling), FAST_POLL)

    async def _expect_end(self, job_id: str, meta: dict[str, Any]) -> None:
        """Once a job runs: when it is expected to end, from the finished runs of the same name."""
        pace = self.paces[job_id]
        if pace.history_asked or meta.get("status") != "RUNNING":
            return
        pace.history_asked = True
        name, started = meta.get("name") or meta.get("job_name"), _when(meta.get("start_time"))
        if not name or started is None:
            return
        try:
            self.calls += 1
            rows = await self.backend.call(COMMANDS["list_jobs"], {"name_prefix": name, "reverse": True})
        except asyncio.CancelledError:
            raise
        except Exception:  # no history, no expectation: the pace stays the plain one
            return
        durations = [d for r in rows if (r.get("job_name") or r.get("name")) == name
                     and r.get("status") == "FINISHED:COMPLETED" and r.get("job_id") != job_id
                     and (d := _seconds(r.get("duration"))) is not None][:HISTORY]
        if durations:
            expected = statistics.median(durations)
            pace.expected_end = started + expected
            # As wide as the earlier runs differ (FLARE's 10 s hello-numpy-sag: by 1-2 s), at least 1 s or a fifth.
            pace.window = min(max(1.0, 0.2 * expected, max(durations) - min(durations)), WINDOW_MAX)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _when(stamp: Any) -> float | None:
    """FLARE's ISO time stamp (``start_time``) as seconds since the epoch; None when absent or unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _seconds(duration: Any) -> float | None:
    """FLARE's ``duration`` ("H:MM:SS.ffffff") in seconds; None when absent or unreadable."""
    if not isinstance(duration, str) or duration.count(":") != 2:
        return None
    try:
        hours, minutes, seconds = duration.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
