"""monitor_job on FLARE when a site of the running job is frozen or lost the job (flare11 items 2, 3), with FLARE's
answers as its Session gives them: a frozen site fails the whole ``check_status client`` (the admin command's
timeout: FLARE's "Server did not respond"), so each site is then asked alone; a site restarted without the job
answers ``no_jobs``. The shell says each once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flare_monitor_standin import monitor_said

JOB = "e9d11000-0000-4000-8000-000000000002"


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat()


class Federation:
    """FLARE's Session in what the monitor and its poll ask; ``script`` says, per all-sites check made, which
    sites are frozen (no answer: the whole call fails) and which run without the job."""

    def __init__(self, script: list[tuple[set[str], set[str]]]) -> None:
        self.script = script
        self.checks = 0  # all-sites checks made
        self.alone: list[str] = []
        self.meta = {"job_id": JOB, "name": "fedavg", "status": "RUNNING", "submit_time_iso": _iso(time.time() - 5),
                     "deploy_map": {"app": ["server", "site-a1", "site-b1", "site-c1"]}}

    def now(self) -> tuple[set[str], set[str]]:
        return self.script[min(self.checks, len(self.script)) - 1] if self.checks else (set(), set())

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        ended = self.checks > len(self.script)  # by the checks made, not the clock: a loaded machine runs late
        return {**self.meta, "status": "FINISHED:COMPLETED"} if ended else dict(self.meta)

    def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
        if target_type == "server":
            return {"server_start_time": time.time() - 60, "jobs": [{"job_id": JOB}]}
        if len(targets) > 1:
            self.checks += 1
        frozen, without = self.now()
        if len(targets) == 1:
            self.alone.append(targets[0])
        if set(targets) & frozen:
            raise TimeoutError("Server did not respond")  # as FLARE's admin API when its command times out
        return {"client_status": [{"client_name": site, "status": "no_jobs"} if site in without else
                                  {"client_name": site, "status": "started", "job_id": JOB} for site in targets]}

    def show_stats(self, job_id: str, target: str) -> dict[str, Any]:
        return {"server": {}}


def _follow(session: Federation, monkeypatch: pytest.MonkeyPatch, grace: float = 0.0) -> list[str]:
    from console.backends import nvflare_monitor

    monkeypatch.setattr(nvflare_monitor, "SITES_CHECK", 0.2)
    monkeypatch.setattr(nvflare_monitor, "START_GRACE", grace)

    said = monitor_said(session, JOB, 0.005)
    assert said[-1].endswith("FINISHED:COMPLETED"), said
    return [line.split("  ", 3)[-1] for line in said if "  site-" in line or "  site " in line]


@pytest.mark.timeout(60)
def test_a_frozen_site_is_named_though_it_fails_the_check_of_all_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    """site-b1 frozen (kill -STOP) for two checks: the all-sites call fails, each site asked alone names it."""
    session = Federation([(set(), set()), ({"site-b1"}, set()), ({"site-b1"}, set()), (set(), set())])
    sites = _follow(session, monkeypatch)
    assert sites == ["site-b1 does not answer (is it running? check_status client site-b1 asks it alone)",
                     "site-b1 answers again"], sites
    assert {"site-a1", "site-b1", "site-c1"} <= set(session.alone)


@pytest.mark.timeout(60)
def test_a_site_that_answers_without_the_running_job_is_said_to_hold_it_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """site-b1's job process killed, the site restarted without it: it answers no_jobs while the job waits. Said
    once it is seen twice in a row (a site just starting the job does not list it yet)."""
    session = Federation([(set(), {"site-b1"}), (set(), set()), (set(), {"site-b1"}), (set(), {"site-b1"}),
                          (set(), {"site-b1"})])
    sites = _follow(session, monkeypatch)
    assert sites == [f"site-b1 no longer runs the job (restarted?); the job waits for it (abort_job {JOB[:8]} "
                     "ends it)"], sites
    assert session.alone == []  # the call to all sites answered: nobody asked alone
    starting = Federation([(set(), {"site-b1"})] * 5)  # within START_GRACE of RUNNING: its sites may be starting it
    assert _follow(starting, monkeypatch, grace=60.0) == []


@pytest.mark.timeout(60)
def test_when_no_site_answers_alone_the_server_is_what_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every site failing alone too: the server is the likelier silent one; no site is blamed."""
    every = {"site-a1", "site-b1", "site-c1"}
    session = Federation([(set(), set()), (every, set()), (every, set())])
    assert _follow(session, monkeypatch) == []


@pytest.mark.timeout(60)
def test_top_marks_a_frozen_site_no_reply_and_keeps_the_others() -> None:
    """flare11 item 2: with one site frozen FLARE's check_status client failed as a whole and top kept every site
    "connected"; each site is then asked alone: the frozen one is "no reply", the others stay connected."""
    from console.shell.top.feed import TopFeed
    from console.shell.top.model import CONNECTED, NO_REPLY, TopModel

    listed = [{"client_name": name, "client_last_conn_time": time.time()} for name in ("site-a1", "site-b1", "site-c1")]

    class Backend:  # the FLARE backend in what top's poll asks (its answers as nvflare_commands gives them)
        pushes = False
        disabled_sites: frozenset[str] = frozenset()
        frozen = {"site-b1"}

        async def request(self, command: str, args: dict[str, Any]) -> Any:
            if command == "sys_info":
                return {}
            if args["target_type"] == "server":
                return {"clients": listed}
            targets = args.get("targets") or [c["client_name"] for c in listed]
            if set(targets) & self.frozen:
                raise TimeoutError("Server did not respond")
            return {"client_status": [{"client_name": t, "status": "no_jobs"} for t in targets]}

    backend = Backend()
    model = TopModel()
    feed = TopFeed(backend, model, lambda: None)  # type: ignore[arg-type]
    asyncio.run(feed._poll_sites())
    assert {n: s.state for n, s in model.sites.items()} == {"site-a1": CONNECTED, "site-b1": NO_REPLY,
                                                            "site-c1": CONNECTED}
    backend.frozen = {"site-a1", "site-b1", "site-c1"}  # none answers alone: the server is the silent one
    with pytest.raises(TimeoutError):
        asyncio.run(feed._poll_sites())


class _Printer:
    def close(self) -> None:
        pass


class _Monitors:
    def __init__(self) -> None:
        self.said: list[str] = []

    def emit(self, text: str, style: str, meta: Any) -> None:
        self.said.append(text)

    async def _wait_for_connection(self) -> None:
        pass


@pytest.mark.timeout(60)
def test_a_follow_of_a_job_abandoned_by_a_server_restart_ends_as_monitor_job_does() -> None:
    """flare11 item 4: after a FLARE server's kill -9 and restart monitor_job stopped ("abandoned by a server
    restart?") while the follow of the job stayed listed for 13 min: its log never ends. It ends with the
    monitor's words; a followed site that answers without the job says so once before."""
    from console.api.errors import JobNotRunning
    from console.backends.base import SITES_WITHOUT_JOB, LogStream
    from console.shell.follow import _keep_following

    closed: list[bool] = []

    async def closer() -> None:
        closed.append(True)

    class Backend:
        pushes = False

        async def monitor_job(self, job_id: str, timeout: float, interval: float, cb: Any) -> Any:
            for _ in range(2):  # the same answer twice: said once
                cb({"job_id": job_id, "status": "RUNNING", SITES_WITHOUT_JOB: ["site-b1", "site-c9"]})
                await asyncio.sleep(0.01)
            raise JobNotRunning(f"monitor_job: job {job_id} is listed RUNNING, but FLARE's server no longer runs it "
                                "(abandoned by a server restart?)")

    async def run() -> list[str]:
        monitors = _Monitors()
        stream = LogStream(JOB, "fedavg", ["server", "site-b1"], closer)
        await within(_keep_following(Backend(), monitors, stream, "all", _Printer()), 10)  # type: ignore[arg-type]
        return monitors.said

    from console.within import within

    said = asyncio.run(run())
    assert said == [f"[site-b1] no longer runs job {JOB[:8]} (its job process ended: restarted?); its log stops here, "
                    "and the job waits for it",
                    f"following the log of {JOB[:8]} stopped: monitor_job: job {JOB} is listed RUNNING, but FLARE's "
                    "server no longer runs it (abandoned by a server restart?)"], said
    assert closed == [True]


@pytest.mark.timeout(60)
def test_a_batch_follow_of_a_job_abandoned_while_its_log_goes_on_ends_with_its_closing_document() -> None:
    """The batch's follow of such a job (its log never ends) fails as its monitor_job does: exit 1, the job's
    status said abandoned, not a wait for ever."""
    import io
    import json
    from types import SimpleNamespace

    from console.api.errors import JobNotRunning
    from console.backends.base import LogStream
    from console.commands import Engine
    from console.shell.batch import lines_of, run_batch
    from console.shell.output import Format

    meta = {"job_id": JOB, "name": "fedavg", "status": "RUNNING"}

    async def monitor_job(job_id: str, timeout: float, interval: float, cb: object) -> object:
        await asyncio.sleep(0.2)
        raise JobNotRunning(f"monitor_job: job {job_id} is listed RUNNING, but FLARE's server no longer runs it")

    async def follow_log(job_id: str, target: str, lines: int, on_lines: object, resume: object = None) -> LogStream:
        async def closer() -> None:
            pass

        return LogStream(job_id, "fedavg", [target], closer)  # never done: the server keeps the log open

    async def get_job_meta(job_id: str) -> dict[str, str]:
        return meta

    backend = SimpleNamespace(engine=Engine.NVFLARE, connected=True, closed=False, shut_down_by_you=False,
                              user="admin@nvidia.com", right_condition=lambda right: None, monitor_job=monitor_job,
                              get_job_meta=get_job_meta, follow_log=follow_log, add_state_listener=lambda _l: list,
                              add_event_listener=lambda _l: list, pushes=False)
    out, err = io.StringIO(), io.StringIO()
    code = asyncio.run(run_batch(backend, lines_of("-c", "follow e9d11 server"), fmt=Format.JSON, yes=True,  # type: ignore[arg-type]
                                 continue_on_error=False, out=out, err=err))
    assert code == 1, (out.getvalue(), err.getvalue())
    closing = json.loads(out.getvalue().strip().splitlines()[-1])
    assert closing["status"].startswith("RUNNING (not running on the server"), closing
    assert "FLARE's server no longer runs it" in closing["message"], closing


@pytest.mark.timeout(60)
def test_top_marks_a_site_that_answers_without_its_running_job() -> None:
    """flare11 item 3 in top: site-b1 restarted without the RUNNING job (FLARE: "no_jobs") was shown fine. Two site
    polls in a row without it mark its STATE; a job started within START_GRACE s is not judged yet."""
    from console.shell.top.feed import TopFeed
    from console.shell.top.model import TopModel
    from console.shell.top.rows import site_cells

    listed = [{"client_name": name, "client_last_conn_time": time.time()} for name in ("site-a1", "site-b1")]
    meta = {"job_id": JOB, "name": "fedavg", "status": "RUNNING", "start_time": time.time() - 60,
            "deploy_map": {"app": ["server", "site-a1", "site-b1"]}}

    class Backend:
        pushes = False
        disabled_sites: frozenset[str] = frozenset()
        without = {"site-b1"}

        async def request(self, command: str, args: dict[str, Any]) -> Any:
            if command == "sys_info":
                return {}
            if args["target_type"] == "server":
                return {"clients": listed}
            return {"client_status": [{"client_name": c["client_name"], "status": "no_jobs"}
                                      if c["client_name"] in self.without else
                                      {"client_name": c["client_name"], "status": "started", "job_id": JOB}
                                      for c in listed]}

    backend, model = Backend(), TopModel()
    model.apply_jobs([{"job_id": JOB, "name": "fedavg", "status": "RUNNING"}])
    model.apply_meta(meta)
    feed = TopFeed(backend, model, lambda: None)  # type: ignore[arg-type]
    states = []
    for without in ({"site-b1"}, {"site-b1"}, set()):
        backend.without = without
        asyncio.run(feed._poll_sites())
        states.append([site_cells(model.sites[name], time.time())[1] for name in ("site-a1", "site-b1")])
    assert states == [["connected", "connected"], ["connected", f"lost job {JOB[:8]}"],
                      ["connected", "connected"]], states
    assert model.sites_title() == "Sites (2 connected)"  # still connected: it answers
    fresh = TopModel()
    fresh.apply_jobs([{"job_id": JOB, "name": "fedavg", "status": "RUNNING"}])
    fresh.apply_meta({**meta, "start_time": time.time() - 2})  # just started: its sites may not run it yet
    backend.without = {"site-b1"}
    feed = TopFeed(backend, fresh, lambda: None)  # type: ignore[arg-type]
    for _ in range(2):
        asyncio.run(feed._poll_sites())
    assert fresh.sites["site-b1"].lost_jobs == []
