"""The one poll behind every monitor on NVIDIA FLARE (which pushes nothing), paced by what is likely to change.

A task alive while some job is followed. A followed job is checked when it is due (FLARE's
``get_job_meta``; one call per job however many monitors follow it); its meta goes to that
job's monitors and the backend publishes a ``job_status`` event when the status changed. Only
followed jobs are ever checked. Every call goes through the poll's own FLARE Session and worker
(``nvflare_side``): the user's commands never wait behind a check.

Each job has its own pace, the seconds until its next check:

- ``FAST_POLL`` when its watch starts and after each status change, since changes come in
  bursts (SUBMITTED, DISPATCHED and RUNNING within FLARE's scheduling seconds; a job that fails
  mostly fails as it starts). Each check that sees nothing new slows the pace by ``SLOW_DOWN``,
  up to the ceiling: ``POLL_INTERVAL``, or a monitor's shorter ``--interval`` (never below
  ``MIN_POLL_INTERVAL``). About 3 s of fast checks, then two a second.
- A RUNNING job's status changes only once its job process has ended (or is being aborted), and
  FLARE tells when that nears (``nvflare_progress``, measured on FLARE 2.9's POC). So while a
  job is RUNNING every other check reads its progress instead (``show_stats JOB server``; still
  a ``get_job_meta`` at least every ``META_EVERY``). Once its workflows are done (6-8 s before
  the final status) its progress is read no more (FLARE's server would hold its engine lock for
  the finalizing job process's answer, 0.3-1.3 s, and its launches, aborts and final-status sweep
  with it): checks alternate ``get_job_meta`` and whether a site still runs the job
  (``check_status client``) every ``SITES_POLL`` (the same from the job process's end when that is
  seen first, 0.7-3 s before): FLARE's job runner writes the final status at
  its once-a-second sweep after every site reported its outcome. Once at most one site still
  runs it (of two sites, the first let go 1-1.6 s before; the last one may still list the job
  after its outcome is in), ``get_job_meta`` is asked back to back, the next as soon as the
  previous answered, for at most ``BURST_MAX`` s at a time. The final status is seen about one
  call (7-14 ms) after it is written, whatever the job, first run of its name or not.
- When FLARE's progress cannot be read (a refusal, an unknown shape, a call slower than
  ``PROBE_SLOW``), the job goes back to ``get_job_meta`` alone, and ``FAST_POLL`` around the
  moment a RUNNING job is expected to end: its start time plus the median duration of the
  finished runs of the same job name (one ``list_jobs``), the window as wide as those runs
  differed, at least a fifth of the duration and at most ``WINDOW_MAX`` seconds on either side.
  Sites that cannot be asked (refused, an unreadable answer): back to back from the process's end.
  A job on more than ``SITES_BATCH`` sites has them asked that many per call, in turn; a site seen
  to have let go is not asked again, so "at most one still runs it" is known for every site.
  Never an error to the user.

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
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_progress import (
    SITES_BATCH,
    Progress,
    Stage,
    ask_sites,
    connected_sites,
    job_sites,
    probe,
    read_stats,
    running_sites,
)

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
#: Seconds between progress readings of a job whose workflows are done (its process is ending):
#: FLARE writes the final status 0.7 s or more after the process ended.
ENDING_POLL = 0.2
#: ...for at most this long: a job that takes longer to end goes back to the plain pace.
WINDING_MAX = 20.0
#: Seconds at most of back-to-back checks at a time once a job's process ended and at most one site
#: still runs it (FLARE wrote its final status within about a second on its POC, at its
#: once-a-second sweep), or once its process ended when its sites cannot be asked (0.7-3 s later).
BURST_MAX = 4.0
#: Seconds between checks, alternately get_job_meta and whether a site still runs the job, while
#: its server process has ended and some site still runs it (FLARE waits for every site's outcome,
#: up to 900 s by default; an aborted job's status does not wait).
SITES_POLL = 0.1
#: ...for at most this long, then the plain pace (sites slower than that to let go are rare; it
#: also bounds the cost of a process wrongly taken for ended).
SITES_WAIT_MAX = 10.0
#: While progress is read, a get_job_meta at least this often all the same.
META_EVERY = 1.0
#: A progress reading slower than this ends progress readings for that job: FLARE waits up to 5 s
#: for a job process that does not answer, holding the poll's checks of every other job. (As a
#: workflow finalizes, FLARE 2.9 holds show_stats for 0.6-1 s; that one is waited for.)
PROBE_SLOW = 2.5


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
    #: Progress readings (show_stats) still in use for this job; off for good once unreadable.
    probing: bool = True
    stage: Stage | None = None
    seen_working: bool = False
    winding_since: float = 0.0  # time.monotonic()
    #: When the last get_job_meta was asked (time.monotonic()).
    last_meta: float = 0.0
    #: Back-to-back checks until then (time.monotonic()); a job's end opens them once.
    burst_until: float = 0.0
    burst_spent: bool = False
    #: The job's sites (from its meta), whether asking them still works, and since when (time.monotonic())
    #: its server process has ended with some site still running it.
    sites: list[str] | None = None  # [] for every site
    #: The sites not yet seen to have let go of the job, in the order they are asked (None: not asked yet).
    pending: list[str] | None = None
    asking_sites: bool = True
    awaiting_sites: float | None = None
    last_kind: str = "meta"

    def next_check(self, now: float) -> str:
        """What the next check asks: "meta" (get_job_meta), "progress" (show_stats) or "sites" (check_status)."""
        if self.status != "RUNNING" or now < self.burst_until:
            return "meta"
        if self.awaiting_sites is not None:
            return "meta" if self.last_kind == "sites" else "sites"
        if self.probing and now - self.last_meta < META_EVERY:
            return "progress"
        return "meta"


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
                if job_id in self.paces:  # not unwatched by an earlier check's delivery
                    await self._check(job_id)
            if not self.watches:
                break
            wait = min(self.paces[j].due for j in self.watches) - time.monotonic()
            if wait > 0:  # back-to-back checks go round at once
                with contextlib.suppress(TimeoutError):  # a new watch wakes it early
                    await asyncio.wait_for(self._wake.wait(), wait)

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
        _advance(pace, read_stats(answer, error, pace.seen_working, took), time.monotonic())
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
                self._stop_asking(pace)
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
        if pace.awaiting_sites is None:
            pass  # (nothing waits for the sites any more)
        elif running is None or took > PROBE_SLOW:
            self._stop_asking(pace)
        elif now - pace.awaiting_sites > SITES_WAIT_MAX:
            pace.awaiting_sites = None
        elif len(pace.pending) <= 1:
            # The last site is letting go. It often reports its outcome, and FLARE sweeps, before
            # it stops listing the job: back to back from here (the sites again if that lasts).
            pace.burst_until = now + BURST_MAX
            if not pace.pending:
                pace.awaiting_sites = None
        self._reschedule(job_id, None)

    async def _call_sites(self, job_id: str, sites: list[str]) -> tuple[Any, str | None, float]:
        try:
            self.calls += 1
            return await self.backend.call_aside(ask_sites, {"sites": sites})
        except asyncio.CancelledError:
            raise
        except Exception:  # the link itself: the next get_job_meta reports it to the monitors
            return None, "NoConnection", 0.0

    @staticmethod
    def _stop_asking(pace: _Pace) -> None:
        pace.asking_sites, pace.awaiting_sites = False, None
        pace.burst_until = time.monotonic() + BURST_MAX

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
            pace.burst_until, pace.burst_spent, pace.stage, pace.awaiting_sites = 0.0, False, None, None
        else:
            pace.interval = min(pace.interval * SLOW_DOWN, ceiling)
        now = time.monotonic()
        if pace.status == "RUNNING" and now < pace.burst_until:
            pace.due = now  # the job's process ended: its final status is a sweep away
            return
        wait = pace.interval
        if pace.status == "RUNNING" and pace.awaiting_sites is not None:
            wait = SITES_POLL
        elif pace.status == "RUNNING" and pace.probing:
            if pace.stage is Stage.WINDING_DOWN and now - pace.winding_since < WINDING_MAX:
                wait = ENDING_POLL
        elif pace.expected_end is not None and pace.status == "RUNNING":
            to_window = pace.expected_end - pace.window - time.time()
            if -2 * pace.window <= to_window <= 0:
                wait = FAST_POLL
            elif to_window > 0:
                wait = min(wait, to_window)  # wake up as the window opens
        pace.due = now + max(min(wait, ceiling), FAST_POLL)

    async def _expect_end(self, job_id: str, meta: dict[str, Any]) -> None:
        """Once a job runs: when it is expected to end, from the finished runs of the same name."""
        pace = self.paces[job_id]
        if pace.history_asked or pace.probing or meta.get("status") != "RUNNING":
            return  # (while FLARE tells how far the job is, its history is not needed)
        pace.history_asked = True
        name, started = meta.get("name") or meta.get("job_name"), _when(meta.get("start_time"))
        if not name or started is None:
            return
        try:
            self.calls += 1
            rows = await self.backend.call_aside(COMMANDS["list_jobs"], {"name_prefix": name, "reverse": True})
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


def _advance(pace: _Pace, progress: Progress, now: float) -> None:
    """A job's pace after a progress reading (see the module's docstring)."""
    if progress.stage is Stage.UNREADABLE or progress.took > PROBE_SLOW:
        pace.probing, pace.stage = False, None
        return
    if progress.stage is Stage.UNKNOWN:
        pace.last_meta = float("-inf")  # the next check asks for the meta
        return
    if progress.stage is Stage.GONE:
        if not pace.burst_spent:  # back to back once the sites let go too (FLARE waits for them)
            pace.burst_spent = True
            if pace.asking_sites and pace.sites is not None:
                pace.awaiting_sites = now
            else:
                pace.burst_until = now + BURST_MAX
    else:
        pace.burst_spent = False  # the job process answers again: a later end opens its own burst
    if progress.stage is Stage.WORKING:
        pace.seen_working = True
    if progress.stage is Stage.WINDING_DOWN and pace.stage is not Stage.WINDING_DOWN:
        pace.winding_since = now
        # No more show_stats for this job: while its workflows finalize, FLARE's server holds its
        # engine lock for the job process's slow answer (0.3-1.3 s), and its job launches, aborts and
        # final-status sweep wait meanwhile. Its sites tell the rest (FLARE's status waits for them).
        pace.probing = False
        if pace.asking_sites and pace.sites is not None:
            pace.awaiting_sites = now
    pace.stage = progress.stage


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
