"""The FLARE API conformance scenario (benchmarks/conformance_scenario.py) against our real server.

Always: ours, compared with NVFlare 2.9's recorded run (benchmarks/data/). With FLARE_PEER=1
also against a live NVFlare POC (installs nvflare into its own cached venv: a minute or two).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parent.parent / "benchmarks" / "conformance.py"


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CONFORMANCE), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_ours_matches_the_recorded_nvflare_run() -> None:
    done = _run("--recorded", timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 unexplained" in done.stdout


@pytest.mark.skipif(os.environ.get("FLARE_PEER") != "1", reason="set FLARE_PEER=1 to run against a live NVFlare")
@pytest.mark.timeout(900)
def test_ours_matches_a_live_nvflare_run() -> None:
    done = _run("--check", timeout=880)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 unexplained" in done.stdout
