"""Signals at the console, in a real pty: Ctrl-\\ (SIGQUIT) acts as Ctrl-C and never kills it; SIGTERM and
SIGHUP end it as bye does: the terminal's mode is put back and a demo's server and sites are stopped."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CONSOLE, PROMPT, console_env

from console import demo_guard

from conftest import Served, wait_until
from jobs import hello_server

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


def _parent_of_or_none(pid: int) -> int | None:
    try:
        return _parent_of(pid)
    except (OSError, ValueError, IndexError):
        return None


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
        # SIGTERM asks nobody (unlike bye): the demo names the running job its stop abandons.
        demo.sendline(f"submit_job {hello_server(tmp_path, name='long-job', steps=300, step_seconds=0.3)}")
        demo.expect(r"Submitted job: ([0-9a-f]{8})")
        job = demo.match.group(1)
        demo.expect(PROMPT)
        os.kill(console, signal.SIGTERM)
        demo.expect_exact(f"demo: abandoned job {job} (long-job, ", timeout=15)
        demo.expect_exact("it ends FINISHED:ABANDONED")
        demo.expect_exact("demo stopped: server and sites are down", timeout=30)
        assert "reconnect" not in demo.before  # it leaves as bye does: the drop on the way out is no loss
        demo.expect_exact(f"ended {128 + signal.SIGTERM} icanon=True echo=True", timeout=10)
        demo.expect(pexpect.EOF, timeout=10)
        assert demo_guard.running(workspace) is None  # no part left behind, the next demo starts afresh
    finally:
        demo.terminate(force=True)
        _stop(console)
        demo_guard.stop(workspace, force=True)  # what a failure above left behind (nothing, when it passed)


def _less_answers(shell: pexpect.spawn) -> None:
    """less shows where it is (``=``). less drops the keys read before it has handled an interrupt, so
    an ``=`` that came too soon after the Ctrl-\\ (seen on a loaded machine) is sent again."""
    for _ in range(5):
        shell.send("=")
        if shell.expect(["lines 1-", pexpect.TIMEOUT], timeout=3) == 0:
            return
    raise AssertionError("less never answered '=' after the Ctrl-\\")


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
        assert "reconnect" not in shell.before  # as bye: the connection's drop on the way out is no loss
    finally:
        shell.terminate(force=True)
        _stop(console)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", [signal.SIGHUP, signal.SIGTERM])
def test_an_ending_signal_in_top_leaves_without_a_reconnecting_line(served: Served, tmp_path: Path,
                                                                   ending: int) -> None:
    """Finding 14: SIGTERM or SIGHUP printed "connection to the server lost; reconnecting..." and a fresh
    prompt on the way out, also with top open: it leaves as bye does, the terminal's mode put back."""
    shell, console = _spawn(tmp_path, "--kit", str(served.project.admin_kit))
    try:
        shell.expect(PROMPT)
        shell.send("top\r")
        shell.expect_exact("q quit")
        os.kill(console, ending)
        shell.expect_exact(f"ended {128 + ending} icanon=True echo=True", timeout=15)
        assert "reconnect" not in shell.before and "connection to the server lost" not in shell.before
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


def _less_under(console: int) -> int | None:
    """The pid of a ``less`` under ``console`` (its child or grandchild), or None."""
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() == "less":
                ppid = _parent_of(int(entry.name))
                if console in (ppid, _parent_of(ppid)):
                    return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


@pytest.mark.timeout(60)
def test_ctrl_backslash_and_sigterm_in_an_explicit_pipeline_to_less(served: Served, tmp_path: Path) -> None:
    """Finding: Ctrl-\\ in ``list_jobs | less`` killed /bin/sh while less went on reading the terminal under
    the prompt; SIGTERM there waited for q. Ctrl-\\ acts as Ctrl-C (less stays until q, then the prompt);
    SIGTERM ends less and the console at once (143), the terminal's mode put back."""
    shell, console = _spawn(tmp_path, "--kit", str(served.project.admin_kit))
    try:
        shell.expect(PROMPT)
        shell.send("list_jobs | less\r")
        _wait_for_child(console, "less")
        shell.expect_exact("(END)")
        shell.send("\x1c")
        _less_answers(shell)  # from under the console (/bin/sh lives on: less is not orphaned)
        assert _less_under(console) is not None
        shell.send("q")
        shell.expect_exact("'less' stopped (Ctrl-\\)", timeout=10)
        shell.expect(PROMPT)
        assert _less_under(console) is None  # nothing left reading the terminal behind the prompt
        shell.send("help bye\r")  # the prompt reads keys as before
        shell.expect_exact("stop monitors, close the session and leave")
        shell.expect(PROMPT)
        shell.send("list_jobs | sleep 30\r")  # a command that stops on Ctrl-C stops on Ctrl-\ too
        _wait_for_child(console, "sleep")
        shell.send("\x1c")
        shell.expect_exact("'sleep 30' stopped (Ctrl-\\)", timeout=10)
        shell.expect(PROMPT)
        shell.send("list_jobs | less\r")
        _wait_for_child(console, "less")
        shell.expect_exact("(END)")
        os.kill(console, signal.SIGTERM)
        shell.expect_exact(f"ended {128 + signal.SIGTERM} icanon=True echo=True", timeout=10)
    finally:
        less = _less_under(console)  # what a failure above left reading the terminal
        shell.terminate(force=True)
        _stop(console)
        if less is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(less, signal.SIGKILL)


#: As ``_PARENT``, for a terminal that goes away: the console's stderr and exit status go to files (make,
#: which outlives a hangup to report its child, stands behind ``make demo``).
_HUNG_UP_PARENT = """
import signal, subprocess, sys
signal.signal(signal.SIGHUP, lambda *_: None)
with open(sys.argv[1], "w") as err:
    child = subprocess.Popen(sys.argv[2:], stderr=err)
    print(f"console pid {child.pid}", flush=True)
    code = child.wait()
with open(sys.argv[1] + ".status", "w") as status:
    status.write(str(code))
"""


@pytest.mark.timeout(90)
def test_a_demo_whose_terminal_closes_ends_quietly_with_129(tmp_path: Path) -> None:
    """Finding: ``make demo`` closed by SIGHUP (tmux kill-server) wrote tracebacks (EIO from its last line on
    the closed terminal), ended 1 and left demo-running.json. The terminal's own hangup after ours also
    cut the demo's stop short. Expected: no word on stderr, 129, the parts stopped, nothing left."""
    workspace, err = tmp_path / "demo", tmp_path / "stderr.txt"
    status = Path(f"{err}.status")
    demo = pexpect.spawn(sys.executable, ["-c", _HUNG_UP_PARENT, str(err), CONSOLE, "demo", "--workspace",
                                          str(workspace)],
                         env=console_env(tmp_path, NO_COLOR="1"), encoding="utf-8", timeout=60, dimensions=(40, 160))
    demo.expect(r"console pid (\d+)")
    console = int(demo.match.group(1))
    try:
        demo.expect(PROMPT, timeout=60)
        os.close(demo.child_fd)  # the terminal goes (its hangup reaches the console too), then the SIGHUP
        os.kill(console, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status.exists(), f"the console did not end within 30 s; stderr: {err.read_text()}"
        assert status.read_text() == str(128 + signal.SIGHUP)
        assert err.read_text() == ""
        assert demo_guard.running(workspace) is None
        assert not list(workspace.glob("demo-running*"))
    finally:
        with contextlib.suppress(OSError):
            demo.close(force=True)
        _stop(console)
        demo_guard.stop(workspace, force=True)  # what a failure above left behind (nothing, when it passed)


@pytest.mark.timeout(60)
def test_ctrl_backslash_in_a_pager_run_by_a_shell_acts_as_ctrl_c(served: Served, tmp_path: Path) -> None:
    """The same for the automatic pager, when $PAGER is a shell running less: /bin/sh died of Ctrl-\\ and
    left less reading the terminal behind the prompt. Now less stays until q, then the prompt reads keys."""
    shell = pexpect.spawn(CONSOLE, ["--kit", str(served.project.admin_kit)], encoding="utf-8", timeout=30,
                          dimensions=(10, 100), env=console_env(tmp_path, NO_COLOR="1", PAGER="sh -c 'less -R'"))
    try:
        shell.expect(PROMPT)
        shell.send("help\r")
        _wait_for_child(shell.pid, "less")
        shell.expect_exact(":")  # less's prompt: the page is shown
        shell.send("\x1c")
        _less_answers(shell)  # from under the console (/bin/sh lives on: less is not orphaned)
        assert _less_under(shell.pid) is not None
        shell.send("q")
        shell.expect(PROMPT)
        assert _less_under(shell.pid) is None
        shell.send("help bye\r")
        shell.expect_exact("stop monitors, close the session and leave")
        shell.expect(PROMPT)
    finally:
        less = _less_under(shell.pid)
        shell.close(force=True)
        if less is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(less, signal.SIGKILL)


@pytest.mark.timeout(120)
def test_ctrl_z_stops_at_once_and_after_fg_the_connection_is_asked_not_taken_for_lost(served: Served,
                                                                                    tmp_path: Path) -> None:
    """user10 #8: a Ctrl-Z typed with Enter waited for the command and its pager; #7: after Ctrl-Z and fg
    the console said "connection lost ... reconnected" of a server that never went away. Here the link is
    cut while the console is stopped and the server is there: asked after fg, nothing is said. A link
    still down after fg is said lost, and back, as any loss."""
    import json

    from relay import Relay, kit_through

    admin = json.loads((served.project.admin_kit / "startup" / "fed_admin.json").read_text())["admin"]
    relay = Relay(admin["port"])
    kit = kit_through(served.project.admin_kit, relay.port, tmp_path / "kit")
    bash = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], encoding="utf-8", timeout=20, dimensions=(30, 160),
                         env={**console_env(tmp_path, NO_COLOR="1"), "PS1": "bash$ "})
    bash.logfile_read = transcript = io.StringIO()
    try:
        bash.expect_exact("bash$ ")
        bash.send(f"{CONSOLE} --kit {kit}\r")
        bash.expect(PROMPT)
        bash.send("help | sleep 30\r\x1a")  # Ctrl-Z in one burst with Enter: read as a key, not a signal
        bash.expect("Stopped")  # at once, not after the 30 s the command takes
        bash.expect_exact("bash$ ")
        bash.send("fg\r")
        console = next(int(e.name) for e in Path("/proc").iterdir()
                       if e.name.isdigit() and _parent_of_or_none(int(e.name)) == bash.pid)
        _wait_for_child(console, "sleep")  # the command went on after fg
        bash.sendcontrol("c")
        bash.expect_exact("'sleep 30' stopped (Ctrl-C)")
        bash.expect(PROMPT)

        bash.sendcontrol("z")  # at the prompt; the link drops while stopped, the server stays
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        assert relay.cut() >= 1
        since = len(transcript.getvalue())
        bash.send("fg\r")
        bash.expect(PROMPT)  # drawn again
        wait_until(lambda: relay.pairs, 30, "the console to ask the server again (a new link through the relay)")
        bash.send("check_status server\r")
        bash.expect(r"status +OK")
        bash.expect(PROMPT)
        after_fg = transcript.getvalue()[since:]
        assert "connection to the server lost" not in after_fg and "reconnected" not in after_fg, after_fg

        bash.sendcontrol("z")  # a link still down after fg: said, and its return
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        relay.refusing.set()
        assert relay.cut() >= 1
        bash.send("fg\r")
        bash.expect_exact("connection to the server lost; reconnecting...", timeout=30)
        relay.refusing.clear()
        bash.expect_exact("reconnected to the server", timeout=30)
        bash.send("bye\r")
        bash.expect_exact("bash$ ")
    finally:
        (tmp_path / "transcript.txt").write_text(transcript.getvalue())
        bash.close(force=True)
        relay.close()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.timeout(90)
def test_ctrl_z_and_fg_under_a_parent_that_is_no_shell_resume_watch_top_and_the_prompt(served: Served,
                                                                                       tmp_path: Path) -> None:
    """Finding: under ``make demo`` Ctrl-Z then ``fg`` during ``watch`` left the console stopped and the terminal
    hung (the console stopped itself alone, after the parent's stop, some time after the user's fg). Here the
    parent is a Python wrapper (as make: no exec, Ctrl-C ignored, Ctrl-Z stops it): bash's fg continues the group; watch, top and the prompt go on, and
    a Ctrl-Z typed with the Enter of a command (a key: nobody else stops) stops the parent too."""
    bash = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], encoding="utf-8", timeout=20, dimensions=(30, 120),
                         env={**console_env(tmp_path, NO_COLOR="1"), "PS1": "bash$ "})
    bash.logfile_read = transcript = io.StringIO()
    console = 0
    try:
        bash.expect_exact("bash$ ")
        (tmp_path / "parent.py").write_text(_PARENT)
        bash.send(f"{sys.executable} {tmp_path / 'parent.py'} {CONSOLE} --kit {served.project.admin_kit}\r")
        bash.expect(r"console pid (\d+)")
        console = int(bash.match.group(1))
        bash.expect(PROMPT)
        watch = ("watch -n 1 list_jobs -m 2", "Every 1 s", "\x03")
        for start, drawn, leave in (watch, ("top", "q quit", "q"), watch, watch):  # (a race: it hung 4 in 5)
            bash.send(f"{start}\r")
            bash.expect_exact(drawn)
            if start.startswith("watch"):
                bash.expect_exact(drawn)  # a second round drawn (the finding: Ctrl-Z after ~2.5 s)
            bash.sendcontrol("z")
            bash.expect("Stopped")
            bash.expect_exact("bash$ ")
            wait_until(lambda: _state(console) == "T", 10, "the console to be stopped")
            bash.send("fg\r")
            bash.expect_exact(drawn)  # drawn again: going on
            assert _state(console) != "T"
            bash.send(leave)
            bash.expect(PROMPT)
        bash.sendcontrol("z")  # at the prompt
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        bash.send("fg\r")
        bash.send("check_status server\r")
        bash.expect(r"status +OK")
        bash.expect(PROMPT)
        bash.send("help | sleep 30\r\x1a")  # Ctrl-Z with Enter, read as a key: the parent must stop too
        bash.expect("Stopped")
        bash.expect_exact("bash$ ")
        bash.send("fg\r")
        _wait_for_child(console, "sleep")
        bash.sendcontrol("c")
        bash.expect(PROMPT)
        bash.send("bye\r")
        bash.expect_exact("ended 0")  # the parent went on after the console, as make goes on
        bash.expect_exact("bash$ ")
    finally:
        (tmp_path / "transcript.txt").write_text(transcript.getvalue())
        bash.close(force=True)
        if console:
            _stop(console)
