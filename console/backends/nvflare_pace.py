"""When a followed job on NVIDIA FLARE is next checked, and what that check asks: the poll's pace.

Owns each followed job's ``Pace`` and how it moves after each answer (a status, a progress
reading, the sites' answer, the finished runs of the same name). Pure: it reads no clock (the
poll passes ``now``, ``time.monotonic()``, and wall-clock ``time.time()`` where needed), makes
no call to FLARE and touches no monitor; ``nvflare_poll`` does those, and ``nvflare_progress``
reads FLARE's answers.

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
  call (7-14 ms) after it is written, whatever the job, first run of its name or not; except
  when every site still listed the job at the last ``check_status client`` before it was written
  (both sites let go within one ``SITES_POLL`` of it: 2 runs of 17 on FLARE's POC on 2 cores),
  then at the next ``get_job_meta``, at most two ``SITES_POLL`` later (26 and 77 ms there).
- When FLARE's progress cannot be read (a refusal, an unknown shape, a call slower than
  ``PROBE_SLOW``), the job goes back to ``get_job_meta`` alone, and ``FAST_POLL`` around the
  moment a RUNNING job is expected to end: its start time plus the median duration of the
  finished runs of the same job name (one ``list_jobs``), the window as wide as those runs
  differed, at least a fifth of the duration and at most ``WINDOW_MAX`` seconds on either side.
  Sites that cannot be asked (refused, an unreadable answer): back to back from the process's end.
  A job on more than ``SITES_BATCH`` sites has them asked that many per call, in turn; a site seen
  to have let go is not asked again, so "at most one still runs it" is known for every site.
  Never an error to the user.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.backends.nvflare_progress import Progress, Stage
from console.durations import duration_seconds

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


@dataclass
class Pace:
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


def ceiling_of(intervals: Iterable[float]) -> float:
    """A job's slowest pace in seconds: ``POLL_INTERVAL``, or its monitors' shortest ``--interval``
    (0: none asked), never below ``MIN_POLL_INTERVAL``."""
    return max(min([POLL_INTERVAL, *(i for i in intervals if i > 0)]), MIN_POLL_INTERVAL)


def reschedule(pace: Pace, status: str | None, ceiling: float, now: float, wall: float) -> None:
    """Set ``pace.due`` after a check: ``status`` is the job's status it read (None: it read none),
    ``ceiling`` its slowest pace (``ceiling_of``), ``now`` monotonic and ``wall`` epoch seconds."""
    if status is not None and status != pace.status:
        pace.status, pace.interval = status, FAST_POLL
        pace.burst_until, pace.burst_spent, pace.stage, pace.awaiting_sites = 0.0, False, None, None
    else:
        pace.interval = min(pace.interval * SLOW_DOWN, ceiling)
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
        to_window = pace.expected_end - pace.window - wall
        if -2 * pace.window <= to_window <= 0:
            wait = FAST_POLL
        elif to_window > 0:
            wait = min(wait, to_window)  # wake up as the window opens
    pace.due = now + max(min(wait, ceiling), FAST_POLL)


def advance(pace: Pace, progress: Progress, now: float) -> None:
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


def sites_answered(pace: Pace, readable: bool, took: float, now: float) -> None:
    """A job's pace after asking whether its sites still run it (``pace.pending`` already holds those
    not seen to let go); ``readable``: False for a refusal or an answer not to be read."""
    if pace.awaiting_sites is None:
        pass  # (nothing waits for the sites any more)
    elif not readable or took > PROBE_SLOW:
        stop_asking(pace, now)
    elif now - pace.awaiting_sites > SITES_WAIT_MAX:
        pace.awaiting_sites = None
    elif pace.pending is not None and len(pace.pending) <= 1:
        # The last site is letting go. It often reports its outcome, and FLARE sweeps, before
        # it stops listing the job: back to back from here (the sites again if that lasts).
        pace.burst_until = now + BURST_MAX
        if not pace.pending:
            pace.awaiting_sites = None


def stop_asking(pace: Pace, now: float) -> None:
    """The job's sites cannot be asked: back to back from now, as when its process ended."""
    pace.asking_sites, pace.awaiting_sites = False, None
    pace.burst_until = now + BURST_MAX


def expect_end(pace: Pace, job_id: str, name: str, started: float, rows: list[dict[str, Any]]) -> None:
    """When the RUNNING job ``job_id`` that started at ``started`` (epoch seconds) is expected to end,
    from FLARE's ``list_jobs`` ``rows`` (most recent first): the finished runs of the same ``name``."""
    durations = [d for r in rows if (r.get("job_name") or r.get("name")) == name
                 and r.get("status") == "FINISHED:COMPLETED" and r.get("job_id") != job_id
                 and (d := duration_seconds(r.get("duration"))) is not None][:HISTORY]
    if durations:
        expected = statistics.median(durations)
        pace.expected_end = started + expected
        # As wide as the earlier runs differ (FLARE's 10 s hello-numpy-sag: by 1-2 s), at least 1 s or a fifth.
        pace.window = min(max(1.0, 0.2 * expected, max(durations) - min(durations)), WINDOW_MAX)


def when(stamp: Any) -> float | None:
    """FLARE's ISO time stamp (``start_time``) as seconds since the epoch; None when absent or unreadable."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None
