"""The installed ``flare-console`` in a real pty (pexpect) against a real server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, PROMPT, console_env, wrapped

from console.api.async_session import AsyncSession
from console.api.errors import CancelTooLate
from console.invocation import console_login_command

from conftest import ADMIN, wait_until
from jobs import hello_server, waiting_for_sites


def spawn_shell(project, tmp_path: Path, dimensions: tuple[int, int], **env: str) -> pexpect.spawn:
    """The installed console in a pty of the given size, logged in with the project's admin kit."""
    return pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1", **env),
                         encoding="utf-8", timeout=20, dimensions=dimensions)


def assert_leaves_cleanly(shell: pexpect.spawn) -> None:
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


@pytest.fixture
def shell(server, project, tmp_path: Path) -> Iterator[pexpect.spawn]:
    (tmp_path / "tmp").mkdir()
    child = spawn_shell(project, tmp_path, (40, 160), TMPDIR=str(tmp_path / "tmp"))
    try:
        child.expect(PROMPT)
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_completion_monitor_ctrl_c_and_bye(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    # Tab completes a command name...
    shell.send("list_j\t")
    shell.expect_exact("obs")  # the completed rest of the word
    shell.send("\r")
    shell.expect_exact("(none)")  # "list_j" alone would be an unknown command
    shell.expect(PROMPT)

    # ...and a job ID submitted from another session a moment ago (pushed to completion data).
    # Completion by name: "hello" is no job ID prefix, so the command works only if Tab replaced it.
    job_id = session.submit_job(str(hello_server(tmp_path, steps=4, step_seconds=0.4)))
    shell.send("get_job_meta hello\t")
    shell.expect_exact(job_id[-12:])  # the tail of the inserted ID (the line is redrawn in pieces)
    shell.send("\r")
    shell.expect(rf"job_id +{job_id}")  # the meta as an aligned record
    shell.expect(PROMPT)

    # monitor_job returns the prompt at once; status lines arrive while we type.
    shell.send(f"monitor_job {job_id[:8]} --interval 0.2\r")
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    shell.send("list_jo")
    shell.expect(re.compile(rf"\d\d:\d\d:\d\d  {job_id[:8]}  hello-server  FINISHED:COMPLETED"))
    shell.send("bs\r")  # the half-typed line survived the lines printed above it
    shell.expect_exact("FINISHED:COMPLETED")
    shell.expect(PROMPT)

    # Ctrl-C clears the line and the shell stays.
    shell.send("delete_job something")
    shell.sendcontrol("c")
    shell.send("help list_jobs\r")
    shell.expect_exact("usage: list_jobs [-d] [-u] [-r]")
    shell.expect(PROMPT)

    # Unknown command and wrong arguments do not kill the shell.
    shell.send("lst_jobs\r")
    shell.expect_exact("did you mean list_jobs")
    shell.expect(PROMPT)
    shell.send("get_job_meta\r")
    shell.expect_exact("usage: get_job_meta JOB_ID")
    shell.expect(PROMPT)
    shell.send("get_job_meta nope\r")
    shell.expect_exact("JobNotFound: no such job: nope")
    shell.expect(PROMPT)

    shell.send("bye\r")
    assert_leaves_cleanly(shell)


def test_destructive_commands_ask_and_ctrl_d_leaves(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))
    shell.send(f"abort_job {job_id[:8]}\r")
    shell.expect_exact("are you sure? [y/N]")
    shell.send("n\r")
    shell.expect_exact("abort_job cancelled")
    shell.expect(PROMPT)
    assert session.get_job_status(job_id) == "SUBMITTED"
    shell.send(f"abort_job {job_id[:8]}\r")
    shell.expect_exact("are you sure? [y/N]")
    shell.send("y\r")
    shell.expect_exact("Aborted the job")
    shell.expect(PROMPT)
    assert session.get_job_status(job_id) == "FINISHED:ABORTED"
    shell.send(f"abort_job {job_id[:8]}\r")  # nothing left to abort: no question, the server's answer
    shell.expect_exact("is already completed")
    assert "are you sure" not in shell.before
    shell.expect(PROMPT)
    shell.send(f"monitor_job {job_id[:8]}\r")
    shell.expect(PROMPT)
    second = session.submit_job(str(waiting_for_sites(tmp_path, name="second")))
    shell.send(f"\x1b[200~abort_job {second[:8]}\ny\n\x1b[201~")  # pasted: its next line answers the question
    shell.expect_exact("are you sure? [y/N] y")
    shell.expect_exact("Aborted the job")
    shell.expect(PROMPT)
    assert session.get_job_status(second) == "FINISHED:ABORTED"
    # A pasted next command is no answer (the ninth user's list_jobs was lost): it stays queued, the question
    # is asked at the prompt, and a typed answer that is none asks it again.
    third = session.submit_job(str(waiting_for_sites(tmp_path, name="third")))
    shell.send(f"\x1b[200~delete_job {third[:8]}\nlist_jobs -m 1\n\x1b[201~")
    shell.expect_exact("(the pasted line 'list_jobs -m 1' is no answer: it runs after this question)")
    shell.expect_exact("are you sure? [y/N]")
    shell.send("maybe\r")
    shell.expect_exact("'maybe' is no answer: y (yes) or n (no; Enter and Ctrl-C too)")
    shell.expect_exact("are you sure? [y/N]")
    shell.send("no\r")
    shell.expect_exact("delete_job cancelled")
    shell.expect(r"server(\x1b\[[0-9;]*m)*> list_jobs")  # the pasted line, echoed (highlighted), then run
    shell.expect(rf"{third} +third +SUBMITTED")
    shell.expect(PROMPT)
    assert session.get_job_status(third) == "SUBMITTED"
    shell.send("theme light\r")
    shell.expect_exact("theme: light")
    shell.expect(PROMPT)
    shell.send("set format json\r")
    shell.expect_exact("format: json")
    shell.expect(PROMPT)
    shell.sendcontrol("d")
    assert_leaves_cleanly(shell)


@pytest.mark.timeout(120)
def test_each_typed_line_stays_on_the_screen_above_its_answer(server, project, tmp_path: Path) -> None:
    # A command that only asks the server is sent from Enter's own handler and its line printed
    # by the shell (console/shell/early.py), others are drawn by prompt_toolkit: both read alike.
    child = spawn_shell(project, tmp_path, (40, 120))
    screen = Screen(child, 40, 120)
    try:
        child.expect(PROMPT)
        child.send("check_status server\r")
        screen.wait_for(r"(?m)^admin@example\.com on server> check_status server\n\S")  # the answer just below
        child.send("list_jobs; help bye\r")  # two commands: the line is drawn by prompt_toolkit
        screen.wait_for(r"(?m)^admin@example\.com on server> list_jobs; help bye\n\S")
        child.send("list_jobs")
        child.sendcontrol("c")  # clears the line (as pgcli): nothing is sent
        child.send("check_status server\r")
        screen.wait_for(r"(?m)^admin@example\.com on server> list_jobs; help bye\n(.*\n)*"
                        r"admin@example\.com on server> check_status server\n\S(.*\n)*admin@example\.com on server>$")
        assert screen.text.count("engine_status") == 2, screen.text
        assert screen.text.count("on server>") == 4, screen.text  # three lines run, and the prompt
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_ctrl_c_cancels_a_foreground_command(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    big = hello_server(tmp_path, name="big-job")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(80 << 20))
    shell.send("timing on\r")
    shell.expect_exact("timing on")
    shell.send(f"submit_job {big}\r")
    # The upload is under way once the client's scratch folder exists: Ctrl-C now hits the command.
    wait_until(lambda: list((tmp_path / "tmp").glob("flare-submit-*")), 10, "the submit to start")
    shell.sendcontrol("c")
    shell.expect_exact("submit_job cancelled")
    shell.expect(PROMPT)
    shell.send("list_jobs\r")
    shell.expect_exact("(none)")
    assert session.list_jobs() == []  # nothing half-stored
    shell.send("exit\r")
    assert_leaves_cleanly(shell)


def test_ctrl_c_sent_in_one_burst_with_enter_cancels_the_command(shell: pexpect.spawn, session,
                                                                  tmp_path: Path) -> None:
    # Finding 2 of the fourth user: Enter and Ctrl-C read together (raw mode: Ctrl-C is a key then) was kept as
    # the next prompt's type-ahead and the submit went through. Now it stops the command as a Ctrl-C pressed
    # a moment later does; the keys after it stay typed ahead.
    job = hello_server(tmp_path, name="burst-job")
    shell.send(f"submit_job {job}\r\x03list_jobs\r")
    shell.expect_exact("submit_job cancelled")
    shell.expect_exact("(none)")
    shell.expect(PROMPT)
    assert session.list_jobs() == []
    shell.send("exit\r")
    assert_leaves_cleanly(shell)


_CTRL_C_IN_THE_QUEUE = """
import select, sys, termios, tty
from prompt_toolkit.input.typeahead import get_typeahead
from prompt_toolkit.input.vt100 import Vt100Input
from console.shell.terminal import QuietInput, take_typed_stops
with QuietInput() as quiet:
    tty.setraw(0)  # the prompt's raw mode: Ctrl-C is a byte, not a signal
    print("RAW", flush=True)
    select.select([0], [], [], 10)  # the burst came (one write: all of it)
    quiet.apply()  # the prompt returned
    taken = take_typed_stops(Vt100Input(sys.stdin))
    print("TAKEN", taken.ctrl_c, taken.ctrl_z, "".join(k.data for k in get_typeahead(Vt100Input(sys.stdin))).encode(),
          flush=True)
"""


@pytest.mark.parametrize(("key", "found"), [("\x03", "True False"), ("\x1c", "True False"),  # Ctrl-\\ acts as Ctrl-C
                                           ("\x1a", "False True"), ("\x1a\x03", "True True")])  # Ctrl-Z (user10 #8)
def test_a_ctrl_c_left_in_the_terminal_queue_with_its_enter_is_taken_too(key: str, found: str) -> None:
    # The other half of finding 2: keys that came after prompt_toolkit's last read, before it left raw mode,
    # wait in the terminal's queue (the Ctrl-C or Ctrl-Z among them a byte): it is found there, the rest kept.
    child = pexpect.spawn(sys.executable, ["-c", _CTRL_C_IN_THE_QUEUE], encoding="utf-8", timeout=20)
    try:
        child.expect_exact("RAW")
        child.send(f"ls\r{key}x")
        child.expect_exact(f"TAKEN {found} b'ls\\rx'")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


@pytest.mark.timeout(90)
def test_keys_typed_ahead_survive_ctrl_z_and_fg(server, project, tmp_path: Path) -> None:
    # Finding 5 of the fourth user: keys typed while a command ran were gone after Ctrl-Z and fg (the
    # kernel flushes its queue when it signals; without that, the user's shell would read them).
    bash = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], encoding="utf-8", timeout=20,
                         dimensions=(40, 160), env={**console_env(tmp_path, NO_COLOR="1"), "PS1": "bash$ "})
    try:
        bash.expect_exact("bash$ ")
        bash.send(f"{CONSOLE} --kit {project.admin_kit}\r")
        bash.expect(PROMPT)
        os.kill(server.process.pid, signal.SIGSTOP)  # the command waits for its answer: it runs all along
        try:
            bash.send("list_jobs\r")

            def quiet() -> bool:  # the prompt is put away: ISIG on, no line editing (QuietInput)
                lflag = termios.tcgetattr(bash.child_fd)[3]
                return bool(lflag & termios.ISIG) and not lflag & termios.ICANON

            wait_until(quiet, 10, "the command to run")
            bash.send("check_status server")  # typed ahead, unechoed, for the next prompt
            bash.sendcontrol("z")
            bash.expect("Stopped")
            bash.expect_exact("bash$ ")
            assert "check_status" not in bash.before  # the user's shell never got the keys
            bash.send("fg\r")
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        bash.expect_exact("(none)")  # the answer, then the prompt with what was typed
        bash.expect(PROMPT)
        bash.expect(r"check_status(\x1b\[[0-9;]*m)* (\x1b\[[0-9;]*m)*server")  # drawn in styled words
        bash.send("\r")
        bash.expect(r"engine_status +\S+")
        bash.expect(PROMPT)
        bash.send("bye\r")
        bash.expect_exact("bash$ ")
        bash.send("exit\r")
        bash.expect(pexpect.EOF)
    finally:
        bash.close(force=True)


def test_keys_typed_during_watch_survive_the_ctrl_c_that_ends_it(shell: pexpect.spawn) -> None:
    # The neighbour of the Ctrl-Z case (finding 9 of the fourth user): Ctrl-C stops watch, not what was typed.
    shell.send("watch -n 1 list_jobs\r")
    shell.expect_exact("(Ctrl-C stops)")
    shell.send("help bye")
    shell.sendcontrol("c")
    shell.expect_exact("watch stopped")
    shell.expect(PROMPT)
    shell.expect(r"help(\x1b\[[0-9;]*m)* (\x1b\[[0-9;]*m)*bye")  # the next prompt has it, drawn in styled words
    shell.send("\r")
    shell.expect_exact("usage: bye")
    shell.send("exit\r")
    assert_leaves_cleanly(shell)


def test_ctrl_c_after_the_upload_reached_the_server_says_the_job_went_on(
        shell: pexpect.spawn, server, session, project, tmp_path: Path) -> None:
    # The neighbour of the test above: once the whole upload is on the server, Ctrl-C cannot stop the
    # submit. The console must say so and give the job's ID, never "cancelled".
    big = hello_server(tmp_path, name="late-job")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(40 << 20))
    incoming = project.server_kit / "store" / "incoming"

    def upload_whole() -> bool:
        sent = list((tmp_path / "tmp").glob("flare-submit-*/job.zip"))
        got = list(incoming.glob("*.zip"))
        try:  # the server's copy has its full size only once it read the upload's end
            return bool(sent and got) and got[0].stat().st_size >= sent[0].stat().st_size
        except FileNotFoundError:  # the server already stored it: the test cannot hit the window
            return False

    shell.send(f"submit_job {big}\r")
    wait_until(upload_whole, 60, "the whole upload to reach the server", interval=0.002)
    os.kill(server.process.pid, signal.SIGSTOP)  # its answer waits: all below comes before it
    try:
        os.kill(shell.pid, signal.SIGINT)
        # At once, with the server still stopped: why it goes on, and the prompt back.
        shell.expect_exact("submit_job: Ctrl-C came after the upload reached the server: it goes on; "
                           "its outcome shows here when it ends")
        assert "cancelled" not in shell.before
        shell.expect(PROMPT)
        shell.send("exit\r")  # leaving waits for it, so that its outcome shows
        shell.expect_exact("waiting for what went on after Ctrl-C (submit_job) to end")
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    shell.expect(r"\d\d:\d\d:\d\d  submit_job went on after Ctrl-C: submitted as ([0-9a-f-]{36})")
    job_id = shell.match.group(1)
    assert_leaves_cleanly(shell)
    assert [j["job_id"] for j in session.list_jobs()] == [job_id]  # the job it named is the one there is


def test_a_clone_cancelled_once_sent_says_it_went_on(server, session, project, tmp_path: Path) -> None:
    # The same kind through the API: the server acts on a sent clone_job whatever the client does, so
    # a cancel then is CancelTooLate with the clone's ID, never CancelledError.
    job_id = session.submit_job(str(hello_server(tmp_path, name="to-clone")))

    async def cancelled_clone() -> CancelTooLate:
        sess = AsyncSession(ADMIN, str(project.admin_kit))
        try:
            await sess.connect()
            before = len(sess.client._pending)
            os.kill(server.process.pid, signal.SIGSTOP)  # the answer cannot beat the cancel
            try:
                task = asyncio.create_task(sess.clone_job(job_id))
                deadline = time.monotonic() + 10
                while len(sess.client._pending) == before and time.monotonic() < deadline:  # until it is sent
                    await asyncio.sleep(0.005)
                task.cancel()
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
            with pytest.raises(CancelTooLate) as late:
                await task
            return late.value
        finally:
            await sess.close()

    late = asyncio.run(cancelled_clone())
    assert late.command == "clone_job" and "after the request was sent" in late.reason
    assert {j["job_id"] for j in session.list_jobs()} == {job_id, late.result}


@pytest.mark.timeout(120)
def test_keys_sent_the_moment_the_prompt_shows_reach_it_as_typed(server, project, tmp_path: Path) -> None:
    # The prompt's line is printed with the answer, before prompt_toolkit reads keys (console/shell/
    # prompt_line.py). Keys sent the moment it shows are the prompt's: not echoed by the terminal, Enter
    # is Enter, Ctrl-U and Ctrl-D are the prompt's keys (the terminal's line editing would take them).
    child = spawn_shell(project, tmp_path, (60, 120))
    screen = Screen(child, 60, 120)
    try:
        screen.wait_for(r"on server>\s*\Z")
        for round_ in range(1, 4):
            child.send("check_status server\r")
            screen.wait_for(rf"(?s)(engine_status.*){{{round_}}}on server>\s*\Z")  # its answer, then the prompt
            child.send("nonsense\x15list_jobs\r")  # Ctrl-U: the prompt's own "erase the line"
            screen.wait_for(rf"(?s)(on server> list_jobs\n\(none\)\n.*){{{round_}}}on server>\s*\Z")
        assert screen.text.count("on server> list_jobs\n") == 3, screen.text  # each line once, as typed
        assert "nonsense" not in screen.text and "unknown command" not in screen.text, screen.text
        os.kill(child.pid, signal.SIGINT)  # from outside, at the prompt: the prompt's Ctrl-C, the shell stays
        child.send("check_status server\r")
        child.expect_exact("engine_status")
        child.expect(PROMPT)
        child.sendcontrol("d")  # at once: the prompt's end of input (the terminal's would be swallowed)
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_a_pipeline_gets_the_terminal_as_it_was_and_its_last_line_stays(server, project, tmp_path: Path) -> None:
    # Between prompts the console keeps the terminal quiet (no echo, no line editing); the user's own
    # programs get it as it was. Their output may end mid-line: it stays as it is and the prompt starts
    # on the next line (console/shell/answer.py: _to_column_0), never drawn from mid-line as if at column 0.
    child = spawn_shell(project, tmp_path, (40, 160))
    screen = Screen(child, 40, 160)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send("list_jobs | stty -a -F /dev/tty\r")
        screen.wait_for(r"(?s)isig.*on server>\s*\Z")
        assert re.search(r"(?<![-\w])icanon", screen.text) and re.search(r"(?<![-\w])echo ", screen.text), screen.text
        child.send("list_jobs | printf NO_NEWLINE\r")
        screen.wait_for(r"(?m)^NO_NEWLINE\nadmin@example\.com on server> *$")
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_keys_typed_during_a_pipeline_reach_the_next_prompt_whole(server, project, tmp_path: Path) -> None:
    # Keys typed while a pipeline runs are echoed by the terminal (the pipeline has it as it was); those it
    # did not read stay typed ahead. The next prompt starts on a line of its own and shows them as typed,
    # never drawn from mid-line over their echo (it wrapped: "abcadmin@example.com on serveabc").
    child = spawn_shell(project, tmp_path, (20, 100))
    screen = Screen(child, 20, 100)
    prompt = r"admin@example\.com on server> "
    try:
        screen.wait_for(r"on server>\s*\Z")
        for pipeline, typed in [("sleep 2", "abc"), ("sh -c 'cat; sleep 2'", "help b")]:  # reads stdin, or not
            child.send(f"\x15list_jobs | {pipeline}\r")  # Ctrl-U: the keys typed ahead last time go
            wait_until(lambda: "sleep 2" in _children_commands(child.pid), 20, "the pipeline to start")  # noqa: B023
            child.send(typed)
            screen.wait_for(rf"(?m)^{prompt}{typed}$")  # the whole prompt, the keys in it
            assert not re.search(r"\S" + prompt, screen.text), screen.text  # nothing drawn over
        child.send("ye\r")  # the keys were the prompt's: "help b" + "ye" runs
        screen.wait_for(r"usage: bye")
        child.send("help | less -F\r")  # taller than the screen: less pages it and reads the keys itself
        wait_until(lambda: "less -F" in _children_commands(child.pid), 20, "less to start")
        child.send("q")
        screen.wait_for(r"(?m)^admin@example\.com on server>\s*\Z")  # less gone; the prompt whole on its line
        child.send("\x15bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_tall_output_goes_through_the_pager(server, project, tmp_path: Path) -> None:
    child = spawn_shell(project, tmp_path, (12, 100), PAGER="sed s/^/PAGED:/")
    try:
        child.expect(PROMPT)
        child.send("help\r")
        child.expect_exact("PAGED:server commands:")
        child.expect(PROMPT)
        child.send("monitors\r")  # short output: printed directly
        child.expect_exact("no monitors running")
        child.expect(PROMPT)
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)


@pytest.mark.timeout(120)
def test_keys_typed_ahead_of_a_paged_answer_reach_the_next_prompt_as_keys(server, project, tmp_path: Path) -> None:
    # Keys typed while a command runs are taken from the terminal before its answer goes to the pager
    # (else the pager would read them as its own commands) and given to the next prompt as keys:
    # Ctrl-W erases words there as if typed at it.
    big = hello_server(tmp_path, name="big-job")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(40 << 20))
    (tmp_path / "tmp").mkdir()
    child = spawn_shell(project, tmp_path, (12, 100), PAGER="sed s/^/PAGED:/", TMPDIR=str(tmp_path / "tmp"))
    try:
        child.expect(PROMPT)
        child.send(f"submit_job {big}; help\r")
        wait_until(lambda: list((tmp_path / "tmp").glob("flare-submit-*")), 20, "the submit to start")
        child.send("list_jobs -m 1\x17\x17\x17monitors\r")  # typed while the upload runs
        child.expect_exact("PAGED:server commands:")
        child.expect_exact("no monitors running")
        assert "unknown command" not in child.before and "-m 1" not in child.before, child.before
        child.expect(PROMPT)
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_watch_fits_its_output_to_the_screen(server, project, tmp_path: Path) -> None:
    # Taller output would scroll the screen at every redraw: its heading gone, copies in the scrollback.
    child = spawn_shell(project, tmp_path, (8, 100))
    screen = Screen(child, 8, 100)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send("watch -n 60 sys_info server\r")
        found = screen.wait_for(r"(?m)^Every 60 s: sys_info server +(\S+) .*\n(.*\n){5}\.\.\. (\d+) more lines? ")
        assert int(found.group(3)) > 1, screen.text
        # A resize draws it again at once, fitted to the new size, long before the next round.
        child.setwinsize(40, 100)
        screen.screen.resize(40, 100)
        screen.wait_for(rf"(?m)^Every 60 s: sys_info server +{found.group(1)} .*\n\n(.*\S.*\n){{8}}")
        screen.wait_gone("more line")
        child.sendcontrol("c")
        screen.wait_for(r"watch stopped")
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


# A pager that says it is up, then waits for Ctrl-C (the default SIGINT disposition would kill it
# silently; this one says so and leaves, as less leaves its prompt).
WAITING_PAGER = """
import signal, sys, time
sys.stdin.read()
def interrupted(*_):
    print("PAGER-INTERRUPTED", flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, interrupted)
print("PAGER-READY", flush=True)
time.sleep(30)
"""


def test_ctrl_c_in_the_pager_or_a_pipeline_leaves_the_console_running(server, project, tmp_path: Path) -> None:
    pager = tmp_path / "pager.py"
    pager.write_text(WAITING_PAGER)
    child = spawn_shell(project, tmp_path, (12, 100), PAGER=f"{sys.executable} {pager}")
    try:
        child.expect(PROMPT)
        child.send("help\r")  # taller than 12 lines: paged
        child.expect_exact("PAGER-READY")
        child.sendcontrol("c")
        child.expect_exact("PAGER-INTERRUPTED")
        child.expect(PROMPT)
        child.send("help | sleep 30; help bye\r")  # the user's own pipeline: Ctrl-C stops it, not the console
        wait_until(lambda: "sleep 30" in _children_commands(child.pid), 20, "the pipeline to start")
        child.sendcontrol("c")
        child.expect_exact("'sleep 30' stopped (Ctrl-C)")
        child.expect_exact("not run after Ctrl-C: help bye")  # and the rest of its line
        child.expect(PROMPT)
        assert "usage: bye" not in child.before
        child.send("monitors\r")
        child.expect_exact("no monitors running")
        child.expect(PROMPT)
        child.send("watch -n 1 list_jobs | grep x\r")  # a live redraw has nowhere to go in a pipe: said, not dropped
        child.expect_exact("watch redraws its command in place, so it cannot go to '| grep x'")
        child.expect(PROMPT)
        # Finding: follow, top and monitor_job took '| CMD' and '> FILE' silently (a blank less, one empty
        # line, "wrote 1 line" and the rest on the screen): what prints in the background is refused, top
        # gives one snapshot.
        # The batch it names is this console with its kit (terminal tester: "flare-console -c" without --kit
        # could not run as printed under make demo).
        out = tmp_path / "out.txt"
        again = console_login_command(str(project.admin_kit))
        for line, said, batch in (
                ("follow abc123 | less", "follow prints its lines above the prompt as they come, after it returned, "
                 "so they cannot go to '| less'; a batch waits for them all:", f"{again} -c 'follow abc123' | less"),
                (f"monitor_job abc123 > {out}", f"monitor_job prints its lines above the prompt as they come, after it "
                 f"returned, so they cannot go to '> {out}'; a batch waits for them all:",
                 f"{again} -c 'monitor_job abc123' > {out}")):
            child.send(line + "\r")
            child.expect(wrapped(said))
            child.expect(PROMPT)
            # (the kit's path is wider than the screen: broken inside it, so compared without the breaks)
            assert _unbroken(batch) in _unbroken(child.before), child.before
        assert not out.exists()
        child.send("monitors\r")
        child.expect_exact("no monitors running")  # nothing started in the background either
        child.expect(PROMPT)
        child.send(f"top > {out}\r")  # one snapshot, as top -b -n 1 (plot too: test_live_views)
        child.expect(r"wrote \d+ lines to ")
        child.expect(PROMPT)
        snapshot = out.read_text()
        assert "flare-console top" in snapshot and "Jobs" in snapshot and "Sites" in snapshot, snapshot
        assert "\x1b" not in snapshot and "q quit" not in snapshot, snapshot
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        child.terminate(force=True)


def _unbroken(text: str) -> str:
    """``text`` without its blanks, line breaks and styles: a message as filled, compared as written."""
    return re.sub(r"\s+|\x1b\[[0-9;]*m", "", text)


def _children_commands(pid: int) -> str:
    """Command lines of ``pid``'s descendants (from /proc), to see a pipeline running."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    todo.append(int(entry.name))
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except (OSError, IndexError, ValueError):
                continue
    return "\n".join(found)


def test_lost_connection_is_shown_and_monitors_resume(shell: pexpect.spawn, server, session,
                                                      tmp_path: Path) -> None:
    job_id = session.submit_job(str(hello_server(tmp_path, steps=600, step_seconds=0.1)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 20, "the job to run")
    shell.send(f"monitor_job {job_id[:8]} --interval 0.5\r")
    shell.expect_exact(f"{job_id[:8]}  hello-server  RUNNING")
    shell.expect(PROMPT)
    server.kill()  # no goodbye: the job's fate is only known after the restart
    shell.expect_exact("connection to the server lost; reconnecting...")
    server.start()
    shell.expect_exact("reconnected to the server")
    shell.expect_exact(f"{job_id[:8]}  hello-server  FINISHED:ABANDONED")
    shell.send("bye\r")
    shell.expect(pexpect.EOF)


def test_tab_on_an_open_single_entry_menu_and_keys_typed_after_an_error(server, project, tmp_path: Path) -> None:
    """The menu that opens while typing holds one match: Tab takes it and closes the menu, so one
    Enter runs the line. Keys typed right after a line that fails to parse are not echoed into
    its error: they wait for the next prompt."""
    child = spawn_shell(project, tmp_path, (30, 120))
    screen = Screen(child, 30, 120)
    try:
        child.expect(PROMPT)
        child.send("list_j")
        screen.wait_for(r"list_jobs +list jobs")  # the menu, with the command's summary
        child.send("\t")

        def menu_closed() -> bool:
            screen.pump()
            return "list_jobs" in screen.text and "list jobs," not in screen.text

        wait_until(menu_closed, 20, "the completed line with its menu closed")
        child.send("\r")  # one Enter runs it
        screen.wait_for(r"list_jobs\n\(none\)")
        child.send("get_job_meta\r")
        child.send("abc")
        screen.wait_for(r"get_job_meta: JOB_ID is missing.*\n(.*\n)*.*on server> abc")  # abc at the new prompt
        assert "abcget_job_meta" not in screen.text and screen.text.count("abc") == 1, screen.text
        child.send("\x15bye\r")  # Ctrl-U clears the line
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


def _menu_rows(screen: Screen, ids: list[str]) -> list[str] | None:
    """The completion menu's rows for ``ids`` (one row each, in the menu's order), or None."""
    screen.pump()
    rows = [line for line in screen.text.splitlines() if any(f" {i[:8]} " in line for i in ids)]
    return rows if len(rows) == len(ids) else None


@pytest.mark.timeout(120)
def test_job_id_menu_columns_align_at_80_columns_and_follow_a_resize_at_once(server, session, project,
                                                                             tmp_path: Path) -> None:
    """Name, status and age are columns: each starts in the same cell on every entry; a long
    name ends in '…' so the status and age stay whole, also at 50 columns. A resize while the
    menu is open lays it out again at once (SIGWINCH), with no key pressed."""
    long_name = "federated-training-of-a-long-model-name"
    done = session.submit_job(str(hello_server(tmp_path, name=long_name, steps=1, step_seconds=0.0)))
    session.monitor_job(done, timeout=30, poll_interval=0.1)
    waiting = session.submit_job(str(waiting_for_sites(tmp_path)))
    running = session.submit_job(str(hello_server(tmp_path, name="x", steps=100, step_seconds=0.3)))
    statuses = {done: "FINISHED:COMPLETED", waiting: "SUBMITTED", running: "RUNNING"}
    child = spawn_shell(project, tmp_path, (24, 80))
    screen = Screen(child, 24, 80)

    def laid_out(columns: int) -> list[str] | None:
        """The menu's rows once they are aligned columns for ``columns`` (None before)."""
        rows = _menu_rows(screen, list(statuses))
        if rows is None or any(len(row) > columns for row in rows):
            return None
        shown = {job_id: next(row for row in rows if f" {job_id[:8]} " in row) for job_id in statuses}
        status_at = {row.find(f"  {statuses[job_id]}") for job_id, row in shown.items()}
        ages = [re.search(r"\d+[smh] ago", row) for row in rows]
        if len(status_at) != 1 or -1 in status_at or not all(ages) or len({a.start() for a in ages}) != 1:
            return None  # the status column: one start, every status whole; the age column too
        if not re.search(rf" {done[:8]} +federat\S*… +FINISHED:COMPLETED +\d+[smh] ago", shown[done]):
            return None
        return rows if re.search(rf" {running[:8]} +x +RUNNING ", shown[running]) else None

    try:
        screen.wait_for(r"on server>")  # the screen reads all the output: the resize redraw is whole
        child.send("get_job_meta ")
        child.sendcontrol("@")  # Ctrl-Space: the menu of every job
        try:
            wide = wait_until(lambda: laid_out(80), 60, "the job menu at 80 columns")
        except AssertionError as exc:  # what the screen showed instead (a CI run under load timed out at 20 s)
            raise AssertionError(f"{exc}:\n{screen.screen.transcript()[-3000:]}") from None
        child.setwinsize(24, 50)  # the menu stays open: no key
        screen.screen.resize(24, 50)
        narrow = wait_until(lambda: laid_out(50), 60, "the job menu laid out again at 50 columns")
        assert max(map(len, narrow)) < max(map(len, wide)), (wide, narrow)
        child.sendcontrol("c")
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        session.abort_job(running)
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_pasted_and_typed_ahead_lines_run_one_by_one_each_after_its_prompt(server, project, tmp_path: Path) -> None:
    """A bracketed paste of several lines runs them as bash and psql do: each line after the
    prompt, then its answer, each in the history; a failing line does not stop the others; what
    follows the last line end stays at the prompt. Lines typed while a command runs read the
    same. Ctrl-C stops the running line and says the rest of the paste is not run."""
    prompt = r"admin@example\.com on server> "
    editor = tmp_path / "editor.py"  # Ctrl-X Ctrl-E's $EDITOR: writes two lines into the file it is given
    editor.write_text("import sys\nopen(sys.argv[1], 'w').write('help bye\\nlist_jobs\\n')\n")
    child = spawn_shell(project, tmp_path, (40, 120), EDITOR=f"{sys.executable} {editor}")
    screen = Screen(child, 40, 120)
    try:
        child.expect(PROMPT)
        child.send("\x1b[200~check_status server\r\nget_job_meta nope\n\nlist_jobs\nhelp by\x1b[201~")
        screen.wait_for(rf"(?m)^{prompt}check_status server\nstatus +OK\n(.*\n)*"
                        rf"{prompt}get_job_meta nope\nJobNotFound: no such job: nope; list_jobs shows your jobs\n"
                        rf"{prompt}list_jobs\n\(none\)\n{prompt}help by$")
        child.send("e\r")  # the rest of the paste, finished and run
        screen.wait_for(rf"{prompt}help bye\nusage: bye")

        child.send("\x18\x05")  # Ctrl-X Ctrl-E: the line in $EDITOR, which hands back two lines to run
        screen.wait_for(rf"{prompt}help bye\nusage: bye(.*\n)*{prompt}list_jobs\n\(none\)")

        child.send("help | sleep 1\r")
        wait_until(lambda: "sleep 1" in _children_commands(child.pid), 20, "the pipeline to start")
        child.send("list_jobs\rhelp monitors\r")  # typed while it runs
        screen.wait_for(rf"{prompt}list_jobs\n\(none\)\n{prompt}help monitors\nusage: monitors")

        child.send("\x1b[200~watch -n 1 list_jobs\nlist_jobs\ncheck_status server\n\x1b[201~")
        screen.wait_for(r"Every 1 s: list_jobs")
        child.sendcontrol("c")
        screen.wait_for(r"(?m)watch stopped\nnot run after Ctrl-C: list_jobs; check_status server\n"
                        r"admin@example\.com on server>$")  # named, as after a; b and in a batch
        child.send("\x1b[200~help timing\nlist_jobs\n\x1b[201~")  # the next paste runs whole again
        screen.wait_for(rf"{prompt}help timing\nusage: timing(.*\n)*{prompt}list_jobs\n\(none\)")
        history = next((tmp_path / "data").rglob("history")).read_text()
        assert [line[1:] for line in history.splitlines() if line.startswith("+")] == [
            "check_status server", "get_job_meta nope", "list_jobs", "help bye",  # the editor's help bye: no repeat
            "list_jobs", "help | sleep 1", "list_jobs", "help monitors", "watch -n 1 list_jobs", "help timing", "list_jobs"]
        # A command of several lines after a paste's first shows them all, each further one after '> ', as
        # typed (user10 #3: only its first line was on the screen).
        child.send("\x1b[200~help timing\nlist_jobs \\\n -m 1\nlist_jobs -n 'x\ny'\nhelp bye\n\x1b[201~")
        screen.wait_for(rf"{prompt}help timing\nusage: timing(.*\n)*{prompt}list_jobs \\\n>  -m 1\n\(none\)\n"
                        rf"{prompt}list_jobs -n 'x\n> y'\n\(none\)\n{prompt}help bye\nusage: bye")
        child.send("bye\r")
        assert_leaves_cleanly(child)
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_a_monitor_says_when_a_site_of_its_job_drops_and_comes_back(shell: pexpect.spawn, sites, session,
                                                                     tmp_path: Path) -> None:
    """flare10 item 15 on our engine: a site of a running job killed and started again; the monitor says both,
    once each, as on FLARE (there from its check of the sites, here from the server's pushed site_status)."""
    from jobs import numpy_job

    job_id = session.submit_job(str(numpy_job(tmp_path, name="long-job", rounds=200, sleep=0.2, min_clients=1)))
    try:
        wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 30, "the job to run")
        shell.send(f"monitor_job {job_id[:8]} --interval 0.5\r")
        shell.expect_exact(f"{job_id[:8]}  long-job  RUNNING")
        shell.expect(PROMPT)
        sites["site-2"].kill()
        shell.expect_exact(f"{job_id[:8]}  long-job  site-2 does not answer", timeout=30)
        sites["site-2"].start()
        shell.expect_exact(f"{job_id[:8]}  long-job  site-2 answers again", timeout=30)
        assert "site-1 does not answer" not in shell.before
    finally:
        session.abort_job(job_id)
    shell.expect_exact("FINISHED:ABORTED", timeout=30)
    shell.send("bye\r")
    shell.expect(pexpect.EOF)


@pytest.mark.timeout(120)
def test_taking_out_a_site_names_the_jobs_it_runs_in_the_question(shell: pexpect.spawn, sites, session,
                                                                  tmp_path: Path) -> None:
    """Terminal tester: `remove_client site-1` with a job running there asked a plain "are you sure?"; the
    question names the job (disable_client too: same question), and a site with none is asked as before."""
    from jobs import numpy_job

    job_id = session.submit_job(str(numpy_job(tmp_path, name="long-job", rounds=200, sleep=0.2, min_clients=2)))
    try:
        wait_until(lambda: any(r.get("job_id") == job_id and r.get("client_name") == "site-1"
                               for r in session.get_client_job_status(["site-1"])), 60, "site-1 to run the job")
        for command in ("remove_client", "disable_client"):
            shell.send(f"{command} site-1\r")
            shell.expect_exact(f"{command} site-1, which runs job {job_id[:8]} (long-job): are you sure? [y/N]")
            shell.send("n\r")
            shell.expect_exact(f"{command} cancelled")
            shell.expect(PROMPT)
    finally:
        session.abort_job(job_id)
    wait_until(lambda: not any(r.get("job_id") for r in session.get_client_job_status(["site-1"])), 60,
               "site-1 to end the job")
    shell.send("remove_client site-1\r")
    shell.expect_exact("remove_client site-1: are you sure? [y/N]")
    shell.send("n\r")
    shell.expect_exact("remove_client cancelled")
    shell.expect(PROMPT)
    assert session.get_job_status(job_id).startswith("FINISHED:")
    shell.send("bye\r")
    shell.expect(pexpect.EOF)
