"""The one poll behind every monitor on NVIDIA FLARE (which pushes nothing), paced by what is likely to change.

A task alive while some job is followed. A followed job is checked when it is due (FLARE's
``get_job_meta``; one call per job however many monitors follow it); its meta goes to that
job's monitors and the backend publishes a ``job_status`` event when the status changed. Only
followed jobs are ever checked. Every call goes through the poll's own FLARE Session and worker
(``nvflare_side``): the user's commands never wait behind a check.

Owns the task, its FLARE calls and what reaches the monitors; it must not decide when a job is
next checked or what that check asks (``nvflare_pace``, which also tells the pace), nor read
FLARE's answers (``nvflare_progress``).

Load on FLARE's server, which spends about 5 ms of CPU on each of these calls (on its POC
``get_job_meta`` answers in 7-8 ms, ``list_jobs`` with an ID prefix in 6-9 ms, so no faster;
``show_stats`` in 8-11 ms, ``check_status client`` for 2 sites 12-20 ms): a job followed at
rest, two requests a second (1% of a core); its ending, five a second for a few seconds, ten
a second while its sites let go, about a hundred a second for the last half second or so.
FLARE's 10 s hello-numpy-sag followed start to end: about 8-12 requests a second on average
(a console re-entering ``list_jobs`` with no pause: about 100).

With N sites the requests stay those: while the sites let go, one ``check_status client`` every
other ``SITES_POLL`` (five a second) naming at most ``SITES_BATCH`` sites, so FLARE's server
relays at most 160 questions a second to its sites whatever N (a job on ``@ALL`` sites first asks
``check_status server`` once for their names). One pass over N sites takes ceil(N / 32) of these
calls (100 sites: 4, 0.8 s), fewer as sites let go and are not asked again; so with more than 32
sites the final status may be seen up to two ``SITES_POLL`` after it was written (the alternating
get_job_meta) instead of one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

from console.backends.base import note_round
from console.backends.nvflare_commands import COMMANDS, list_jobs
from console.backends.nvflare_pace import (
    FAST_POLL,
    Pace,
    advance,
    ceiling_of,
    expect_end,
    reschedule,
    sites_answered,
    stop_asking,
    when,
)
from console.backends.nvflare_progress import (
    SITES_BATCH,
    ask_sites,
    connected_sites,
    job_sites,
    probe,
    read_stats,
    running_sites,
)
from console.within import within


class _Watch:
    """One monitor's view of the shared poll: the latest meta of its job, and a wake-up."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.meta: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.changed = asyncio.Event()


class FlareCalls(Protocol):
    """What the poll (and ``nvflare_logs``) use of the FLARE backend (``console.backends.nvflare.FlareBackend``)."""

    async def call(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any], what: str = "") -> Any:
        """``func(session, args)`` with the user's FLARE Session, on the backend's worker (``nvflare_logs``);
        a failure in our words naming ``what`` was asked."""
        ...

    async def call_aside(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any], what: str = "") -> Any:
        """The same on the poll's own Session and worker (``nvflare_side``): never behind the user's calls."""
        ...

    def note_status(self, meta: dict[str, Any]) -> None:
        """A job's meta as polled: the backend publishes a status change from it."""
        ...

    @property
    def rounds_seen(self) -> dict[str, dict[str, Any]]:
        """The session's last known round of each job (``Backend.rounds_seen``)."""
        ...


class JobPoll:
    """The one poll behind every monitor on FLARE: a task alive while some job is followed."""

    def __init__(self, backend: FlareCalls) -> None:
        self.backend = backend
        self.watches: dict[str, set[_Watch]] = {}
        self.statuses: dict[str, str] = {}
        self.paces: dict[str, Pace] = {}
        #: FLARE calls this poll made (``get_job_meta`` and ``list_jobs``): the load it puts on FLARE's server.
        self.calls = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def watch(self, job_id: str, interval: float) -> _Watch:
        watch = _Watch(interval)
        self.watches.setdefault(job_id, set()).add(watch)
        if job_id not in self.paces:  # the caller just read its meta: the first check can wait a fast tick
            self.paces[job_id] = Pace(due=time.monotonic() + FAST_POLL)
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
                if job_id in self.paces:  # not unwatched by an earlier check's delivery
                    await self._check(job_id)
            if not self.watches:
                break
            wait = min(self.paces[j].due for j in self.watches) - time.monotonic()
            if wait > 0:  # back-to-back checks go round at once
                with contextlib.suppress(TimeoutError):  # a new watch wakes it early
                    await within(self._wake.wait(), wait)

    async def _check(self, job_id: str) -> None:
        pace = self.paces[job_id]
        pace.last_kind = kind = pace.next_check(time.monotonic())
        if kind != "meta":
            await (self._read_progress(job_id) if kind == "progress" else self._ask_sites(job_id))
            return
        try:
            pace.last_meta = time.monotonic()
            self.calls += 1
            meta = await self.backend.call_aside(COMMANDS["get_job_meta"], {"job_id": job_id})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # delivered to the monitors of this job, which decide
            self._deliver(job_id, None, exc)
            self._reschedule(job_id, None)
            return
        self._deliver(job_id, meta, None)
        if job_id in self.watches:
            pace.sites = job_sites(meta)
            await self._expect_end(job_id, meta)
            self._reschedule(job_id, meta)

    async def _read_progress(self, job_id: str) -> None:
        """Ask FLARE how far the RUNNING job is; nothing reaches the monitors (the meta is unchanged)."""
        try:
            self.calls += 1
            answer, error, took = await self.backend.call_aside(probe, {"job_id": job_id})
        except asyncio.CancelledError:
            raise
        except Exception:  # the link itself: the next get_job_meta reports it to the monitors
            answer, error, took = None, "NoConnection", 0.0
        pace = self.paces.get(job_id)
        if pace is None:
            return
        progress = read_stats(answer, error, pace.seen_working, took)
        if progress.current_round is not None:  # for views opened later (top); FLARE's controllers count from 0
            at = progress.current_round + 1
            note_round(self.backend.rounds_seen, job_id, min(at, progress.num_rounds or at), progress.num_rounds)
        advance(pace, progress, time.monotonic())
        self._reschedule(job_id, None)

    async def _ask_sites(self, job_id: str) -> None:
        """Whether a site still runs the job whose server process has ended (FLARE's status waits for them).

        Asks at most ``SITES_BATCH`` of the sites not yet seen to let go, the ones asked longest ago
        first; a job deployed to every site (``@ALL``) first learns their names from FLARE's server.
        """
        pace = self.paces[job_id]
        if pace.pending is None and not pace.sites:
            answer, error, _took = await self._call_sites(job_id, [])
            if self.paces.get(job_id) is not pace:
                return
            pace.pending = connected_sites(answer, error)
            if pace.pending is None:  # nobody to ask: as when sites cannot be asked
                stop_asking(pace, time.monotonic())
                self._reschedule(job_id, None)
                return
        if pace.pending is None:
            pace.pending = list(pace.sites or [])
        asked = pace.pending[:SITES_BATCH]
        answer, error, took = await self._call_sites(job_id, asked)
        if self.paces.get(job_id) is not pace:
            return
        running, now = running_sites(answer, error, job_id, asked), time.monotonic()
        if running is not None:  # those still running go to the back, to be asked after the others
            pace.pending = pace.pending[len(asked):] + [s for s in asked if s in running]
        sites_answered(pace, running is not None, took, now)
        self._reschedule(job_id, None)

    async def _call_sites(self, job_id: str, sites: list[str]) -> tuple[Any, str | None, float]:
        try:
            self.calls += 1
            return await self.backend.call_aside(ask_sites, {"sites": sites})
        except asyncio.CancelledError:
            raise
        except Exception:  # the link itself: the next get_job_meta reports it to the monitors
            return None, "NoConnection", 0.0

    def _deliver(self, job_id: str, meta: dict[str, Any] | None, error: BaseException | None) -> None:
        for watch in self.watches.get(job_id, ()):
            watch.meta, watch.error = meta, error
            watch.changed.set()
        if meta is not None:
            self.backend.note_status(meta)

    def _reschedule(self, job_id: str, meta: dict[str, Any] | None) -> None:
        pace = self.paces.get(job_id)
        if pace is None:
            return
        status = meta.get("status") if meta is not None else None
        ceiling = ceiling_of(w.interval for w in self.watches.get(job_id, ()))
        reschedule(pace, status, ceiling, time.monotonic(), time.time())

    async def _expect_end(self, job_id: str, meta: dict[str, Any]) -> None:
        """Once a job runs: when it is expected to end, from the finished runs of the same name."""
        pace = self.paces[job_id]
        if pace.history_asked or pace.probing or meta.get("status") != "RUNNING":
            return  # (while FLARE tells how far the job is, its history is not needed)
        pace.history_asked = True
        name, started = meta.get("name") or meta.get("job_name"), when(meta.get("start_time"))
        if not name or started is None:
            return
        try:
            self.calls += 1
            rows = await self.backend.call_aside(list_jobs, {"name_prefix": name, "reverse": True})
        except asyncio.CancelledError:
            raise
        except Exception:  # no history, no expectation: the pace stays the plain one
            return
        expect_end(pace, job_id, name, started, rows)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
