"""``flare-console demo --engine nvflare``: a FLARE POC started, the console on it, everything stopped."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from shell_helpers import console_env, wrapped

from conftest import REPO, wait_until

# Runs the console as if the [nvflare] extra were not installed, whatever this venv holds.
WITHOUT_NVFLARE = "import sys; sys.modules['nvflare'] = None; from console.cli import main; sys.exit(main())"


def test_demo_on_flare_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_NVFLARE, "demo", "--engine", "nvflare"], input="",
                          capture_output=True, text=True, timeout=60, env=console_env(tmp_path))
    assert done.returncode == 2
    assert "NVIDIA FLARE is not installed" in done.stderr
    # flare-console is not on PyPI: the clone's extra, installed with this very Python.
    assert f"{shlex.quote(sys.executable)} -m pip install -e {shlex.quote(f'{REPO}[nvflare]')}" in done.stderr


PROMPT = re.compile(r"admin@nvidia\.com(\x1b\[[0-9;]*m)*( on |@)(\x1b\[[0-9;]*m)*\S+(\x1b\[[0-9;]*m)*> ")


def _processes_under(folder: Path) -> list[int]:
    """Live processes whose command line names ``folder`` (FLARE's server, sites and start loops do)."""
    needle = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.timeout(300)
def test_demo_on_flare_opens_the_console_survives_ctrl_c_and_stops_everything(flare_venv: Path,
                                                                                tmp_path: Path) -> None:
    workspace = tmp_path / "poc"
    env = {**console_env(tmp_path, NO_COLOR="1"), "PYTHONPATH": str(REPO)}
    child = pexpect.spawn(str(flare_venv), ["-m", "console", "demo", "--engine", "nvflare", "--workspace",
                                            str(workspace)], env=env, encoding="utf-8", timeout=240,
                          dimensions=(40, 160))
    try:
        child.expect("NVIDIA FLARE server and site-1, site-2 are up")
        child.expect(PROMPT, timeout=60)
        assert _processes_under(workspace)
        child.sendline("check_status client")
        child.expect("site-2", timeout=60)
        child.expect(PROMPT, timeout=60)
        # --stop refuses while this console is open on the POC (naming it), and stops nothing.
        refused = subprocess.run([str(flare_venv), "-m", "console", "demo", "--engine", "nvflare", "--stop",
                                  "--workspace", str(workspace)], capture_output=True, text=True, timeout=60, env=env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"its console, flare-console process {child.pid} (started at" in refused.stderr, refused.stderr
        assert f" demo --engine nvflare --stop --force --workspace {shlex.quote(str(workspace.resolve()))}" in refused.stderr
        assert _processes_under(workspace)
        child.send("list_jo")
        child.sendintr()  # Ctrl-C reaches the console's process group; FLARE runs in its own session
        child.sendline("check_status client")
        child.expect("site-2", timeout=60)
        child.expect(PROMPT, timeout=60)
        child.sendline("submit_job hello-numpy-sag")  # leaving stops the POC under it: bye asks first
        child.expect("Submitted job", timeout=60)
        child.expect(PROMPT, timeout=60)
        child.sendline("bye")
        # Running, or queued still (FLARE's scheduler takes seconds): either way said, with what leaving does.
        child.expect(r"(still running|queued, not started): leaving stops the demo's server and sites", timeout=60)
        child.expect(wrapped("Leave anyway? ["), timeout=60)  # (the question is broken between words)
        child.sendline("y")
        # Ctrl-C while the POC stops: the stop goes on (said), a second one kills at once; no traceback.
        child.expect_exact("stopping the FLARE server and sites", timeout=60)
        child.sendintr()
        child.expect_exact("stopping FLARE's POC; its processes are being stopped", timeout=30)
        child.sendintr()  # (FLARE's stop may have ended just before: then it changes nothing)
        child.expect("stopped: the FLARE server and sites are down", timeout=120)
        assert "Traceback" not in child.before
        child.expect(pexpect.EOF, timeout=60)
        child.close()
        assert child.exitstatus == 0
        assert not _processes_under(workspace)
        assert (workspace / "poc").is_dir()  # --workspace is kept: kits, logs, job store
    finally:
        if child.isalive():
            child.terminate(force=True)
        wait_until(lambda: not _processes_under(workspace), 60, "the demo's reaper to stop FLARE")


def test_a_poc_start_that_fails_or_is_interrupted_ends_with_the_stopped_line(tmp_path: Path) -> None:
    """Ctrl-C during ``demo --engine nvflare``'s start said "stopping the FLARE server and sites" and no end:
    any failure of the start (Ctrl-C is one) ends as bye does. A Python that fails stands in for FLARE's."""
    from console.poc.lifecycle import PocError, start_poc

    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    said: list[str] = []
    with pytest.raises(PocError, match="nvflare poc prepare"):
        start_poc(failing, workspace=tmp_path / "ws", log=said.append)
    assert said[-2:] == ["stopping the FLARE server and sites", "stopped: the FLARE server and sites are down"]
