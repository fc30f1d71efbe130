"""What a site says it runs at login is judged by what the server sent it (console.server.site_claims).

The security tester's site claimed ~1,200 made-up running jobs at each login: the server wrote a log.txt
line and sent an abort_job for each (125 logins in 20 s, 7.8 MB of log.txt). Here a real server, an
honest site-1 and a hostile site-2 (tests/hostile_site.py: the project's real site code with its own
certificate, ``HOSTILE_CLAIMS``: 1,200 made-up jobs in each login answer, new ones each time, after the
jobs it really runs): each of its logins writes one line about the claims, naming the site and the
count; log.txt grows by a bounded number of bytes; an admin is answered meanwhile; and a real job
site-2 really runs, which went on without it, is still stopped there when it connects again. The rule
itself (which claims count) is checked on a real job store too.

Its neighbour of the same kind, a list in one frame that the server acted on item by item: the targets
of a task the job's controller (job code) sends. A name no site of the job is answered at once, never
asked nor waited for, and a site named many times is asked once.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.server.running_job import RunningJob
from console.server.site_claims import MAX_CLAIMS, judge
from console.server.store import JobStore, Submitter

from conftest import (
    ADMIN,
    HostileSiteProcess,
    Project,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
    wait_until,
)
from jobs import numpy_job

CLAIMS = 1200  # the tester's count: about what a login answer holds (64 KiB)
LOGINS = 6
#: log.txt bytes all of site-2's logins here may add, its honest lines included (before: ~200 KB a login).
BOUND = 16 << 10


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Any, Any, Any]]:
    """(project, server, site-2, session): a server, site-1 and the claiming site-2, connected."""
    from console.flare_api import new_secure_session

    project = make_project(tmp_path_factory.mktemp("claims"))
    server, honest = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1"))
    hostile = HostileSiteProcess(project.kit("site-2"), HOSTILE_CLAIMS=str(CLAIMS))
    session = None
    try:
        server.start()
        start_together([honest, hostile])
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        wait_until(lambda: len(session.get_connected_client_list()) == 2, 20, "both sites to register")
        yield project, server, hostile, session
    finally:
        if session is not None:
            session.close()
        stop_together([hostile, honest])
        server.stop()
        server.kill()


def _connected_at(session, site: str) -> float | None:
    return next((c.last_connect_time for c in session.get_connected_client_list() if c.name == site), None)


def _connected_since(session, site: str, was: float | None) -> float | None:
    """When ``site`` connected, if it is connected on a link other than the one of ``was`` (its time)."""
    at = _connected_at(session, site)
    return at if at is not None and at != was else None


def _rounds_of(session, job_id: str) -> list[list[str]]:
    """The sites of each round of the job so far, in order."""
    metrics = session.get_job_meta(job_id).get("round_metrics") or []
    return [sorted(entry.get("sites") or {}) for entry in metrics]


@pytest.mark.timeout(120)
def test_made_up_running_jobs_at_login_cost_one_line_and_a_real_one_is_still_stopped(federation,
                                                                                     tmp_path: Path) -> None:
    project, server, hostile, session = federation
    log_txt = project.server_kit / "log.txt"
    said = f"site site-2 said at login that it runs {CLAIMS} job(s) the server has no record of sending it"
    wait_until(lambda: said in log_txt.read_text(), 10, "the line about site-2's first login")
    # A real job on both sites (min_clients 1), which goes on without site-2 once an admin disables it.
    job_id = session.submit_job(str(numpy_job(tmp_path, name="claimed", rounds=300, sleep=0.1, min_clients=1)))
    wait_until(lambda: ["site-1", "site-2"] in _rounds_of(session, job_id), 30, "a round on both sites")
    session.disable_client("site-2")
    wait_until(lambda: _rounds_of(session, job_id)[-1] == ["site-1"], 30, "a round without site-2")
    start = log_txt.stat().st_size

    logins_started = time.monotonic()
    session.enable_client("site-2")  # back, still running the job: told to stop it there
    last = None
    for n in range(LOGINS):
        last = wait_until(lambda was=last: _connected_since(session, "site-2", was), 20, f"site-2's login {n + 1}")
        # The server serves its admin between (and during) the logins.
        assert session.check_status("server")["server_status"] == "started"
        if n + 1 < LOGINS:
            session.remove_client("site-2")  # it connects again at once, with 1,200 new claims
    elapsed = time.monotonic() - logins_started

    # The honest case: the job it really runs is stopped there, at its first login, and only there.
    server.wait_for_line(f"site site-2 still runs job {job_id}, which is not running with it", 10)
    wait_until(lambda: session.check_status("client", ["site-2"])["client_status"] == [
        {"client_name": "site-2", "status": "no_jobs"}], 20, "site-2 to stop the job")
    assert session.get_job_status(job_id) == "RUNNING"  # on site-1, untouched

    def logged() -> str:
        return log_txt.read_bytes()[start:].decode(errors="replace")

    wait_until(lambda: logged().count(said) >= LOGINS, 10, "a line for each login")
    added = logged()
    lines = [line for line in added.splitlines() if "site-2" in line]
    assert len(added.encode()) < BOUND, (len(added.encode()), elapsed, added[-3000:])
    claims = [line for line in lines if said in line]
    assert len(claims) == LOGINS, lines  # one a login (a burst of 10 a period is written as it comes)
    # The real job is judged apart (the first login's 1,200 are the made-up ones); past MAX_CLAIMS, only counted.
    assert all(re.search(rf"; 9\d\d of them past the {MAX_CLAIMS} a login is looked up for, not looked up\)", line)
               for line in claims), claims
    assert added.count("still runs job") == 1, lines  # none for the made-up ones
    assert "Traceback" not in added
    session.abort_job(job_id)


def _job(store: JobStore, tmp: Path, deploy_map: dict[str, list[str]], went_to: list[str] = ()) -> str:
    job_id = str(uuid.uuid4())
    archive = tmp / f"{job_id}.zip"
    archive.write_bytes(b"zip")
    store.create_job(job_id, archive, {"name": "job", "deploy_map": deploy_map, "min_clients": 1,
                                       "mandatory_clients": [], "resource_spec": {}}, "folder", ME)
    if went_to:
        store.update_meta(job_id, job_deploy_detail=["server: OK", *(f"{site}: OK" for site in went_to)])
    return job_id


ME = Submitter("admin@example.com", "example", "project_admin")


def test_only_jobs_the_server_sent_the_site_or_deleted_count_and_the_rest_is_only_counted(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store")
    try:
        named = _job(store, tmp_path, {"app": ["server", "site-2"]})  # its deploy_map names site-2
        everywhere = _job(store, tmp_path, {"app": ["@ALL"]})
        went = _job(store, tmp_path, {"app": ["server", "site-1"]}, went_to=["site-1", "site-2"])  # its record
        others = _job(store, tmp_path, {"app": ["server", "site-1"]}, went_to=["site-1"])  # another site's
        running_with = _job(store, tmp_path, {"app": ["server", "site-2"]})
        collected = _job(store, tmp_path, {"app": ["server", "site-2"]})  # the server's own list has it
        deleted = _job(store, tmp_path, {"app": ["server", "site-1"]})
        store.delete_job(deleted, ME)
        made_up = [str(uuid.uuid4()) for _ in range(MAX_CLAIMS + 40)]
        claimed = [named, named, everywhere, went, others, running_with, collected, deleted, *made_up, named]
        running = {running_with: RunningJob(running_with, "job", "app", tmp_path, sites=["site-1", "site-2"])}
        claims = judge("site-2", claimed, running, store, handled={collected})
        assert claims.stale == [(named, False), (everywhere, False), (went, False), (deleted, True)]
        looked = MAX_CLAIMS - 6  # made-up ones looked up: the first MAX_CLAIMS distinct claims hold 6 real ones
        assert claims.ignored == [others, *made_up[:looked]]
        assert claims.past_cap == len(made_up) - looked
        # The same jobs claimed by site-1: the one deployed only to site-1 counts, site-2's do not.
        claims = judge("site-1", [named, others, went], {}, store)
        assert claims.stale == [(others, False), (went, False)] and claims.ignored == [named]
    finally:
        store.close()


#: A controller (job code) whose first task names many sites that are not the job's, and site-1 thrice.
MANY_TARGETS = """
from console.runtime.fedavg import fedavg


def run(ctx):
    ctx.sites[:] = [f"made-up-{n}" for n in range(400)] + ["site-1"] * 3
    fedavg(ctx)
"""


@pytest.mark.timeout(90)
def test_a_tasks_made_up_and_repeated_targets_cost_nothing_each(federation, tmp_path: Path) -> None:
    project, server, _, session = federation
    folder = numpy_job(tmp_path, name="many-targets", rounds=2, min_clients=1)
    (folder / "app" / "custom" / "controller.py").write_text(MANY_TARGETS)
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({"controller": "controller:run", "args": config["args"]}))
    log_txt = project.server_kit / "log.txt"
    start = log_txt.stat().st_size
    started = time.monotonic()
    job_id = session.submit_job(str(folder))
    # Before: each made-up target waited out the reconnect grace (60 s by default) and was kept in job_errors.
    wait_until(lambda: session.get_job_status(job_id).startswith("FINISHED"), 30, "the job to end")
    assert session.get_job_status(job_id) == "FINISHED:COMPLETED", session.get_job_meta(job_id).get("job_errors")
    assert time.monotonic() - started < 20
    meta = session.get_job_meta(job_id)
    assert not [target for target in meta.get("job_errors") or {} if target.startswith("made-up")], meta
    assert all(sorted(entry["sites"]) == ["site-1"] for entry in meta["round_metrics"]), meta["round_metrics"]
    assert "made-up" not in log_txt.read_bytes()[start:].decode(errors="replace")
