"""The live FLARE POC the FLARE tests share (tests/nvflare_poc.py), and console.poc's process reaper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from nvflare_poc import LiveFlare

from console.poc import PocError, marked_pids, start_poc

from conftest import wait_until

CHECK_STATUS = """
import sys
from nvflare.fuel.flare_api.flare_api import new_secure_session
sess = new_secure_session(sys.argv[1], sys.argv[2], timeout=30)
info = sess.get_system_info()
print("clients:", " ".join(sorted(c.name for c in info.client_info)))
sess.close()
"""


def test_the_poc_is_up_with_both_sites_as_flare_sees_it(flare_poc: LiveFlare) -> None:
    done = flare_poc.run_flare_python(CHECK_STATUS, flare_poc.admin, str(flare_poc.admin_kit))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["clients:", *flare_poc.sites]  # FLARE prints more before
    assert (flare_poc.admin_kit / "startup" / "fed_admin.json").is_file()
    assert flare_poc.poc.processes()  # the marker finds the server and sites


def test_our_console_runs_from_this_checkout_in_flares_venv(flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = flare_poc.run_console(tmp_path, "--help", kit=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: flare-console" in done.stdout
    probe = subprocess.run([str(flare_poc.python), "-c", "import console, nvflare; print(console.__file__)"],
                           env=flare_poc.console_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == str(Path(__file__).resolve().parent.parent / "console" / "__init__.py")


OWNER = """
import subprocess, sys, time
from console.poc.processes import MARKER_VAR, start_reaper
start_reaper(sys.argv[1])
# A FLARE-like straggler: its own session, so only the marker ties it to this run.
subprocess.Popen(["sleep", "300"], env={"PATH": "/usr/bin:/bin", MARKER_VAR: sys.argv[1]}, start_new_session=True)
print("ready", flush=True)
time.sleep(300)
"""


@pytest.mark.timeout(60)
def test_the_reaper_stops_marked_processes_when_the_owner_is_killed() -> None:
    marker = uuid.uuid4().hex
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(OWNER), marker], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        assert len(marked_pids(marker)) == 1
        owner.send_signal(signal.SIGKILL)  # no finally, no atexit: only the reaper is left to clean up
        owner.wait(10)
        wait_until(lambda: not marked_pids(marker), 30, "the reaper to stop the marked sleep")
    finally:
        owner.kill()
        for pid in marked_pids(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(60)
def test_a_stopped_marked_process_ends_on_sigterm_not_after_the_grace() -> None:
    from console.poc.processes import MARKER_VAR, kill_marked

    marker = uuid.uuid4().hex
    # With a SIGTERM handler, as FLARE's server and ours: stopped, it would act on SIGTERM only once continued.
    handles = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)); "
               "print('ready', flush=True); time.sleep(60)")
    sleeper = subprocess.Popen([sys.executable, "-c", handles], env={**os.environ, MARKER_VAR: marker},
                               stdout=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline().strip() == "ready"
        assert marked_pids(marker) == [sleeper.pid]
        sleeper.send_signal(signal.SIGSTOP)  # as a FLARE server the user stopped (or Ctrl-Z'd)
        assert kill_marked(marker, grace=20) == []
        assert sleeper.wait(10) == 143  # continued to act on SIGTERM, not SIGKILLed after the grace
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_poc_workspace_must_be_new_empty_or_one_of_ours(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the operator's own files")
    with pytest.raises(PocError, match="is not empty and holds no FLARE POC made by flare-console"):
        start_poc(Path(sys.executable), workspace=tmp_path, log=lambda _: None)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # nothing written, nothing started


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["a site killed", "the server shut down by an admin"])
def test_a_kept_poc_with_a_part_stopped_is_stopped_by_signal_at_once_not_by_flares_stop(
        tmp_path: Path, how: str) -> None:
    """FLARE's own stop waits out its timeouts for a part that cannot answer (31-42 s measured): with the server
    or a site stopped or stopping, the stop goes straight to signals. Processes play the parts, marked and named
    as FLARE's (``-m PROD/PART``); the interpreter given would hang any FLARE command it were asked to run."""
    from console.poc import FlarePoc
    from console.poc.processes import MARKER_VAR

    marker = uuid.uuid4().hex
    prod = tmp_path / "prod_00"
    hangs = tmp_path / "python"
    hangs.write_text("#!/bin/sh\nexec sleep 60\n")
    hangs.chmod(0o755)
    parts = ["server", "site-1"] + (["site-2"] if how != "a site killed" else [])
    plays = "import sys, time; print('ready', flush=True); time.sleep(60)"
    started = [subprocess.Popen([sys.executable, "-c", plays, "-m", str(prod / part)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, MARKER_VAR: marker}) for part in parts]
    for part in parts:
        (prod / part).mkdir(parents=True)
    if how != "a site killed":
        (prod / "server" / "shutdown.fl").touch()  # as FLARE 2.9's server engine on `shutdown`
    poc = FlarePoc(root=tmp_path, python=hangs, env={MARKER_VAR: marker}, port=1, sites=("site-1", "site-2"),
                   keep_root=True, prod=prod)
    said: list[str] = []
    try:
        for proc in started:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        assert poc.parts_stopped() == (["site-2"] if how == "a site killed" else ["server"])
        took = time.monotonic()
        poc.stop(said.append)
        took = time.monotonic() - took
        assert not marked_pids(marker)
        assert took < 8, f"{took:.1f} s"  # signals only; FLARE's stop would have waited 12 s at least
        assert "FLARE's own stop cannot run; stopped by signal" in said[0], said
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
