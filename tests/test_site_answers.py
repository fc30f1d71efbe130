"""A site's answers to tasks that break the protocol, seen from the job: it ends at once.

A site (tests/hostile_site.py: real site code that writes its answer frame by hand) answers a
task with a frame that is not JSON (a bare NaN), a head that is no object, no data stream, or a
header past the frame limit; and a real executor reports a NaN metric. Each time the job ends
FINISHED:EXECUTION_EXCEPTION with job_errors naming the site and what was wrong, long before the
task timeout (10 minutes), and the honest site stays connected. One server and site-1 serve the
module's cases; each case starts its own site-2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ADMIN, PartProcess, ServerProcess, SiteProcess, make_project, wait_until
from jobs import numpy_job

HOSTILE = Path(__file__).parent / "hostile_site.py"
HEAD = '{"k":"res","id":{id},"ok":true,"data":%s,"stream":true,"size":{size}}'

NAN_METRIC = '''
from console.runtime.contract import TaskResult


def train(model, ctx):
    loss = float("nan") if ctx.site_name == "site-2" else 0.5  # a training that diverged
    return TaskResult({k: v + 1 for k, v in model.items()}, metrics={"loss": loss})
'''


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    """(session, project, folder for jobs): the server and site-1 up; each test brings site-2."""
    from console.flare_api import new_secure_session

    project = make_project(tmp_path_factory.mktemp("answers"))
    server, honest = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1"))
    session = None
    try:
        server.start()
        honest.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        yield session, project, tmp_path_factory.mktemp("jobs")
    finally:
        if session is not None:
            session.close()
        for part in (honest, server):
            part.stop()
            part.kill()


def _site_2(project: Any, session: Any, answer: str | None) -> PartProcess:
    site = SiteProcess(project.kit("site-2"))
    if answer is not None:
        site.argv = [sys.executable, str(HOSTILE), str(project.kit("site-2"))]
        site.env = {"HOSTILE_ANSWER": answer}
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
    ('{"k":"res","id":{id},"ok":true,"data":{"weight":1.0,"metrics":{}}}', "task 1: the answer of site-2 to task has no data stream"),
    (HEAD % '{"weight":1.0,"metrics":{},"pad":"{pad}"}', "broke the protocol (header length"),
], ids=["bare-nan", "head-not-an-object", "no-data-stream", "header-over-the-limit"])
def test_a_broken_answer_fails_the_job_at_once_naming_the_site(federation, answer: str, said: str) -> None:
    session, project, jobs = federation
    hostile = _site_2(project, session, answer)
    try:
        meta = _run(session, numpy_job(jobs, name="broken-answer", rounds=1))
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        assert list(meta["job_errors"]) == ["site-2"], meta["job_errors"]
        [error] = meta["job_errors"]["site-2"]
        assert said in error, error
        assert "site-1" in {c.name for c in session.get_connected_client_list()}
    finally:
        hostile.stop()
        hostile.kill()


@pytest.mark.timeout(120)
def test_an_executor_reporting_a_nan_metric_fails_the_job_at_once(federation) -> None:
    """A real site whose executor returns metrics={"loss": nan}: refused where it arises, with the
    metric named, instead of an answer its site cannot send (the job waited out its task timeout)."""
    session, project, jobs = federation
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
