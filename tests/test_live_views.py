"""The live views in a real pty (pexpect) against a real server and sites: top, follow, plot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CONSOLE, console_env, run_console

from jobs import numpy_job

PROMPT = re.compile(r"admin@example\.com(\x1b\[[0-9;]*m)*@(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")

#: A trainer that writes a log line per round and reports metrics that change by round.
LOGGING_TRAINER = '''
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    ctx.logger.info("%s training round %d of %d", ctx.site_name, ctx.round, ctx.num_rounds)
    deadline = time.monotonic() + {sleep}
    while time.monotonic() < deadline and not ctx.aborted():
        time.sleep(0.02)
    bonus = 0.05 if ctx.site_name == "site-1" else 0.0
    return TaskResult({{k: v + 1 for k, v in model.items()}}, weight=1.0,
                      metrics={{"accuracy": 0.5 + 0.1 * ctx.round + bonus, "loss": 1.0 / ctx.round}})
'''


def logging_job(root: Path, *, rounds: int, sleep: float, name: str = "live-job") -> Path:
    folder = numpy_job(root, name=name, rounds=rounds, sleep=sleep)
    (folder / "app" / "custom" / "trainer.py").write_text(LOGGING_TRAINER.format(sleep=sleep))
    return folder


def spawn_shell(project, home: Path, dimensions: tuple[int, int] = (40, 160), **env: str) -> pexpect.spawn:
    (home / "tmp").mkdir(exist_ok=True)
    return pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)],
                         env=console_env(home, NO_COLOR="1", TMPDIR=str(home / "tmp"), **env),
                         encoding="utf-8", timeout=20, dimensions=dimensions)


@pytest.fixture
def shell(sites, project, tmp_path: Path) -> Iterator[pexpect.spawn]:
    child = spawn_shell(project, tmp_path)
    try:
        child.expect(PROMPT)
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_follow_streams_while_typing_and_unfollow_stops_it(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=6, sleep=0.5)))
    shell.send(f"follow {job_id[:8]} all -n 0\r")
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    shell.send("list_jo")  # half a command typed while lines arrive above it
    shell.expect(re.compile(r"\[site-2\] [^\r\n]*site-2 training round 2 of 6"))
    shell.expect(re.compile(r"\[server\] [^\r\n]*round 2/6"))
    shell.send("bs\r")  # the half-typed line survived the lines printed above it
    shell.expect_exact("live-job")
    shell.expect(PROMPT)
    shell.send("monitors\r")
    shell.expect_exact("log: all")
    shell.expect(PROMPT)
    shell.send(f"unfollow {job_id[:6]}\r")
    shell.expect_exact("stopped following 1 log")
    shell.expect(PROMPT)
    shell.send("monitors\r")
    shell.expect_exact("no monitors running")
    shell.expect(PROMPT)
    session.abort_job(job_id)
    shell.send("bye\r")
    shell.expect(pexpect.EOF)


def test_follow_in_a_batch_blocks_until_the_job_ends(sites, session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=3, sleep=0.3)))
    done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"follow {job_id[:8]} all", timeout=60)
    assert done.returncode == 0, done.stderr
    assert session.get_job_meta(job_id)["status"] == "FINISHED:COMPLETED"
    for r in (1, 2, 3):
        assert re.search(rf"\[site-1\] .*site-1 training round {r} of 3", done.stdout), done.stdout
        assert re.search(rf"\[site-2\] .*site-2 training round {r} of 3", done.stdout), done.stdout
    assert re.search(r"\[server\] .*round 3/3", done.stdout), done.stdout
