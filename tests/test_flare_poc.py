"""The live FLARE POC the FLARE tests share (tests/nvflare_poc.py), and console.poc's process reaper."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _kept_poc(tmp_path: Path, prod: Path, marker: str) -> Any:
    """A kept POC (``--workspace``) over ``prod``, its processes marked ``marker``; the interpreter given would
    hang any FLARE command it were asked to run, so a stop that waited for FLARE's own would show in its time."""
    from console.poc import FlarePoc
    from console.poc.processes import MARKER_VAR

    hangs = tmp_path / "python"
    hangs.write_text("#!/bin/sh\nexec sleep 60\n")
    hangs.chmod(0o755)
    return FlarePoc(root=tmp_path, python=hangs, env={MARKER_VAR: marker}, port=1, sites=("site-1", "site-2"),
                    keep_root=True, prod=prod)


@contextlib.contextmanager
def _playing(started: list[subprocess.Popen]) -> Iterator[None]:
    """The processes playing FLARE's parts, once each has said it is ready; killed at the end, also on failure."""
    try:
        for proc in started:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


def _timed_stop(poc: Any) -> tuple[float, list[str]]:
    """How long ``poc.stop`` took (s) and what it said."""
    said: list[str] = []
    started = time.monotonic()
    poc.stop(said.append)
    return time.monotonic() - started, said


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["a site killed", "the server shut down by an admin"])
def test_a_kept_poc_with_a_part_stopped_is_stopped_by_signal_at_once_not_by_flares_stop(
        tmp_path: Path, how: str) -> None:
    """FLARE's own stop waits out its timeouts for a part that cannot answer (31-42 s measured): with the server
    or a site stopped or stopping, the stop goes straight to signals, also while a job runs. Processes play the
    parts and a job, marked and named as FLARE's (``-m PROD/PART``, ``-m ...runner_process``); the interpreter
    given would hang any FLARE command it were asked to run."""
    from console.poc.processes import MARKER_VAR

    marker = uuid.uuid4().hex
    prod = tmp_path / "prod_00"
    parts = ["server", "site-1"] + (["site-2"] if how != "a site killed" else [])
    plays = "import sys, time; print('ready', flush=True); time.sleep(60)"
    started = [subprocess.Popen([sys.executable, "-c", plays, "-m", module], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, MARKER_VAR: marker})
               for module in [*(str(prod / part) for part in parts), "nvflare.private.fed.app.server.runner_process"]]
    for part in parts:
        (prod / part).mkdir(parents=True)
    if how != "a site killed":
        (prod / "server" / "shutdown.fl").touch()  # as FLARE 2.9's server engine on `shutdown`
    poc = _kept_poc(tmp_path, prod, marker)
    with _playing(started):
        assert poc.parts_stopped() == (["site-2"] if how == "a site killed" else ["server"])
        took, said = _timed_stop(poc)
        assert not marked_pids(marker)
        assert took < 8, f"{took:.1f} s"  # signals only; FLARE's stop would have waited 12 s at least
        assert "FLARE's own stop cannot run; stopped by signal" in said[0], said


@pytest.mark.timeout(60)
def test_a_kept_poc_with_no_job_running_is_stopped_by_signal_at_once(tmp_path: Path) -> None:
    """Leaving a FLARE demo with --workspace took 11 s: FLARE's own stop (its CLI, 3 s), then its processes'
    own teardown (3 s) and its start loops' 5 s poll. With no job running, FLARE's stop records nothing a
    signal loses: signals alone, as for a temporary POC; the loops' files go as the loops would remove them.
    Processes play the parts and a loop, marked and named as FLARE's; the interpreter given would hang any
    FLARE command."""
    from console.poc.lifecycle import LOOP_FILES
    from console.poc.processes import MARKER_VAR

    marker = uuid.uuid4().hex
    prod = tmp_path / "prod_00"
    plays = "import sys, time; print('ready', flush=True); time.sleep(60)"
    parts = ["server", "site-1", "site-2"]
    started = [subprocess.Popen([sys.executable, "-c", plays, "-m", str(prod / part)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, MARKER_VAR: marker}) for part in parts]
    started.append(subprocess.Popen(["bash", "-c", "echo ready; while true; do sleep 5; done"], stdout=subprocess.PIPE,
                                    text=True, env={**os.environ, MARKER_VAR: marker}))  # a start loop
    for part in parts:
        (prod / part).mkdir(parents=True)
        for name in LOOP_FILES:
            (prod / part / name).write_text("1")
    (prod / "server" / "log.txt").write_text("kept\n")
    poc = _kept_poc(tmp_path, prod, marker)
    with _playing(started):
        assert poc.job_processes() == []
        took, said = _timed_stop(poc)
        assert not marked_pids(marker)
        assert took < 5, f"{took:.1f} s"  # FLARE's stop would have waited 12 s at least (the interpreter hangs)
        assert said[0] == "stopping the FLARE server and sites", said
        assert not [p for part in parts for p in (prod / part).iterdir() if p.name in LOOP_FILES]
        assert (prod / "server" / "log.txt").read_text() == "kept\n"
