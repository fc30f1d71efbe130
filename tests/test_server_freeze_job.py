"""A server frozen (SIGSTOP) for longer than its sites' silence limit while a job runs: the sites drop
their links and connect again once it thaws, and the job goes on with them, FINISHED:COMPLETED, no site
counted lost (fuser10 #1: it ended ABNORMAL, "site-1 lost: site site-1 is not connected").

Real server and site processes; the sites' silence limit shortened to 6 s through its environment
setting, so the freeze (9 s) outlasts it within a short test. SIGCONT in ``finally``: a failing test
never leaves the server frozen; the parts are stopped also on failure.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import (
    ServerProcess,
    SiteProcess,
    make_project,
    set_connection_limits,
    stop_federation,
    wait_until,
)
from jobs import numpy_job

pytestmark = pytest.mark.timeout(120)

SILENCE = 6.0  # past the server's heartbeat every 5 s: a site hears it within the limit while it runs


def test_a_job_outlives_a_server_frozen_past_the_sites_silence_limit(tmp_path: Path) -> None:
    from console.flare_api import new_secure_session

    project = make_project(tmp_path / "project")
    set_connection_limits(project.server_kit, site_reconnect_grace_seconds=60)  # the default, not the tests' 3 s
    server = ServerProcess(project.server_kit)
    sites = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
    for site in sites:
        site.env = {"FLARE_CONSOLE_SITE_SILENCE_SECONDS": str(SILENCE)}
    session = None
    try:
        server.start()
        for site in sites:
            site.start()
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=10)
        wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "both sites to register")
        job_id = session.submit_job(str(numpy_job(tmp_path, rounds=6, sleep=0.5)))
        wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 30, "the job to run")
        time.sleep(1.0)  # (into a round: a task is out on the sites when the server freezes)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            time.sleep(SILENCE * 1.5)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        meta = session.wait_for_job(job_id, timeout=60, poll_interval=0.5)
        assert meta["status"] == "FINISHED:COMPLETED", meta
        errors = " ".join(e for errs in meta.get("job_errors", {}).values() for e in errs)
        assert "lost" not in errors and "Errno" not in errors, meta["job_errors"]
        for site in sites:  # the freeze did make them drop their links (else this test proves nothing)
            assert "reconnecting" in site.stderr, site.stderr[-2000:]
        assert "is back; task" in server.stderr, server.stderr[-3000:]  # a task out then was asked again
        # Each site's word, said while the server was frozen, waited in the socket for it (console.wire.goodbye).
        for name in ("site-1", "site-2"):
            assert f"site {name} disconnected (it said bye: reconnecting" in server.stderr, server.stderr[-3000:]
    finally:
        stop_federation(server, sites, session)


def test_a_lost_site_is_said_in_words() -> None:
    """What job_errors say of a site lost: what its link's OS error means, never ``[Errno 32] Broken pipe``."""
    from console.server.dropped_sites import lost_words
    from console.wire.exceptions import NoConnection

    broken = lost_words(BrokenPipeError(32, "Broken pipe"), 60)
    assert broken.startswith("its connection broke (broken pipe), and it was not back in time"), broken
    assert "Errno" not in lost_words(ConnectionResetError(104, "Connection reset by peer"), 60)
    assert lost_words(NoConnection("site site-1 is not connected"), 60).startswith(
        "site site-1 is not connected, and it was not back in time (a dropped site gets up to 60 s")
