"""top and follow on a live NVIDIA FLARE 2.9 POC (the ``flare_poc`` fixture): polled, not pushed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from screen import Screen

from conftest import EXAMPLES

JOB = str(EXAMPLES / "hello-numpy-sag")
SUBMITTED = re.compile(r"Submitted job: ([0-9a-f-]{36})")
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")


def _submit(flare_poc, home: Path) -> str:
    done = flare_poc.run_console(home, "-c", f"submit_job {JOB}", timeout=120)
    found = SUBMITTED.search(done.stdout)
    assert found, f"{done.stdout}\n{done.stderr}"
    return found.group(1)


@pytest.mark.timeout(300)
def test_follow_on_flare_streams_each_targets_new_lines_until_the_job_ends(flare_poc, tmp_path: Path) -> None:
    job = _submit(flare_poc, tmp_path)
    done = flare_poc.run_console(tmp_path, "-c", f"follow {job[:8]} all -n 5", timeout=240)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    for target in ("server", *flare_poc.sites):
        assert any(line.startswith(f"[{target}] ") for line in lines), done.stdout[-3000:]
    assert any("MPM: Good Bye!" in line for line in lines if line.startswith("[server] "))
    # Each line once (logs repeat blank lines; every other line carries a time stamp to the ms).
    stamped = [line for line in lines if re.match(r"\[\S+\] \d{4}-", line)]
    assert len(stamped) == len(set(stamped)), [line for line in stamped if stamped.count(line) > 1]


@pytest.mark.timeout(300)
def test_top_on_flare_polls_rounds_and_leaves_with_q(flare_poc, tmp_path: Path) -> None:
    shell = flare_poc.spawn_console(tmp_path, NO_COLOR="1")
    try:
        shell.expect(PROMPT, timeout=60)
        job = _submit(flare_poc, tmp_path)
        screen = Screen(shell, 40, 160)
        shell.send("top\r")
        screen.wait_for(r"flare-console top .*\(polled every 1 s\)", timeout=30)
        screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected", timeout=30)
        screen.wait_for(rf"{job[:8]} +hello-numpy-sag +RUNNING +\d/\d", timeout=120)
        screen.wait_for(rf"{job[:8]} +hello-numpy-sag +FINISHED:COMPLETED", timeout=180)
        shell.send("q")
        screen.wait_for(r"on server>\s*\Z", timeout=30)
    finally:
        if shell.isalive():
            shell.terminate(force=True)
