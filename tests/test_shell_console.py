"""The console as a pgcli user uses it, in a real pty (pexpect) against a real server: questions,
rights, pastes, aliases, monitors, timing, output, completion while typing, settings, type-ahead."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CONSOLE, PROMPT, console_env, wrapped

from console.server.audit import AUDIT_FILE, AUDIT_FOLDER, UNCHANGED

from conftest import ADMIN, make_project, wait_until
from jobs import hello_server, waiting_for_sites

MEMBER = "member@example.com"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def project(tmp_path: Path):
    return make_project(tmp_path, extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"}])


def spawn(kit: Path, home: Path, dimensions: tuple[int, int] = (40, 160), **env: str) -> pexpect.spawn:
    return pexpect.spawn(CONSOLE, ["--kit", str(kit)], env=console_env(home, NO_COLOR="1", **env),
                         encoding="utf-8", timeout=20, dimensions=dimensions)


@pytest.fixture
def shell(server, project, tmp_path: Path) -> Iterator[pexpect.spawn]:
    child = spawn(project.kit(ADMIN), tmp_path)
    try:
        child.expect(PROMPT)
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def leave(shell: pexpect.spawn, how: str = "bye\r") -> None:
    shell.send(how)
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_questions_come_after_the_right_and_ctrl_c_or_d_cancel_them(shell, server, project, session,
                                                                    tmp_path: Path) -> None:
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    # The question names the job, its name and status; Ctrl-C there cancels the command, not the console.
    shell.send(f"abort_job {job_id[:8]}\r")
    shell.expect_exact(f"abort_job job {job_id} (needs-sites, SUBMITTED): are you sure? [y/N]")
    shell.sendcontrol("c")
    shell.expect_exact("abort_job cancelled")
    shell.expect(PROMPT)
    shell.send(f"delete_job {job_id[:8]}\r")
    shell.expect_exact("are you sure? [y/N]")
    shell.sendcontrol("d")
    shell.expect_exact("delete_job cancelled")
    shell.expect(PROMPT)
    assert session.get_job_status(job_id) == "SUBMITTED"
    # A refusal the server knows before acting comes before the question (sites not connected).
    # In the words FLARE's refusal has on its backend too (console.stop_refusals, tests/test_stop_refusals.py).
    shell.send("restart client site-1 site-2\r")
    assert shell.expect(["restart was refused: sites site-1, site-2 are not connected; connected sites: none",
                         "are you sure"]) == 0, "asked before refusing"
    shell.expect(PROMPT)
    shell.send("remove_client site-1\r")
    assert shell.expect(["remove_client was refused: site site-1 is not connected", "are you sure"]) == 0, \
        "asked before refusing"
    shell.expect(PROMPT)
    shell.send("restart server\r")
    shell.expect_exact("restart the server: are you sure? [y/N]")
    shell.send("n\r")
    shell.expect_exact("restart cancelled")
    shell.expect(PROMPT)
    shell.send("shutdown all\r")
    shell.expect_exact("shutdown the server and every site: are you sure? [y/N]")
    shell.send("\r")  # the default is no
    shell.expect_exact("shutdown cancelled")
    shell.expect(PROMPT)
    # A running job: restart and shutdown are refused before the question, naming it (FLARE's console too).
    running = session.submit_job(str(hello_server(tmp_path, name="long-job", steps=300, step_seconds=0.3)))
    wait_until(lambda: session.get_job_status(running) == "RUNNING", 30, "the job to run")
    try:
        for line in ("restart all", "shutdown server", "restart server"):
            shell.send(line + "\r")
            said = (f"{line.split()[0]} was refused: job {running} (long-job) is still running; let it finish or "
                    f"abort it first (abort_job {running})")
            assert shell.expect([wrapped(said), "are you sure"]) == 0, f"{line}: asked first"
            shell.expect(PROMPT)
    finally:
        session.abort_job(running)
    leave(shell)
    # The checks before the questions did nothing, and the audit trail says so: no change recorded.
    trail = project.server_kit / AUDIT_FOLDER / AUDIT_FILE
    checks = [r for r in map(json.loads, trail.read_text().splitlines())
              if r.get("command") in ("restart", "shutdown") and (r.get("args") or {}).get("check_only")]
    done = [r for r in checks if r["outcome"] == "done"]  # restart server, shutdown all: asked, then 'n'
    assert len(done) == 2 and all("nothing done" in r.get(UNCHANGED, "") for r in done), checks

    # A member is refused before any question.
    member = spawn(project.kit(MEMBER), tmp_path)
    try:
        member.expect_exact("member@example.com on ")
        member.expect_exact("> ")
        for line in ("shutdown all", f"abort_job {job_id[:8]}"):
            member.send(line + "\r")
            index = member.expect_exact(["needs the '", "are you sure"])
            assert index == 0, f"{line}: asked before refusing"
            member.expect_exact("right, which member@example.com does not hold on this server")
        assert session.get_job_status(job_id) == "SUBMITTED"
        leave(member, "quit\r")
    finally:
        member.terminate(force=True)


def test_pastes_aliases_monitors_and_timing(shell, session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    # A paste of two lines (bracketed paste, as a terminal sends it) runs two commands, in order.
    shell.send(f"\x1b[200~list_jobs -m 1\r\nget_job_meta {job_id[:8]}\x1b[201~\r")
    shell.expect_exact("needs-sites")
    shell.expect_exact(f"{job_id}")
    shell.expect(PROMPT)
    # ';' separates commands on one line; aliases and upper case are understood.
    shell.send("monitors; ? list_jobs; HELP get_job_meta\r")
    shell.expect_exact("no monitors running")
    shell.expect_exact("usage: list_jobs")
    shell.expect_exact("usage: get_job_meta JOB_ID")
    shell.expect(PROMPT)
    # One monitor per job.
    shell.send(f"monitor_job {job_id[:8]}\r")
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    shell.send(f"monitor_job {job_id}\r")
    shell.expect_exact("is already monitored")
    shell.expect(PROMPT)
    shell.send("monitors\r")
    shell.expect_exact(job_id)
    shell.expect(PROMPT)
    # Timing: the request's time, also for a failed command.
    shell.send("timing on\r")
    shell.expect(PROMPT)
    shell.send("get_job_meta nope\r")
    shell.expect_exact("JobNotFound")
    shell.expect(re.compile(r"\(\d+\.\d ms\)"))
    shell.expect(PROMPT)
    # psql's names: \timing switches it (as \q is bye), \? is help; the shell's own commands and the
    # live views the user leaves (top) time nothing, so no "(N ms)" follows them, nor bye.
    shell.send("\\timing\r")
    shell.expect_exact("timing off")
    shell.expect(PROMPT)
    shell.send("\\timing on; \\? list_jobs; monitors\r")
    shell.expect_exact("timing on")
    shell.expect_exact("usage: list_jobs")
    shell.expect_exact(job_id)
    shell.expect(PROMPT)
    assert "ms)" not in shell.before and "unknown command" not in shell.before
    shell.send("top\r")
    shell.expect_exact("flare-console top")
    shell.send("q")
    shell.expect(PROMPT)
    assert "ms)" not in shell.before
    shell.send("\\q\r")
    shell.expect(pexpect.EOF)
    assert "ms)" not in shell.before
    shell.close()
    assert shell.exitstatus == 0


def test_a_command_while_the_server_is_down_fails_at_once(shell, server) -> None:
    server.kill()
    shell.expect_exact("connection to the server lost; reconnecting...")
    started = time.monotonic()
    shell.send("list_jobs\r")
    shell.expect_exact("the server is unreachable, so list_jobs was not sent; the console keeps reconnecting")
    assert time.monotonic() - started < 3  # generous for a loaded machine; it used to take ~29 s
    shell.expect(PROMPT)
    shell.send("help bye\r")  # the shell's own commands still work
    shell.expect_exact("usage: bye")
    server.start()
    shell.expect_exact("reconnected to the server")
    shell.send("list_jobs\r")
    shell.expect_exact("(none)")
    leave(shell)


def test_the_server_shut_down_by_you_is_said_with_how_to_leave_not_as_a_lost_connection(shell, server) -> None:
    """The tester's case (`shutdown all` in the demo left `disconnected, reconnecting...` and no hint); once
    the server is back, a later loss is a loss again."""
    shell.send("shutdown server --yes\r")
    shell.expect_exact("the server was shut down by you: leave with `bye`, or start it again (startup/start.sh "
                       "in the server's kit) and this console reconnects")
    assert "connection to the server lost" not in shell.before  # (the toolbar's words: test_shell_units)
    server.process.wait(30)  # it really went
    shell.send("list_jobs\r")  # a command meanwhile says the same, not that the server is unreachable
    shell.expect_exact("the server was shut down by you, so list_jobs was not sent; leave with bye")
    server.start()
    shell.expect_exact("reconnected to the server")
    server.kill()
    shell.expect_exact("connection to the server lost; reconnecting...")
    server.start()
    shell.expect_exact("reconnected to the server")
    leave(shell)


PAGER = """
import os, select, sys, termios, tty
sys.stdin.read()
fd = os.open("/dev/tty", os.O_RDONLY)
saved = termios.tcgetattr(fd)
tty.setcbreak(fd, termios.TCSANOW)
pending = os.read(fd, 100) if select.select([fd], [], [], 0.3)[0] else b""
termios.tcsetattr(fd, termios.TCSANOW, saved)
print("PAGER-GOT:" + repr(pending))
"""


def test_type_ahead_waits_for_the_next_prompt(server, project, session, tmp_path: Path) -> None:
    for name in ("first", "second"):
        session.submit_job(str(waiting_for_sites(tmp_path / name, name=name)))
    pager = tmp_path / "pager.py"
    pager.write_text(PAGER)
    # 12x80: two jobs are too wide for a table, and as records too tall: they go through the pager.
    shell = spawn(project.kit(ADMIN), tmp_path, (12, 80), PAGER=f"{sys.executable} {pager}")
    try:
        shell.expect(PROMPT)
        server.process.send_signal(signal.SIGSTOP)  # list_jobs now waits for the server
        try:
            shell.send("list_jobs\r")
            time.sleep(0.5)
            shell.send("help bye\rmoni")  # typed while list_jobs runs
            shell.expect(pexpect.TIMEOUT, timeout=1.5)
            assert "help bye" not in shell.before and "moni" not in shell.before  # not echoed into its output
        finally:
            server.process.send_signal(signal.SIGCONT)
        shell.expect_exact("PAGER-GOT:b''")  # the pager got none of it...
        shell.expect_exact("usage: bye")  # ...the next prompt did: the whole line ran
        shell.expect(PROMPT)
        shell.send("tors\r")  # and the half-typed word waited in the line
        shell.expect_exact("no monitors running")
        shell.expect(PROMPT)
        leave(shell)
    finally:
        shell.terminate(force=True)


def test_output_completion_while_typing_and_settings_that_last(shell, session, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    job_id = session.submit_job(str(hello_server(jobs, steps=1, step_seconds=0.1)))
    wait_until(lambda: session.get_job_status(job_id).startswith("FINISHED"), 30, "the job to finish")
    short = job_id[:8]
    # Logs as text with a header per target; a finished job's errors point to its record, where our
    # server keeps them (the twelfth user's item 6: they pointed to its logs).
    shell.send(f"get_job_logs {short}\r")
    shell.expect_exact("== server ==")
    shell.expect(PROMPT)
    assert "\\n" not in shell.before
    shell.send(f"show_errors {short} server\r")
    shell.expect(wrapped(f"is not running, so there are no live errors to show; once a job has ended, its errors "
                         f"are in its record: get_job_meta {short} (job_errors)"))
    shell.expect(PROMPT)
    shell.send(f"show_stats {short} server\r")
    shell.expect(wrapped(f"no live stats to show; once a job has ended, its per-round metrics: plot {short}"))
    shell.expect(PROMPT)
    # A folder without meta.json is refused at once, naming the job folders inside it.
    shell.send(f"submit_job {jobs}\r")
    shell.expect(wrapped("is not a job folder: it has no meta.json; job folders inside it: hello-server-1x0.1"))
    shell.expect(PROMPT)
    # Completion while typing, no Tab: commands, then job IDs newest first with name, status and age.
    shell.send("get_job_me")
    shell.expect_exact("the full meta of a job")
    shell.sendcontrol("c")
    shell.send("monitor_job ")
    shell.expect(re.compile(rf"{short}\s.*hello-server  FINISHED:COMPLETED  \d+s ago"))
    shell.sendcontrol("c")
    # Records for people; raw is the wire's JSON; expanded on shows records vertically.
    shell.send(f"get_job_meta {short}\r")
    shell.expect(re.compile(r"submit_time +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\r\n"))  # local time, whole seconds
    shell.expect(PROMPT)
    shell.send(f"set format raw; get_job_meta {short}\r")
    shell.expect(rf'\{{"[^\r\n]*"job_id": "{job_id}"')  # one line of JSON, as it came
    shell.expect(PROMPT)
    shell.send("set format table; set expanded on; list_jobs; timing on\r")
    shell.expect_exact("-[ RECORD 1 ]")
    shell.expect_exact("timing on")
    shell.expect(PROMPT)
    # A user theme from the config folder, and every setting kept for next time.
    themes = tmp_path / "config" / "flare-console" / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text('name = "mine"\n[styles]\nprompt = "bold"\n')
    shell.send("theme mine\r")
    shell.expect_exact("theme: mine")
    leave(shell)
    config = (tmp_path / "config" / "flare-console" / "config.toml").read_text()
    for line in ('theme = "mine"', 'format = "table"', 'expanded = "on"', "timing = true"):
        assert re.search(rf"^{re.escape(line)}$", config, re.M), line
    assert config.startswith("# flare-console settings")  # the comments stay


def test_output_to_files_and_pipes_watch_editor_vi_and_f_keys(server, project, tmp_path: Path) -> None:
    shell = spawn(project.kit(ADMIN), tmp_path, EDITOR="sed -i s/XYZ/monitors/")
    try:
        shell.expect(PROMPT)
        out = tmp_path / "out.txt"
        shell.send(f"help > {out}\r")
        shell.expect(re.compile(r"wrote \d+ lines to "))
        shell.expect(PROMPT)
        assert "list_jobs" in out.read_text()
        shell.send("help get_job_meta | tr a-z A-Z\r")  # the user's own pipeline gets the output
        shell.expect_exact("USAGE: GET_JOB_META JOB_ID")
        shell.expect(PROMPT)
        # watch redraws a command's output in place until Ctrl-C.
        shell.send("watch -n 0.5 monitors\r")
        for _ in range(2):
            shell.expect_exact("Every 0.5 s: monitors")
            shell.expect_exact("no monitors running")
        shell.sendcontrol("c")
        shell.expect_exact("watch stopped")
        shell.expect(PROMPT)
        # Ctrl-X Ctrl-E: the line in $EDITOR, run when the editor ends.
        shell.send("XYZ")
        shell.sendcontrol("x")
        shell.sendcontrol("e")
        shell.expect_exact("no monitors running")
        shell.expect(PROMPT)
        # F2 flips the format at once (the toolbar shows it; a pty without cursor reports has no toolbar).
        shell.send("\x1bOQ")
        shell.send("list_jobs\r")
        shell.expect_exact("[]")  # JSON
        shell.expect(PROMPT)
        shell.send("\x1bOQ")
        shell.send("list_jobs\r")
        shell.expect_exact("(none)")  # a table again
        shell.expect(PROMPT)
        shell.send("set editing vi\r")
        shell.expect(PROMPT)
        shell.send("set\r")  # alone: every setting and its value now, as psql's \set (the seventh user)
        shell.expect(re.compile(r"format +table +set format table\|json\|raw"))
        shell.expect(re.compile(r"editing +vi +set editing emacs\|vi"))
        shell.expect(PROMPT)
        shell.send("monitorsZ\x1b")
        time.sleep(1)  # the Escape stands alone (not the start of a key sequence)
        shell.send("x\r")  # vi: x deletes the Z under the cursor
        shell.expect_exact("no monitors running")
        shell.expect(PROMPT)
        leave(shell)
    finally:
        shell.terminate(force=True)
