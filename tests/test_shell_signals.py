"""Signals at the console, in a real pty: Ctrl-\\ (SIGQUIT) acts as Ctrl-C and never kills it; SIGTERM and
SIGHUP end it as bye does: the terminal's mode is put back and a demo's server and sites are stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CONSOLE, PROMPT, console_env

from console import demo_guard

from conftest import Served

#: Stands in for the user's shell (or make): starts the console in the terminal's foreground, outlives it
#: (Python handlers: the console gets the signals' defaults), then says how it ended and the terminal's mode.
_PARENT = """
import signal, subprocess, sys, termios
for sig in (signal.SIGINT, signal.SIGQUIT):
    signal.signal(sig, lambda *_: None)
child = subprocess.Popen(sys.argv[1:])
print(f"console pid {child.pid}", flush=True)
code = child.wait()
mode = termios.tcgetattr(0)[3]
print(f"ended {code} icanon={bool(mode & termios.ICANON)} echo={bool(mode & termios.ECHO)}", flush=True)
"""


def _spawn(tmp_path: Path, *args: str) -> tuple[pexpect.spawn, int]:
    child = pexpect.spawn(sys.executable, ["-c", _PARENT, CONSOLE, *args], env=console_env(tmp_path, NO_COLOR="1"),
                          encoding="utf-8", timeout=60, dimensions=(40, 160))
    child.expect(r"console pid (\d+)")
    return child, int(child.match.group(1))


def _wait_for_child(parent: int, name: str, timeout: float = 20.0) -> None:
    """Until a process named ``name`` runs under ``parent`` (its child or grandchild: /bin/sh -c)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                ppid = int(fields[1])
                if (entry / "comm").read_text().strip() == name and parent in (ppid, _parent_of(ppid)):
                    return
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.05)
    raise AssertionError(f"no {name} under {parent} within {timeout} s")


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _stop(pid: int, grace: float = 20.0) -> None:
    """The console ended: given ``grace`` s after SIGTERM to stop what it started, then killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(150)
def test_ctrl_backslash_stops_the_command_and_sigterm_stops_the_demo(tmp_path: Path) -> None:
    """Finding: Ctrl-\\ during watch killed the demo's console, left the tty raw and the server and sites up."""
    workspace = tmp_path / "demo"
    demo, console = _spawn(tmp_path, "demo", "--workspace", str(workspace))
    try:
        demo.expect(PROMPT, timeout=90)
        demo.sendline("watch -n 1 list_jobs -m 1")
        demo.expect_exact("Every 1 s")
        demo.send("\x1c")
        demo.expect_exact("watch stopped")
        demo.expect(PROMPT)
        demo.sendline("list_jobs | sleep 30")  # the pipeline's child gets the terminal's signal, as at bash
        _wait_for_child(console, "sleep")
        demo.send("\x1c")
        demo.expect_exact("'sleep 30' stopped (Ctrl-\\)", timeout=10)
        demo.expect(PROMPT)
        assert _alive(console)
        os.kill(console, signal.SIGTERM)
        demo.expect_exact("demo stopped: server and sites are down", timeout=30)
        demo.expect_exact(f"ended {128 + signal.SIGTERM} icanon=True echo=True", timeout=10)
        demo.expect(pexpect.EOF, timeout=10)
        assert demo_guard.running(workspace) is None  # no part left behind, the next demo starts afresh
    finally:
        demo.terminate(force=True)
        _stop(console)
        demo_guard.stop(workspace, force=True)  # what a failure above left behind (nothing, when it passed)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", [signal.SIGHUP, signal.SIGTERM])
def test_an_ending_signal_leaves_the_terminal_as_it_was(served: Served, tmp_path: Path, ending: int) -> None:
    shell, console = _spawn(tmp_path, "--kit", str(served.project.admin_kit))
    try:
        shell.expect(PROMPT)
        os.kill(console, signal.SIGQUIT)  # from outside, at the prompt: as Ctrl-C there, not the end
        shell.send("help bye\r")
        shell.expect_exact("stop monitors, close the session and leave")
        shell.expect(PROMPT)
        os.kill(console, ending)
        shell.expect_exact(f"ended {128 + ending} icanon=True echo=True", timeout=15)
    finally:
        shell.terminate(force=True)
        _stop(console)


@pytest.mark.timeout(60)
def test_ctrl_z_in_top_and_at_a_question_stops_the_console_and_fg_redraws(served: Served, tmp_path: Path) -> None:
    """Finding: Ctrl-Z did nothing inside top (it stopped the console at the prompt, in watch, in the pager)."""
    bash = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], encoding="utf-8", timeout=20, dimensions=(30, 120),
                         env={**console_env(tmp_path, NO_COLOR="1"), "PS1": "bash$ "})
    try:
        bash.expect_exact("bash$ ")
        bash.send(f"{CONSOLE} --kit {served.project.admin_kit}\r")
        bash.expect(PROMPT)
        bash.send("top\r")
        bash.expect_exact("q quit")
        bash.sendcontrol("z")
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        bash.send("fg\r")
        bash.expect_exact("q quit")  # drawn again
        bash.send("q")
        bash.expect(PROMPT)
        bash.send("shutdown server\r")
        bash.expect_exact("are you sure?")
        bash.sendcontrol("z")
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        bash.send("fg\r")
        bash.send("n\r")
        bash.expect(PROMPT)
        bash.send("bye\r")
        bash.expect_exact("bash$ ")
    finally:
        bash.close(force=True)
