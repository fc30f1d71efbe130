"""abort_job of a job whose sites are mid-round (the trainer sleeps in ``train``): the job is
FINISHED:ABORTED within a few seconds, its sites are told at once, and both sites' workspaces
(their logs) are kept, as FLARE keeps them. Real server, sites and job processes on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import wait_until
from jobs import numpy_job

PLAIN_SLEEPER = """
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    time.sleep(3)
    return TaskResult({k: v + 1 for k, v in model.items()}, weight=1.0, metrics={"round": ctx.round})
"""


@pytest.mark.timeout(90)
def test_an_aborted_running_job_ends_promptly_and_keeps_its_sites_workspaces(
        server, project, session, sites, tmp_path: Path) -> None:
    job = numpy_job(tmp_path, name="abortmid", rounds=30)
    # As the tester's repro: a trainer that sleeps without looking at ctx.aborted().
    (job / "app" / "custom" / "trainer.py").write_text(PLAIN_SLEEPER)
    job_id = session.submit_job(str(job))
    site_logs = [project.kit(name) / job_id / "log.txt" for name in ("site-1", "site-2")]
    wait_until(lambda: all(log.is_file() and "round" in log.read_text() for log in site_logs), 40,
               "both sites to train")
    started = time.monotonic()
    answer = session.abort_job(job_id)
    took = time.monotonic() - started
    assert answer == "Abort signal has been sent to the server app.", answer
    meta = wait_until(lambda: (m := session.get_job_meta(job_id))["status"].startswith("FINISHED") and m, 20,
                      "the job to end")
    assert meta["status"] == "FINISHED:ABORTED", meta
    # A trainer mid-sleep must not hold the job: its end comes well before the 10 s abort_job answer wait.
    assert took < 8, took
    assert "not collected" not in str(meta.get("job_errors", {})), meta.get("job_errors")
    result = Path(session.download_job_result(job_id, str(tmp_path / "result")))
    for site in ("site-1", "site-2"):
        assert "round" in (result / "sites" / site / "log.txt").read_text(), site
