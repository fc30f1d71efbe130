"""A running job tells a dead site from a dropped one (console.server.dropped_sites): a site process
killed mid-task, or shut down in order, is lost at once, its job ending as its min_clients rule says
within seconds (it waited out the 60 s reconnect grace for nothing: session 10's note); a site frozen
past its silence limit, which says it connects again (its ``bye``), still gets the grace and its job
completes.

Real server and site processes on loopback with the default grace of 60 s (not the tests' 3 s), so a
job that ends within a few seconds of a kill did not wait it out. Every part is stopped also on failure
(the fixtures; SIGCONT in ``finally`` for a frozen site).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from console.server.abandoned import COLLECTED
from console.server.deployment import AWAY_AT_THE_END

from conftest import Project, SiteProcess, make_project, set_connection_limits, stop_together, wait_until
from jobs import numpy_job

pytestmark = pytest.mark.timeout(120)

GRACE = 60.0  # the default: the job must end long before it
#: Seconds from a site's end to its job's final status, at most: one round's task (0.5 s), the
#: controller's end and the sites' stop, on a loaded CI machine; far below GRACE.
ENDS_WITHIN = 20.0


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = make_project(tmp_path)
    set_connection_limits(project.server_kit, site_reconnect_grace_seconds=GRACE)
    return project


def _running(session, tmp_path: Path, rounds: int, name: str = "numpy-job") -> str:
    """A job on both sites (min_clients 2), its first round done: the next round's task is out on each
    (each takes 0.5 s; one asked later still finds the site gone at once)."""
    job_id = session.submit_job(str(numpy_job(tmp_path, name=name, rounds=rounds, sleep=0.5)))
    wait_until(lambda: session.get_job_meta(job_id).get("round_metrics"), 30, "the job's first round")
    return job_id


def test_a_site_shut_down_or_killed_mid_task_is_lost_at_once(session, sites, project: Project,
                                                            tmp_path: Path) -> None:
    """site-2 shut down in order (SIGTERM: it says so), then, on a site-2 started again, site-1 killed
    (SIGKILL: it says nothing): each time the job ends ABNORMAL (min_clients 2) within seconds, its
    job_errors naming the site and what happened to it. Site-2's workspace of the first job, left on its
    disk, is collected when it connects again. One federation for both: starting one costs seconds."""
    for how, name in (("SIGTERM", "site-2"), ("SIGKILL", "site-1")):
        job_id = _running(session, tmp_path, rounds=30, name=f"gone-{how}")
        sites[name].process.send_signal(getattr(signal, how))
        ended_at = time.monotonic()
        meta = session.wait_for_job(job_id, timeout=ENDS_WITHIN + 10, poll_interval=0.2)
        took = time.monotonic() - ended_at
        assert meta["status"] == "FINISHED:ABNORMAL", meta
        assert took < ENDS_WITHIN, f"the job ended {took:.1f} s after {how}: it waited for the dead site"
        [said] = [e for e in meta["job_errors"].get(name, []) if e.startswith("lost: ")]
        if how == "SIGKILL":
            assert "lost: its site process ended without a word" in said, said
        else:
            assert said.startswith(f"lost: it shut down, and its part of the job ended with it (it said: {name} is "
                                   "shutting down"), said
        assert "not back in time" not in said and "Errno" not in said, said
        other = "site-1" if name == "site-2" else "site-2"
        assert not any(e.startswith("lost") for e in meta["job_errors"].get(other, [])), meta["job_errors"]
        if how == "SIGTERM":  # back for the next case; its workspace of the job, left there, comes with it
            assert AWAY_AT_THE_END in meta["job_errors"][name], meta["job_errors"]
            sites[name].process.wait(timeout=15)
            sites[name] = SiteProcess(project.kit(name)).start()
            wait_until(lambda: len(session.get_connected_client_list()) == 2, 20, f"{name} to register again")
            collected = wait_until(lambda job_id=job_id, name=name: _collected(session, job_id, name), 20,
                                   f"the workspace of {name} to be collected")
            # One note of its workspace, never "not collected" beside "collected"; each note with its time.
            said, times = collected["job_errors"][name], collected["job_error_times"][name]
            assert AWAY_AT_THE_END not in said and len(said) == len(times), collected["job_errors"]
            assert "in place of the note of " in said[-1] and "the site was away when the job ended" in said[-1]
            assert times == sorted(times) and all(datetime.fromisoformat(t).tzinfo for t in times), times


def _collected(session, job_id: str, name: str) -> dict | None:
    """The job's meta once its errors say the workspace of ``name`` was collected."""
    meta = session.get_job_meta(job_id)
    return meta if any(e.startswith(COLLECTED) for e in meta["job_errors"].get(name, [])) else None


@pytest.fixture
def frozen_site(project: Project, server, session) -> Iterator[SiteProcess]:
    """site-1 with a 3 s silence limit (a 4.5 s freeze outlasts it), and site-2 as usual."""
    parts = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
    parts[0].env = {"FLARE_CONSOLE_SITE_SILENCE_SECONDS": "3"}
    try:
        for part in parts:
            part.start()
        wait_until(lambda: len(session.get_connected_client_list()) == 2, 20, "both sites to register")
        yield parts[0]
    finally:
        if parts[0].process is not None:
            os.kill(parts[0].process.pid, signal.SIGCONT)
        stop_together(parts)


def test_a_site_frozen_past_its_silence_limit_says_it_comes_back_and_gets_the_grace(session, server, frozen_site,
                                                                                     tmp_path: Path) -> None:
    job_id = _running(session, tmp_path, rounds=3)
    os.kill(frozen_site.process.pid, signal.SIGSTOP)
    try:
        time.sleep(4.5)  # past its silence limit (3 s), within the server's heartbeat timeout (10 s)
    finally:
        os.kill(frozen_site.process.pid, signal.SIGCONT)
    meta = session.wait_for_job(job_id, timeout=60, poll_interval=0.5)
    assert meta["status"] == "FINISHED:COMPLETED", meta
    errors = " ".join(e for errs in meta.get("job_errors", {}).values() for e in errs)
    assert "lost" not in errors, meta["job_errors"]
    # It gave up on the server it did not hear and said so: the server waited for it, and it came back.
    assert "reconnecting" in frozen_site.stderr, frozen_site.stderr[-2000:]
    assert "site site-1 disconnected (it said bye: reconnecting" in server.stderr, server.stderr[-3000:]
    assert "site-1 is back; task" in server.stderr, server.stderr[-3000:]  # a task out then was asked again
