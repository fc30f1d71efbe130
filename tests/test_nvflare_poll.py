"""The shared job poll on FLARE (``console.backends.nvflare_poll``): its pace, against a scripted FLARE.

FLARE itself stands behind the poll's one interface (``backend.call_aside(command, args)`` running our
FLARE command functions on a Session): here the Session answers from a script of job states
in wall-clock time, so the pace can be watched over seconds without a POC (the live POC tests
follow real jobs). Its ``show_stats`` answers what FLARE 2.9's server answered over a
hello-numpy-sag job on its POC (``console.backends.nvflare_progress``), and each call takes
``CALL`` seconds, as FLARE's do. Asserted: what a monitor gets and when, and how many requests
FLARE's server gets; bounds are loose on the side that a loaded machine stretches.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flare_monitor_standin import monitor_said

from console.backends import nvflare_pace
from console.backends.nvflare_pace import FAST_POLL, POLL_INTERVAL, SITES_POLL
from console.backends.nvflare_poll import JobPoll
from console.backends.nvflare_progress import (
    SITES_BATCH,
    Stage,
    connected_sites,
    job_sites,
    read_stats,
    running_sites,
)

#: Seconds a scripted FLARE call takes (FLARE 2.9's get_job_meta: 7-14 ms on its POC).
CALL = 0.008


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat()


def _duration(seconds: float) -> str:
    return f"0:00:{seconds:09.6f}"  # FLARE's H:MM:SS.ffffff


class JobNotRunning(Exception):  # FLARE's flare_api exceptions are told apart by class name
    pass


class JobNotFound(Exception):
    pass


class AuthorizationError(Exception):
    pass


class ScriptedFlare:
    """A FLARE Session whose job runs from ``start`` for ``runs`` seconds, with finished runs of the
    same name that took ``history`` seconds each. ``stats``: how its show_stats answers ("flare":
    as FLARE 2.9 over the job's life; "refused", "slow": a FLARE answer not to be read). Its
    ``sites`` (all, ``@ALL``) run the job until about ``SITES_END`` s before the final status, letting go
    one after another over the 0.3 s before (``stuck``: to the end, as when FLARE writes an aborted
    job's status without waiting for them)."""

    SITES_END = 0.3

    def __init__(self, runs: float, history: list[float], stats: str = "flare", stuck: bool = False,
                 sites: int = 2) -> None:
        self.start = time.time()
        self.end = self.start + runs
        self.history = history
        self.stats = stats
        self.stuck = stuck
        self.metas: list[float] = []  # when get_job_meta was asked
        self.probes: list[float] = []  # when show_stats was asked
        self.site_checks: list[float] = []  # when check_status client was asked
        self.site_batches: list[list[str]] = []  # ...and which sites it named
        # The last site lets go SITES_END s before the end, the others before it (FLARE's POC, 2 sites: 0.4-0.9 s).
        self.site_ends = {f"site-{i}": self.end - self.SITES_END - 0.3 * (sites - i) / max(sites - 1, 1)
                          for i in range(1, sites + 1)}

    def check_status(self, target_type: str, targets: list[str] | None = None) -> dict[str, Any]:
        time.sleep(CALL)
        if target_type == "server":
            return {"server_status": "started", "clients": [{"client_name": site} for site in self.site_ends]}
        self.site_checks.append(time.time())
        self.site_batches.append(list(targets or self.site_ends))
        return {"client_status": [{"client_name": site, "app_name": "app", "job_id": "job-1", "status": "stopped"}
                                  if self.stuck or time.time() < self.site_ends[site]
                                  else {"client_name": site, "status": "no_jobs"}
                                  for site in targets or list(self.site_ends)]}

    def show_stats(self, job_id: str, target_type: str) -> dict[str, Any]:
        self.probes.append(time.time())
        time.sleep(CALL)
        if self.stats == "refused":
            raise AuthorizationError("user not authorized for the action 'show_stats'")
        if self.stats == "garbage":
            return {"server": "stats are not kept"}  # type: ignore[dict-item]
        if self.stats == "slow":
            time.sleep(0.6)
        to_end = self.end - time.time()
        # As FLARE 2.9's POC: the process gone 0.7-3 s before the final status, the workflow
        # done 6-8 s before (here shorter, so that the test stays short).
        if to_end < 0.7:
            raise JobNotRunning(f"job {job_id} is not running")
        if to_end < 1.5:
            return {"server": {}}
        if to_end < 1.6:
            return {"server": {"ScatterAndGather": {"phase": "_finished_", "current_round": 3, "num_rounds": 3}}}
        if time.time() - self.start < 0.3:
            raise JobNotFound(f"no such job: {job_id}")
        return {"server": {"ScatterAndGather": {"phase": "train", "current_round": 1, "num_rounds": 3},
                           "ServerRunner": {"job_id": job_id, "status": "started", "workflow": "sag"}}}

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        self.metas.append(time.time())
        time.sleep(CALL)
        done = time.time() >= self.end
        meta = {"job_id": job_id, "name": "sag", "status": "FINISHED:COMPLETED" if done else "RUNNING",
                "start_time": _iso(self.start), "deploy_map": {"app": ["@ALL"]}}
        return {**meta, "duration": _duration(self.end - self.start)} if done else meta

    def list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        time.sleep(CALL)
        return [{"job_id": f"old-{i}", "job_name": "sag", "status": "FINISHED:COMPLETED",
                 "duration": _duration(seconds)} for i, seconds in enumerate(self.history)]


class Backend:
    """What the poll needs of the FLARE backend: calls on the Session, and the status news."""

    def __init__(self, flare: ScriptedFlare) -> None:
        self.flare = flare
        self.published: list[str] = []
        self.rounds_seen: dict[str, dict[str, Any]] = {}

    async def call_aside(self, func: Any, args: dict[str, Any]) -> Any:
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
    # Without FLARE's progress (show_stats refused, asked once), the history is what opens the window.
    flare = ScriptedFlare(runs=4.0, history=[4.2, 3.9, 4.0], stats="refused")
    late, poll = asyncio.run(_follow(flare))
    assert late < POLL_INTERVAL / 2, f"final status seen {late:.3f} s after it was written"
    gaps = [b - a for a, b in zip(flare.metas, flare.metas[1:], strict=False)]
    assert min(gaps[-3:]) < 4 * FAST_POLL, f"not fast around the expected end: {gaps}"
    assert len(flare.probes) == 1, "show_stats asked again after FLARE refused it"
    assert poll.calls == len(flare.metas) + 2  # the checks, the one show_stats and one list_jobs for the history


@pytest.mark.timeout(60)
def test_the_pace_is_fast_after_a_change_and_slows_to_two_a_second() -> None:
    flare = ScriptedFlare(runs=7.0, history=[], stats="refused")  # no progress, no earlier runs: no expected end
    _late, poll = asyncio.run(_follow(flare))
    gaps = [b - a for a, b in zip(flare.metas, flare.metas[1:], strict=False)]
    assert gaps[0] < 4 * FAST_POLL, f"the first checks after the watch started were not fast: {gaps}"
    assert min(gaps[-4:]) >= POLL_INTERVAL * 0.8, f"still polling fast long after the last change: {gaps}"
    # At most the fast phase (about 3 s at 20 down to 2 checks a second) plus two a second after it.
    assert len(flare.metas) <= 40, f"{len(flare.metas)} checks in 7 s"


@pytest.mark.timeout(60)
def test_a_first_run_is_seen_one_call_after_its_end_from_flares_progress() -> None:
    # No earlier run of this name: FLARE's show_stats tells the end is near (workflow done, then
    # the job process gone), its sites whether they still run it, and once none does get_job_meta
    # is asked back to back.
    flare = ScriptedFlare(runs=6.0, history=[])
    late, poll = asyncio.run(_follow(flare))
    assert late < 0.1, f"final status seen {late:.3f} s after it was written"
    # The sites are asked only once the workflows are done (1.6 s before the end here), and show_stats no
    # more from then: FLARE holds its engine lock while a finalizing job process answers it (0.3-1.3 s).
    assert flare.site_checks and min(flare.site_checks) > flare.end - 1.7, flare.site_checks
    assert all(t < min(flare.site_checks) for t in flare.probes), (flare.probes, flare.site_checks)
    burst = [t for t in flare.metas if t >= flare.end - flare.SITES_END - 0.15]
    gaps = [b - a for a, b in zip(burst, burst[1:], strict=False)]
    assert len(gaps) > 10 and sorted(gaps)[len(gaps) // 2] < 3 * CALL, f"not back to back at the end: {gaps}"
    # At rest (after the first fast seconds, before the end nears): two requests a second at most.
    calls = sorted(flare.metas + flare.probes)
    at_rest = [t for t in calls if flare.start + 3.5 <= t < flare.end - 1.6]
    assert len(at_rest) <= 2 * (flare.end - 1.6 - flare.start - 3.5) + 2, f"{len(at_rest)} requests at rest"
    # Back-to-back only at the end: the whole run costs a fraction of a no-pause loop (one call after another).
    assert poll.calls <= 0.3 * (flare.end - flare.start) / CALL, f"{poll.calls} requests in 6 s"
    assert all(t < flare.end for t in flare.probes), "progress asked once the job had ended"
    # The rounds it read are the session's to show later (top opened after the job ended): the last one read
    # (2 of 3 while training; 3 of 3, never 4, if a reading fell in the workflow's short "_finished_" phase).
    assert poll.backend.rounds_seen["job-1"]["round"] in (2, 3), poll.backend.rounds_seen
    assert poll.backend.rounds_seen["job-1"]["num_rounds"] == 3


@pytest.mark.timeout(60)
def test_a_job_on_a_hundred_sites_is_seen_ending_when_its_last_site_lets_go() -> None:
    # More sites than one check_status names: they are asked SITES_BATCH at a time, in turn, every
    # one of them, and those seen letting go are not asked again; get_job_meta goes back to back
    # only once at most one still runs the job.
    flare = ScriptedFlare(runs=4.0, history=[], sites=100)
    late, poll = asyncio.run(_follow(flare))
    # A pass over 100 sites takes 4 calls: the last to let go may be asked once more after the end,
    # while get_job_meta is still asked every other check (with at most 32 sites: one call).
    assert late < 2 * SITES_POLL + 0.1, f"final status seen {late:.3f} s after it was written"
    assert max(len(batch) for batch in flare.site_batches) <= SITES_BATCH
    assert set().union(*flare.site_batches) == set(flare.site_ends), "a site was never asked"
    last = max(flare.site_ends.values())
    early = [t for t in flare.metas if flare.end - 1.6 < t < last - 0.15]
    assert len(early) <= 2 * 1.6 / SITES_POLL, f"back to back before the last site let go: {len(early)} calls"
    # The load stays that of two sites: at most one check_status per 2 * SITES_POLL while they let go.
    span = flare.site_checks[-1] - flare.site_checks[0]
    assert len(flare.site_checks) <= span / (2 * SITES_POLL) + 3, (len(flare.site_checks), span)


@pytest.mark.timeout(60)
def test_a_status_written_while_sites_still_run_the_job_is_seen_too() -> None:
    # FLARE writes an aborted job's final status without waiting for its sites: between checks of
    # the sites, get_job_meta is still asked every other SITES_POLL.
    flare = ScriptedFlare(runs=2.0, history=[], stuck=True)
    late, _poll = asyncio.run(_follow(flare))
    assert late < 2 * SITES_POLL + 0.15, f"final status seen {late:.3f} s after it was written"
    assert len(flare.site_checks) >= 2


@pytest.mark.timeout(60)
def test_a_flare_answer_too_slow_to_wait_for_leaves_the_plain_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    # (Refused answers: the two tests above; answers of another shape: the last test.) A slow one
    # held the poll's other checks behind it: it is not asked again.
    monkeypatch.setattr(nvflare_pace, "PROBE_SLOW", 0.5)
    flare = ScriptedFlare(runs=1.5, history=[], stats="slow")
    late, poll = asyncio.run(_follow(flare))
    assert len(flare.probes) == 1, f"show_stats asked {len(flare.probes)} times"
    assert late < POLL_INTERVAL + 0.3, f"final status seen {late:.3f} s after it was written"
    gaps = [b - a for a, b in zip(flare.metas, flare.metas[1:], strict=False)]
    assert max(gaps) <= POLL_INTERVAL + 1.0, gaps  # (the slow answer held the poll's worker once)


def test_flares_show_stats_answers_read_as_stages() -> None:
    # FLARE 2.9's answers over a job's life on its POC (see console.backends.nvflare_progress).
    sag = {"server": {"ScatterAndGather": {"phase": "train", "current_round": 0, "num_rounds": 1, "tasks": {}},
                      "ServerRunner": {"job_id": "j", "status": "started", "workflow": "scatter_and_gather"}}}
    got = read_stats(sag, None, False)
    assert (got.stage, got.workflow, got.current_round, got.num_rounds) == (
        Stage.WORKING, "scatter_and_gather", 0, 1)
    cyclic = {"server": {"CyclicController": {"tasks": {"train": ["site-2"]}},
                         "ServerRunner": {"job_id": "j", "status": "started", "workflow": "cyclic"}}}
    assert read_stats(cyclic, None, False).stage is Stage.WORKING  # no rounds told, still running
    done = {"server": {"ScatterAndGather": {"phase": "_finished_", "current_round": 1, "num_rounds": 1}}}
    assert read_stats(done, None, True).stage is Stage.WINDING_DOWN
    assert read_stats({"server": {}}, None, False).stage is Stage.STARTING
    assert read_stats({"server": {}}, None, True).stage is Stage.WINDING_DOWN
    assert read_stats(None, "JobNotFound", False).stage is Stage.STARTING
    assert read_stats(None, "JobNotFound", True).stage is Stage.WINDING_DOWN
    assert read_stats(None, "JobNotRunning", True).stage is Stage.GONE
    assert read_stats(None, "NoConnection", True).stage is Stage.UNKNOWN  # FLARE said so once as a job ended
    for answer, error in [(None, "AuthorizationError"), ("text", None), ({"server": ["x"]}, None), ([], None)]:
        assert read_stats(answer, error, True).stage is Stage.UNREADABLE
    # check_status client, as FLARE 2.9 answers it while a job ends on its sites.
    rows = {"client_status": [{"app_name": "app", "client_name": "site-1", "job_id": "j", "status": "stopped"},
                              {"client_name": "site-2", "status": "no_jobs"},
                              {"client_name": "site-3", "status": "no_reply"}]}
    both = ["site-1", "site-2"]
    assert running_sites(rows, None, "j", both) == {"site-1"}
    assert running_sites(rows, None, "other", both) == set()
    # A site that did not answer, or is not in the answer, is asked again: never taken for done.
    assert running_sites(rows, None, "other", ["site-3", "site-4"]) == {"site-3", "site-4"}
    assert running_sites(None, "NoConnection", "j", both) == set(both)  # ask again
    assert running_sites({"client_status": "x"}, None, "j", both) is None
    assert running_sites(None, "AuthorizationError", "j", both) is None
    many = {"client_status": [{"client_name": f"s{i}", "status": "no_jobs"} for i in range(40)]}
    assert running_sites(many, None, "j", [f"s{i}" for i in range(40)]) == set()  # no cap on the sites read
    assert connected_sites({"clients": [{"client_name": "b"}, {"client_name": "a"}]}, None) == ["a", "b"]
    assert connected_sites({"clients": []}, None) is None and connected_sites(None, "NoConnection") is None
    assert job_sites({"deploy_map": {"app": ["@ALL"]}}) == []  # every site
    assert job_sites({"deploy_map": {"a": ["server", "site-2"], "b": ["site-1"]}}) == ["site-1", "site-2"]
    assert job_sites({}) is None
    assert job_sites({"deploy_map": {"a": [{"sites": ["x"]}]}}) is None


def test_a_flare_monitor_says_when_a_site_of_its_running_job_stops_answering_and_answers_again(monkeypatch) -> None:
    """flare10 item 15: site-b1 killed during a job; monitor_job said nothing (FLARE's server lists a killed site
    until its heartbeat times out). The monitor asks the job's sites (``check_status client``, on the poll's
    Session) as the job starts running and every SITES_CHECK s; the shell says each change once."""
    from console.backends import nvflare_monitor

    monkeypatch.setattr(nvflare_monitor, "SITES_CHECK", 0.2)
    job = "e9d10000-0000-4000-8000-000000000001"
    meta = {"job_id": job, "name": "longjob", "status": "RUNNING", "submit_time_iso": _iso(time.time() - 5),
            "deploy_map": {"app": ["server", "site-a1", "site-b1"]}}
    asked: list[list[str]] = []

    class Session:  # FLARE's Session in what the monitor and the poll ask of it
        def get_job_meta(self, job_id: str) -> dict[str, Any]:
            ended = len(asked) >= 5  # (by the checks made, not the clock: a loaded machine runs them late)
            return {**meta, "status": "FINISHED:COMPLETED"} if ended else dict(meta)

        def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
            if target_type == "server":
                return {"server_start_time": time.time() - 60, "jobs": [{"job_id": job}]}
            asked.append(list(targets))
            dead = len(asked) in (2, 3)  # site-b1 is away for the second and third check
            return {"client_status": [{"client_name": "site-a1", "status": "started", "job_id": job},
                                      {"client_name": "site-b1", "status": "no_reply"} if dead else
                                      {"client_name": "site-b1", "status": "started", "job_id": job}]}

        def show_stats(self, job_id: str, target: str) -> dict[str, Any]:
            return {"server": {}}

    session = Session()

    said = monitor_said(session, job, CALL)
    sites = [line.split("  ", 3)[-1] for line in said if "  site-" in line or "  site " in line]
    assert sites == ["site-b1 does not answer (is it running? check_status client site-b1 asks it alone)",
                     "site-b1 answers again"], said
    assert asked and asked[0] == ["site-a1", "site-b1"]  # a site found silent is asked alone next, the rest together
    assert all(a in (["site-a1", "site-b1"], ["site-a1"], ["site-b1"]) for a in asked), asked
    assert said[-1].endswith("FINISHED:COMPLETED")


def test_a_flare_follow_of_a_site_says_when_it_stops_answering_and_answers_again(monkeypatch) -> None:
    """flare10 item 15: `follow J site-b1` with site-b1 down showed nothing (a batch's just timed out): FLARE's
    ``ls`` of it fails with "client timeout" (its server's "no reply from client - timed out"); the follow says
    so once, and once more when the site answers again."""
    from console.backends import nvflare_logs

    monkeypatch.setattr(nvflare_logs, "POLL_SECONDS", 0.05)
    job = "b26f0000-0000-4000-8000-000000000001"
    listed: list[str] = []  # site-b1's ls calls (by count, not the clock: a loaded machine runs them late)

    class Session:
        def get_job_meta(self, job_id: str) -> dict[str, Any]:
            status = "FINISHED:COMPLETED" if len(listed) >= 8 else "RUNNING"
            return {"job_id": job, "name": "longjob", "status": status, "deploy_map": {"app": ["@ALL"]}}

        def ls_target(self, target: str, options: str, path: str) -> str:
            if target == "site-b1":
                listed.append(path)
                if len(listed) in (3, 4, 5):  # away for a while
                    raise RuntimeError("the FLARE server could not run follow (FLARE: client timeout)")
            return f"-rw-r--r-- 1 flare flare 0 Nov 30 03:00 {path}\n"

        def tail_target(self, target: str, options: str, path: str) -> str:
            return ""

        def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
            return {"clients": [{"client_name": "site-a1"}, {"client_name": "site-b1"}]}

    session = Session()

    class Backend:
        rounds_seen: dict[str, Any] = {}

        def __init__(self) -> None:
            self.poll = JobPoll(self)

        async def call(self, func: Any, args: dict[str, Any], what: str = "") -> Any:
            await asyncio.sleep(CALL)
            return func(session, args)

        call_aside = call

        async def get_job_meta(self, job_id: str) -> dict[str, Any]:
            return session.get_job_meta(job_id)

        async def site_names(self, most: int | None = None) -> list[str]:
            return ["site-a1", "site-b1"]

        def note_status(self, meta: dict[str, Any]) -> None:
            pass

    class Printer:
        def __init__(self) -> None:
            self.notes: list[tuple[str, str]] = []

        def __call__(self, target: str, lines: list[str]) -> None:
            pass

        def note(self, target: str, text: str) -> None:
            self.notes.append((target, text))

    printer = Printer()

    async def run() -> None:
        backend = Backend()
        stream = await nvflare_logs.follow_log(backend, job, "all", 10, printer)  # type: ignore[arg-type]
        await asyncio.wait_for(stream.done.wait(), 30)
        await stream.close()
        await backend.poll.stop()
        assert stream.targets == ["server", "site-a1", "site-b1"] and stream.error is None

    asyncio.run(run())
    assert printer.notes == [
        ("site-b1", "does not answer (is it running? check_status client says): its log follows when it does"),
        ("site-b1", "answers again: its log follows")], printer.notes
