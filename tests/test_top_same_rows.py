"""``top``'s snapshot (a batch's ``top``, ``top > FILE``) and its live view render the same rows from the same
data (session 12's user, item 1: the snapshot showed SITES as ``-`` where the view showed the job's sites; it
was drawn from one poll, before the jobs' metas the view reads next, and with one CPU reading of each site).

A real server and sites (the module's shared federation), a real console in a pty for the view and as a batch
for the snapshot: the rows of an ended job, of a running one, and of each site are compared cell by cell, the
cells that move with time (the running job's ELAPSED, a site's HEARTBEAT and CPU) by their shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, PROMPT, console_env, run_console

from conftest import Federation, wait_until
from jobs import numpy_job, stalling_job

pytestmark = pytest.mark.timeout(150)

COLUMNS = 160


def _cells(line: str) -> list[str]:
    return re.split(r" {2,}", line.strip())


def _row(text: str, start: str) -> list[str]:
    [line] = [line for line in text.splitlines() if line.startswith(start)]
    return _cells(line)


@pytest.fixture
def jobs(fed: Federation, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(ended, running): a job that completed, and one in its second round until the test ends (aborted then)."""
    session = fed.session
    ended = session.submit_job(str(numpy_job(tmp_path, name="ended-job", rounds=2)))
    assert session.wait_for_job(ended, timeout=60, poll_interval=0.2)["status"] == "FINISHED:COMPLETED"
    running = session.submit_job(str(stalling_job(tmp_path, "running-job")))
    try:
        wait_until(lambda: session.get_job_meta(running).get("round_metrics"), 30, "the running job's first round")
        yield ended, running
    finally:
        session.abort_job(running)
        session.wait_for_job(running, timeout=30, poll_interval=0.2)


def test_the_snapshot_shows_the_rows_the_live_view_shows(fed: Federation, jobs: tuple[str, str],
                                                         tmp_path: Path) -> None:
    ended, running = jobs
    kit = str(fed.project.admin_kit)
    batch = run_console(tmp_path, "--kit", kit, "-c", "top", COLUMNS=str(COLUMNS))
    assert batch.returncode == 0, batch.stdout + batch.stderr
    snapshot = batch.stdout

    (tmp_path / "tmp").mkdir()
    shell = pexpect.spawn(CONSOLE, ["--kit", kit], env=console_env(tmp_path, NO_COLOR="1", TMPDIR=str(tmp_path / "tmp")),
                          encoding="utf-8", timeout=30, dimensions=(40, COLUMNS))
    try:
        shell.expect(PROMPT)
        # top > FILE in the shell: the same snapshot as the batch's.
        shell.send(f"top > {tmp_path / 'top.txt'}\r")
        shell.expect(r"wrote \d+ lines to ")
        shell.expect(PROMPT)
        written = (tmp_path / "top.txt").read_text()
        screen = Screen(shell, 40, COLUMNS)
        shell.send("top\r")
        # Settled: each site's CPU share (two readings a poll apart) and the ended job's sites are shown.
        screen.wait_for(r"site-1 +connected .* \d+% .*\n.*site-2 +connected .* \d+% ")
        screen.wait_for(rf"{ended[:8]} +ended-job +FINISHED:COMPLETED +2/2 +2 ")
        live = screen.text
        shell.send("q")
        shell.expect(PROMPT)
        shell.send("bye\r")
        shell.expect(pexpect.EOF)
    finally:
        if shell.isalive():
            shell.terminate(force=True)

    for shown in (snapshot, written):
        assert _row(shown, ended[:8]) == _row(live, ended[:8]), (shown, live)
        assert _row(shown, ended[:8])[3:5] == ["2/2", "2"] and "=" in _row(shown, ended[:8])[-1], shown
        # The running job's row: every cell but its ELAPSED, which goes on (known in both: its start time).
        snap, view = _row(shown, running[:8]), _row(live, running[:8])
        assert snap[:5] == view[:5] and snap[6:] == view[6:], (shown, live)
        assert snap[4] == view[4] == "2/2" and re.fullmatch(r"\d+:\d\d:\d\d", snap[5]), (snap, view)
        assert snap[-1] == view[-1] == "accuracy=0.5", (snap, view)
        for site in ("site-1", "site-2"):
            snap, view = _row(shown, site), _row(live, site)
            # SITE, STATE, JOBS as they are; HEARTBEAT, CPU and MEMORY by their shape (they move).
            assert [snap[0], snap[1], snap[3]] == [view[0], view[1], view[3]] == [site, "connected", "1"], (shown, live)
            for cells in (snap, view):
                assert re.fullmatch(r"\d+[smhd] ago", cells[2]), cells
                assert re.fullmatch(r"\d+%", cells[4]) and re.fullmatch(r"\d+ MiB", cells[5]), cells
