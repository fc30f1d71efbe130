"""A hostile site-2 (tests/hostile_site.py: real site code with its own certificate) against a
real server, an honest site-1 and an admin.

Answers to tasks that break the protocol: a frame that is not JSON (a bare NaN), a head that is
no object, no data stream, a header past the frame limit; and a real executor that reports a NaN
metric. Each time the job ends FINISHED:EXECUTION_EXCEPTION with job_errors naming the site and
what was wrong, long before the task timeout (10 minutes), and the honest site stays connected.
Pushes of ``job_log`` events for made-up job IDs: the server keeps serving, a follower of a real
job still gets its lines, and the server's memory stays put. One server and site-1 serve the
module's cases; each case starts its own site-2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.api.client import AsyncClient
from console.runtime.limits import MAX_ERROR_CHARS
from console.wire.kit import AdminKit

from conftest import (
    ADMIN,
    HostileSiteProcess,
    PartProcess,
    ServerProcess,
    SiteProcess,
    make_project,
    set_connection_limits,
    wait_until,
)
from jobs import numpy_job

#: The server's abort_wait_seconds here (10 s by default): what sites may take after abort_job.
ABORT_WAIT = 4.0
HEAD = '{"k":"res","id":{id},"ok":true,"data":%s,"stream":true,"size":{size}}'

NAN_METRIC = '''
from console.runtime.contract import TaskResult


def train(model, ctx):
    loss = float("nan") if ctx.site_name == "site-2" else 0.5  # a training that diverged
    return TaskResult({k: v + 1 for k, v in model.items()}, metrics={"loss": loss})
'''


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path, PartProcess]]:
    """(session, project, folder for jobs, server): the server and site-1 up; each test brings site-2."""
    from console.flare_api import new_secure_session

    project = make_project(tmp_path_factory.mktemp("answers"))
    set_connection_limits(project.server_kit, abort_wait_seconds=ABORT_WAIT)
    server, honest = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1"))
    session = None
    try:
        server.start()
        honest.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        yield session, project, tmp_path_factory.mktemp("jobs"), server
    finally:
        if session is not None:
            session.close()
        for part in (honest, server):
            part.stop()
            part.kill()


def _site_2(project: Any, session: Any, hostile_env: dict[str, str] | None) -> PartProcess:
    """Site-2 started (hostile with ``hostile_env``), once the server let the last one go."""
    wait_until(lambda: "site-2" not in {c.name for c in session.get_connected_client_list()}, 30,
               "the server to drop the last site-2")
    kit = project.kit("site-2")
    site = SiteProcess(kit) if hostile_env is None else HostileSiteProcess(kit, **hostile_env)
    site.start()
    wait_until(lambda: {c.name for c in session.get_connected_client_list()} == {"site-1", "site-2"}, 30,
               "both sites to register")
    return site


def _run(session: Any, folder: Path) -> dict[str, Any]:
    """The job's meta once it ended; within 60 s, while its task timeout is the default 600 s."""
    job_id = session.submit_job(str(folder))
    return session.wait_for_job(job_id, timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("answer, said", [
    (HEAD % '{"weight":1.0,"metrics":{"loss":NaN}}', "broke the protocol (frame header is not valid JSON: NaN is not "
                                                     "JSON: numbers must be finite)"),
    (HEAD % "[1.0,{}]", "task 1: its answer to a task must be a JSON object, not list"),
    ('{"k":"res","id":{id},"ok":true,"data":{"weight":1.0,"metrics":{}}}',
     "task 1: the answer of site-2 to task has no data stream"),
    (HEAD % '{"weight":1.0,"metrics":{},"pad":"{pad}"}', "broke the protocol (header length"),
    ('{"k":"res","id":{id},"ok":true,"stream":true,"json":true,"size":{size}}',
     "task 1: the answer of site-2 to task is a JSON result, not the data stream of a download"),
    ('{"k":"res","id":{id},"ok":true,"data":{"weight":1.0,"metrics":{}},"stream":true,"size":10}',
     "task 1: the answer of site-2 to task sent more than the 10 bytes it announced"),
    # 300 KiB of error text, past the controller's 256 KiB line limit: relayed whole, its app refused
    # the line and the job ended FINISHED:ABORTED, the site unnamed.
    ('{"k":"res","id":{id},"ok":false,"error":{"type":"InternalError","message":"{big}"}}',
     f"EEEE... ({(300 << 10) - MAX_ERROR_CHARS} more characters cut)"),
    # An error frame, with text naming another site: it was "the server dropped the connection", the
    # site counted as lost and the job ABNORMAL.
    ('{"k":"error","error":{"type":"InternalError","message":"site-1 sent garbage \\u001b[31m"}}',
     "task 1: site-2 dropped the connection, saying 'InternalError: site-1 sent garbage \\x1b[31m'"),
], ids=["bare-nan", "head-not-an-object", "no-data-stream", "header-over-the-limit", "json-for-a-download",
        "more-than-announced", "error-text-over-the-line-limit", "error-frame"])
def test_a_broken_answer_fails_the_job_at_once_naming_the_site(federation, answer: str, said: str) -> None:
    session, project, jobs, server = federation
    hostile = _site_2(project, session, {"HOSTILE_ANSWER": answer})
    try:
        meta = _run(session, numpy_job(jobs, name="broken-answer", rounds=1))
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        assert list(meta["job_errors"]) == ["site-2"], meta["job_errors"]
        error, *notes = meta["job_errors"]["site-2"]
        assert said in error, error
        # a site dropped for its answer may be away as the job ends: its workspace is collected when it is back,
        # and job_errors say so (this morning's change); nothing else
        assert all("workspace" in note for note in notes), meta["job_errors"]["site-2"]
        if "sent more than" in said:  # refused part-way: not read further, the site's connection dropped
            dropped = "site site-2 disconnected (the connection to site-2 was dropped: the answer of site-2 to task"
            wait_until(lambda: dropped in server.stderr, 10, "the server to say it dropped site-2")
        assert "site-1" in {c.name for c in session.get_connected_client_list()}
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_a_site_that_lost_the_job_says_so_in_a_bounded_text(federation) -> None:
    """Site-2 answers its task JobNotRunning with 300 KiB of text: the site is lost to the job (the
    job ends ABNORMAL, too few sites left), its text cut in job_errors and in the controller's line.
    Whole, the line passed the controller's limit and the job ended ABORTED, the site unnamed."""
    session, project, jobs, _ = federation
    hostile = _site_2(project, session, {
        "HOSTILE_ANSWER": '{"k":"res","id":{id},"ok":false,"error":{"type":"JobNotRunning","message":"{big}"}}'})
    try:
        meta = _run(session, numpy_job(jobs, name="lost-job", rounds=1))
        assert meta["status"] == "FINISHED:ABNORMAL", meta
        [error] = meta["job_errors"]["site-2"]
        assert error.startswith("lost: EEEE") and len(error) < MAX_ERROR_CHARS + 100, error[-200:]
        assert meta["job_errors"]["server"] == ["round 1: 1 result(s), min_clients is 2"], meta["job_errors"]
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_an_executor_reporting_a_nan_metric_fails_the_job_at_once(federation) -> None:
    """A real site whose executor returns metrics={"loss": nan}: refused where it arises, with the
    metric named, instead of an answer its site cannot send (the job waited out its task timeout)."""
    session, project, jobs, _ = federation
    site = _site_2(project, session, None)
    try:
        folder = numpy_job(jobs, name="nan-metric", rounds=1)
        (folder / "app" / "custom" / "trainer.py").write_text(NAN_METRIC)
        meta = _run(session, folder)
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        [error] = meta["job_errors"]["site-2"]
        assert "the result's metrics holds nan at loss; JSON carries only finite numbers" in error, error
        assert "site-1" not in meta["job_errors"], meta["job_errors"]
    finally:
        site.stop()
        site.kill()


def _status(session: Any, job_id: str) -> str:
    return session.get_job_meta(job_id)["status"]


def _workspaces(session: Any, job_id: str, dest: Path) -> set[str]:
    """The sites whose workspaces the job's download holds."""
    folder = Path(session.download_job_result(job_id, str(dest)))
    return {p.name for p in (folder / "sites").iterdir()} if (folder / "sites").is_dir() else set()


@pytest.mark.timeout(120)
def test_abort_during_a_run_ends_it_within_the_bound_whatever_a_trickling_site_does(federation, tmp_path) -> None:
    """abort_job while site-1 trains; site-2 then sends its workspace one byte every 29 s (a per-chunk
    timeout of 30 s never fires, and the default pace would wait 60 s). The job is FINISHED:ABORTED
    within ABORT_WAIT seconds of the abort (and a few more), site-1's workspace is kept, site-2's is
    cut off, named in job_errors, and its connection dropped (it comes back by itself)."""
    session, project, jobs, _ = federation
    trickling = project.kit("site-2") / "trickling"
    trickling.unlink(missing_ok=True)
    hostile = _site_2(project, session, {"HOSTILE_WEIGHT": "1.0", "HOSTILE_TRICKLE": "29"})
    try:
        job_id = session.submit_job(str(numpy_job(jobs, name="trickled", rounds=1, sleep=60.0)))
        wait_until(lambda: _status(session, job_id) == "RUNNING", 60, "the job to run")
        asked = time.monotonic()
        session.abort_job(job_id)
        wait_until(trickling.exists, 30, "site-2 to trickle its workspace")
        wait_until(lambda: _status(session, job_id).startswith("FINISHED"), 30, "the job to end")
        took = time.monotonic() - asked
        assert took < ABORT_WAIT + 5, f"the job ended {took:.1f} s after abort_job"
        print(f"\nfinal {took:.1f} s after abort_job (abort_wait_seconds {ABORT_WAIT:g})")
        meta = session.get_job_meta(job_id)
        assert meta["status"] == "FINISHED:ABORTED", meta
        assert list(meta["job_errors"]) == ["site-2"], meta["job_errors"]
        [error] = meta["job_errors"]["site-2"]
        assert error.startswith(f"its workspace was not collected: it was not in within {ABORT_WAIT:g} s of "
                                "abort_job (cut off after"), error
        assert _workspaces(session, job_id, tmp_path) == {"site-1"}
        wait_until(lambda: {c.name for c in session.get_connected_client_list()} == {"site-1", "site-2"}, 30,
                   "site-2 to come back after its connection was dropped")
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_abort_while_sites_are_told_to_stop_keeps_the_honest_workspaces(federation, tmp_path) -> None:
    """The job is done and site-2 never answers end_job (the server would wait 30 s for it): abort_job
    ends the job within ABORT_WAIT seconds; site-1, which stopped at once, has its workspace kept; site-2
    is named in job_errors. The job keeps the status its run ended with."""
    session, project, jobs, _ = federation
    told = project.kit("site-2") / "told-to-stop"
    told.unlink(missing_ok=True)
    hostile = _site_2(project, session, {"HOSTILE_WEIGHT": "1.0", "HOSTILE_MUTE_STOP": "1"})
    try:
        job_id = session.submit_job(str(numpy_job(jobs, name="mute", rounds=1)))
        wait_until(told.exists, 60, "site-2 to be told to end the job")
        assert _status(session, job_id) == "RUNNING"
        asked = time.monotonic()
        session.abort_job(job_id)
        wait_until(lambda: _status(session, job_id).startswith("FINISHED"), 30, "the job to end")
        took = time.monotonic() - asked
        assert took < ABORT_WAIT + 5, f"the job ended {took:.1f} s after abort_job"
        print(f"\nfinal {took:.1f} s after abort_job (abort_wait_seconds {ABORT_WAIT:g})")
        meta = session.get_job_meta(job_id)
        assert meta["status"] == "FINISHED:COMPLETED", meta
        cut_off = [f"its workspace was not collected: it was not in within {ABORT_WAIT:g} s of abort_job (cut off "
                   "before it stopped the job)"]
        assert meta["job_errors"] == {"site-2": cut_off}, meta["job_errors"]
        assert _workspaces(session, job_id, tmp_path) == {"site-1"}
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_abort_while_a_site_never_takes_the_job_ends_it_within_the_bound(federation) -> None:
    """Site-2 never answers deploy_job (the server would wait 30 s): abort_job ends the job
    FINISHED:ABORTED within ABORT_WAIT seconds, site-2 named in job_errors."""
    session, project, jobs, _ = federation
    told = project.kit("site-2") / "told-to-deploy"
    told.unlink(missing_ok=True)
    hostile = _site_2(project, session, {"HOSTILE_MUTE_DEPLOY": "1"})
    try:
        job_id = session.submit_job(str(numpy_job(jobs, name="undeployed", rounds=1)))
        wait_until(told.exists, 60, "site-2 to be sent the job")
        asked = time.monotonic()
        session.abort_job(job_id)
        wait_until(lambda: _status(session, job_id).startswith("FINISHED"), 30, "the job to end")
        took = time.monotonic() - asked
        assert took < ABORT_WAIT + 5, f"the job ended {took:.1f} s after abort_job"
        meta = session.get_job_meta(job_id)
        assert meta["status"] == "FINISHED:ABORTED", meta
        assert meta["job_errors"]["site-2"][0] == (f"its deploy was cut off: not done within {ABORT_WAIT:g} s of "
                                                    "abort_job"), meta["job_errors"]
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_a_site_trickling_its_answers_is_cut_off_at_the_pace(tmp_path: Path) -> None:
    """Site-2 sends its task result and its workspace one byte every 0.2 s, under a pace of
    64 KiB/s after 2 s: each is cut off within seconds of its head and named in job_errors. Its task
    counts as unanswered, as one past its task_timeout: FedAvg, wanting both sites, ends the job
    FINISHED:ABNORMAL. Site-1's result, after 3 s of training, comes whole."""
    from console.flare_api import new_secure_session

    project = make_project(tmp_path)
    set_connection_limits(project.server_kit, transfer_floor_seconds=2.0, min_transfer_bytes_per_second=65536)
    parts = [ServerProcess(project.server_kit), SiteProcess(project.kit("site-1")),
             HostileSiteProcess(project.kit("site-2"), HOSTILE_TRICKLE="0.2", HOSTILE_TRICKLE_TASKS="1")]
    session = None
    try:
        for part in parts:
            part.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        wait_until(lambda: {c.name for c in session.get_connected_client_list()} == {"site-1", "site-2"}, 30,
                   "both sites to register")
        started = time.monotonic()
        # Site-1 trains for longer than the floor: the pace counts from a result's head, never the training.
        job_id = session.submit_job(str(numpy_job(tmp_path, name="trickled", rounds=1, sleep=3.0)))
        wait_until(lambda: _status(session, job_id).startswith("FINISHED"), 60, "the job to end")
        took = time.monotonic() - started
        meta = session.get_job_meta(job_id)
        assert meta["status"] == "FINISHED:ABNORMAL", meta
        errors = meta["job_errors"]["site-2"]
        assert errors[0].startswith("task 1: its answer came too slowly: "), errors
        assert errors[-1].startswith("its workspace was not collected: its answer came too slowly: "), errors
        assert "under the pace of at least 64 KiB/s after 2 s" in errors[-1], errors
        assert "site-1" not in meta["job_errors"], meta["job_errors"]
        assert took < 30, f"the job took {took:.1f} s"
    finally:
        if session is not None:
            session.close()
        for part in reversed(parts):
            part.stop()
            part.kill()


TICKER = '''
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    n = 0
    while not ctx.aborted():
        print(f"{ctx.site_name} tick {n}", flush=True)
        n += 1
        time.sleep(0.1)
    return TaskResult(model)
'''

MADE_UP_PUSHES = 50_000


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.timeout(180)
def test_log_pushes_for_made_up_jobs_cost_the_server_nothing(federation) -> None:
    """Site-2 pushes 50,000 job_log events, each for a job ID of its own making, while an admin
    follows a real job's logs on both sites. Each such push used to stay in the relay's bookkeeping
    (the server grew by 15 MiB here; 2 million pushes: 450 MB), then to log a traceback (8 lines of
    the server's log per push); now the server's RSS grows by less than 6 MiB (1.5 measured), its
    log by almost nothing, it answers throughout, and the follower gets new lines of both sites
    after the pushes as before."""
    session, project, jobs, server = federation
    hostile = _site_2(project, session, {"HOSTILE_PUSHES": str(MADE_UP_PUSHES)})
    folder = numpy_job(jobs, name="ticking", rounds=1)
    (folder / "app" / "custom" / "trainer.py").write_text(TICKER)
    job_id = session.submit_job(str(folder))
    assert server.process is not None
    server_pid = server.process.pid
    ticks: dict[str, int] = {}

    def on_event(topic: str, data: dict[str, Any]) -> None:
        if topic == "job_log" and data.get("job_id") == job_id:
            ticks[data["target"]] = ticks.get(data["target"], 0) + sum("tick" in line for line in data["lines"])

    async def scenario() -> None:
        follower = AsyncClient(AdminKit.load(project.admin_kit), ADMIN)
        follower.add_event_listener(on_event)
        await follower.connect()
        try:
            await _until(lambda: session.get_job_meta(job_id)["status"] == "RUNNING", "the job to run")
            await follower.request("follow", {"job_id": job_id, "target": "all", "lines": 0}, timeout=60)
            await _until(lambda: ticks.get("site-1", 0) >= 3 and ticks.get("site-2", 0) >= 3, "ticks of both sites")
            before = _rss_mib(server_pid)
            log_before = server.stderr_path.stat().st_size
            (project.kit("site-2") / "push-now").touch()
            await _until(lambda: f"pushed {MADE_UP_PUSHES} job_log events" in hostile.stderr, "the pushes", 120)
            # Site-2 answers this after its pushes, on the same connection: the server has read them all.
            session.get_client_job_status(["site-2"])
            grown = _rss_mib(server_pid) - before
            assert grown < 6, f"the server grew by {grown:.1f} MiB over {MADE_UP_PUSHES} made-up pushes"
            logged = server.stderr_path.read_bytes()[log_before:]
            assert len(logged) < 64 << 10 and b"Traceback" not in logged, logged[-2000:].decode(errors="replace")
            seen = dict(ticks)
            await _until(lambda: all(ticks[site] >= seen[site] + 3 for site in ("site-1", "site-2")),
                         "new ticks of both sites after the pushes")
            assert session.get_job_meta(job_id)["status"] == "RUNNING"
        finally:
            await follower.close()

    try:
        asyncio.run(scenario())
    finally:
        session.abort_job(job_id)
        wait_until(lambda: session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the job to end")
        hostile.stop()
        hostile.kill()


async def _until(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(predicate):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
