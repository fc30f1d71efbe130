"""The shared job poll on FLARE (``console.backends.nvflare_poll``): its pace, against a scripted FLARE.

FLARE itself stands behind the poll's one interface (``backend.call(command, args)`` running our
FLARE command functions on a Session): here the Session answers from a script of job states
in wall-clock time, so the pace can be watched over seconds without a POC (the live POC tests
follow real jobs). Asserted: what a monitor gets and when, and how many requests FLARE's server
gets; bounds are loose on the side that a loaded machine stretches.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from console.backends.nvflare_poll import FAST_POLL, POLL_INTERVAL, JobPoll


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat()


def _duration(seconds: float) -> str:
    return f"0:00:{seconds:09.6f}"  # FLARE's H:MM:SS.ffffff


class ScriptedFlare:
    """A FLARE Session whose job runs from ``start`` for ``runs`` seconds, with finished runs of the
    same name that took ``history`` seconds each."""

    def __init__(self, runs: float, history: list[float]) -> None:
        self.start = time.time()
        self.end = self.start + runs
        self.history = history
        self.metas: list[float] = []  # when get_job_meta was asked

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        self.metas.append(time.time())
        done = time.time() >= self.end
        meta = {"job_id": job_id, "name": "sag", "status": "FINISHED:COMPLETED" if done else "RUNNING",
                "start_time": _iso(self.start)}
        return {**meta, "duration": _duration(self.end - self.start)} if done else meta

    def list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"job_id": f"old-{i}", "job_name": "sag", "status": "FINISHED:COMPLETED",
                 "duration": _duration(seconds)} for i, seconds in enumerate(self.history)]


class Backend:
    """What the poll needs of the FLARE backend: calls on the Session, and the status news."""

    def __init__(self, flare: ScriptedFlare) -> None:
        self.flare = flare
        self.published: list[str] = []

    async def call(self, func: Any, args: dict[str, Any]) -> Any:
        return await asyncio.to_thread(func, self.flare, args)

    def note_status(self, meta: dict[str, Any]) -> None:
        self.published.append(meta["status"])


async def _follow(flare: ScriptedFlare, interval: float = 2.0) -> tuple[float, JobPoll]:
    """Seconds from the job's end to the watch seeing its final status, and the poll."""
    poll = JobPoll(Backend(flare))  # type: ignore[arg-type]
    watch = poll.watch("job-1", interval)
    try:
        while True:
            await asyncio.wait_for(watch.changed.wait(), 30)
            watch.changed.clear()
            if watch.meta and watch.meta["status"].startswith("FINISHED"):
                return time.time() - flare.end, poll
    finally:
        poll.unwatch("job-1", watch)
        await poll.stop()


@pytest.mark.timeout(60)
def test_a_run_ending_when_its_earlier_runs_did_is_seen_at_once() -> None:
    # Runs of this name took 4 s: around 4 s the job is checked every FAST_POLL, although by then
    # the pace had slowed to POLL_INTERVAL (a change half a second away on average).
    flare = ScriptedFlare(runs=4.0, history=[4.2, 3.9, 4.0])
    late, poll = asyncio.run(_follow(flare))
    assert late < POLL_INTERVAL / 2, f"final status seen {late:.3f} s after it was written"
    gaps = [b - a for a, b in zip(flare.metas, flare.metas[1:], strict=False)]
    assert min(gaps[-3:]) < 4 * FAST_POLL, f"not fast around the expected end: {gaps}"
    assert poll.calls == len(flare.metas) + 1  # the checks and one list_jobs for the history


@pytest.mark.timeout(60)
def test_the_pace_is_fast_after_a_change_and_slows_to_two_a_second() -> None:
    flare = ScriptedFlare(runs=7.0, history=[])  # no earlier runs: no expected end
    _late, poll = asyncio.run(_follow(flare))
    gaps = [b - a for a, b in zip(flare.metas, flare.metas[1:], strict=False)]
    assert gaps[0] < 4 * FAST_POLL, f"the first checks after the watch started were not fast: {gaps}"
    assert min(gaps[-4:]) >= POLL_INTERVAL * 0.8, f"still polling fast long after the last change: {gaps}"
    # At most the fast phase (about 3 s at 20 down to 2 checks a second) plus two a second after it.
    assert len(flare.metas) <= 40, f"{len(flare.metas)} checks in 7 s"
