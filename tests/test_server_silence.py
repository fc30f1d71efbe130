"""A server that stops answering (SIGSTOP) is noticed by the console's heartbeat, and its return too.

A real server process of our own (the ``server`` fixture, stopped at teardown; SIGCONT first, so
that a failing test never leaves it frozen), the console's real backend opened from the admin kit
as the shell opens it, the shell's real ``Reconnector`` and its waiting line.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time

import pexpect
import pytest
from screen import Screen, tmux_screen
from shell_helpers import CONSOLE, console_env

from console.api.errors import NoConnection
from console.backends.opening import open_backend
from console.shell.monitors import MonitorManager
from console.shell.reconnect import Reconnector
from console.shell.server_wait import LOOK_SECONDS, NOTE_AFTER_SECONDS, WORDS, noted_wait
from console.wire.heartbeat import EVERY_SECONDS, LOST_AFTER_SECONDS

from jobs import waiting_for_sites

pytestmark = pytest.mark.timeout(90)


async def _until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        await asyncio.sleep(0.05)


def test_stopped_server_is_noticed_and_its_return_too(server, project, tmp_path) -> None:
    """A console stopped (Ctrl-Z) while its heartbeat waited reports no loss. A server stopped is noticed
    within seconds: said, the toolbar's state down, a waiting command told and failed; once it answers
    again: reconnected, and a background monitor that waited meanwhile goes on (it sees the job's abort)."""
    pid = server.process.pid

    async def scenario() -> None:
        lines: list[str] = []
        backend = await open_backend(project.admin_kit)
        reconnector = Reconnector(backend, lambda text, _style: lines.append(text), lambda: None, lambda: None)
        backend.add_state_listener(reconnector.on_state)
        monitors = MonitorManager(backend, lambda text, _style, _meta: lines.append(text))
        try:
            job_id = await backend.submit_job(str(waiting_for_sites(tmp_path)))  # stays SUBMITTED: no sites
            monitor = monitors.start(job_id)
            await _until(lambda: any(job_id[:8] in line and "SUBMITTED" in line for line in lines), 20, "the monitor")
            assert backend.connected and not backend.silent
            said = len(lines)
            # The console itself stopped (Ctrl-Z) with a heartbeat unanswered: the server answered meanwhile,
            # and the time the console did not run is no silence of the server's (no loss to report).
            os.kill(pid, signal.SIGSTOP)
            await _until(lambda: backend.silent, 10, "a heartbeat to go unanswered")
            threading.Timer(0.5, os.kill, (pid, signal.SIGCONT)).start()
            time.sleep(LOST_AFTER_SECONDS + 2)  # (the whole loop held, as a suspended console's)
            await _until(lambda: not backend.silent, 10, "the late pong to be read")
            # No loss said (the monitor may add its job's reason for waiting meanwhile: "not scheduled yet").
            assert backend.connected and [line for line in lines[said:] if job_id[:8] not in line] == []

            os.kill(pid, signal.SIGSTOP)
            stopped = time.monotonic()
            with noted_wait(backend, lambda text, _style: lines.append(text)):
                with pytest.raises(NoConnection) as lost:
                    await backend.request("pwd", {"target": "server"})
            took = time.monotonic() - stopped
            # Noticed at the heartbeat's pace (~6 s), not at the command's deadline (60 s); generous for CI.
            assert took < 30, took
            assert "heartbeat" in str(lost.value)
            assert WORDS in lines, lines  # said while the command waited
            assert "connection to the server lost; reconnecting..." in lines
            assert not backend.connected  # the toolbar's "disconnected, reconnecting..."
            assert reconnector.reconnecting

            os.kill(pid, signal.SIGCONT)
            await _until(lambda: "reconnected to the server" in lines, 40, "the console to reconnect")
            assert backend.connected
            assert await backend.request("pwd", {"target": "server"})
            assert monitor.task is not None and not monitor.task.done()  # it waited for the connection
            await backend.request("abort_job", {"job_id": job_id})
            await _until(lambda: any(job_id[:8] in line and "FINISHED:ABORTED" in line for line in lines), 30,
                         "the background monitor to see the abort after the server came back")
        finally:
            await monitors.stop("all")
            reconnector.stop()
            await backend.close()

    try:
        asyncio.run(scenario())
    finally:
        os.kill(pid, signal.SIGCONT)  # the fixture's SIGTERM then stops it


def test_the_waiting_line_is_about_a_server_not_answering_and_never_over_a_question(server, project) -> None:
    """Session 12, item 2: "waiting for the server..." came above a y/N question while the server was fine: the
    line looked at the heartbeat's ping in flight (true for a moment after every routine ping). A server that
    answers: no line, however long the command or question waits. A stopped one: no line while the user is
    asked (the wait is theirs), said once the question is answered and the command waits on."""
    pid = server.process.pid

    async def scenario() -> None:
        lines: list[str] = []
        asking = [False]
        backend = await open_backend(project.admin_kit)
        try:
            pings = 0
            with noted_wait(backend, lambda text, _style: lines.append(text), True, lambda: asking[0]):
                # A healthy server: routine pings go out and come back, a ping in flight seen many times.
                deadline = time.monotonic() + NOTE_AFTER_SECONDS + 3 * EVERY_SECONDS
                was = False
                while time.monotonic() < deadline:
                    pings += backend.silent and not was
                    was = backend.silent
                    await asyncio.sleep(0.01)
                assert pings >= 2 and lines == [], (pings, lines)
                asking[0] = True  # a question waits for the user; the server stops answering meanwhile
                os.kill(pid, signal.SIGSTOP)
                await _until(lambda: backend.silent_for is not None, 10, "the toolbar's 'no answer'")
                await asyncio.sleep(3 * LOOK_SECONDS)
                assert lines == []
                asking[0] = False  # answered: the command waits on a silent server, said
                await _until(lambda: WORDS in lines, 5, "the waiting line")
            assert lines == [WORDS]
        finally:
            os.kill(pid, signal.SIGCONT)
            await backend.close()

    try:
        asyncio.run(scenario())
    finally:
        os.kill(pid, signal.SIGCONT)


def _bottom_rows(child: pexpect.spawn, screen: Screen, until: str, seen: list[str], timeout: float) -> str:
    """Feed the console's output to the screen a character at a time until its bottom row (the toolbar)
    matches ``until`` (a pattern), noting every bottom row it showed on the way (a redraw the test was
    too slow to look at between two others is seen all the same); the row that matched."""
    deadline = time.monotonic() + timeout
    term = screen.screen
    while True:
        try:
            data = child.read_nonblocking(65536, timeout=0.1)
        except pexpect.TIMEOUT:
            data = ""
        for char in data:
            screen.stream.feed(char)
            row = term.buffer[term.lines - 1]
            bottom = "".join(row[x].data for x in range(term.columns)).rstrip()
            if not seen or seen[-1] != bottom:
                seen.append(bottom)
        if seen and re.search(until, seen[-1]):
            return seen[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{until!r} not in the toolbar after {timeout:g} s; it showed {seen[-12:]}:\n"
                                 f"{screen.text}")


def _states(rows: list[str]) -> list[str]:
    """The connection states the toolbar rows showed, in order, each once while it lasted."""
    found = [m.group(1) for row in rows
             if (m := re.search(r" (connected|no answer for \d+ s|(?:disconnected, )?reconnecting\.\.\.) ", row))]
    return [state for n, state in enumerate(found) if n == 0 or found[n - 1] != state]


@pytest.mark.timeout(120)
def test_the_toolbar_says_no_answer_while_a_heartbeat_goes_unanswered(server, project, tmp_path) -> None:
    """Session 11, item 3: the toolbar said "connected" for the 2-6 s a heartbeat went unanswered. In a real
    pty through a terminal emulator: "no answer for 3 s" once a ping is a second late, then "connected"
    again when the stopped server answers (SIGCONT); stopped for good, it counts up each second until the
    loss is judged: "disconnected, reconnecting...", then "connected" once it answers again."""
    rows, cols = 12, 100
    child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], cwd=str(tmp_path),
                          env={**console_env(tmp_path, NO_COLOR="1"), "PROMPT_TOOLKIT_NO_CPR": "0"},
                          encoding="utf-8", timeout=20, dimensions=(rows, cols))
    screen = tmux_screen(child, rows, cols)
    # Cursor position reports answered as a terminal does: the toolbar is drawn on the bottom row.
    screen.screen.write_process_input = child.send  # type: ignore[method-assign]
    pid, seen = server.process.pid, []
    try:
        _bottom_rows(child, screen, " connected ", seen, 30)
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        first = _bottom_rows(child, screen, r" no answer for \d+ s ", seen, 20)
        noticed = time.monotonic() - stopped
        os.kill(pid, signal.SIGCONT)
        _bottom_rows(child, screen, " connected ", seen, 10)
        # A ping after 2 s of quiet, a second unanswered: "3 s" of quiet (more only on a loaded machine), said
        # 1-3 s after the stop (the idle console's last pong may have come up to 2 s before it).
        assert " no answer for 3 s " in first or noticed > 3, (first, noticed)
        assert 0.5 < noticed < 15, noticed
        assert _states(seen)[-2:] == [_states([first])[0], "connected"], seen
        assert "lost" not in screen.text, screen.text  # answered in time: nothing else was said

        del seen[:-1]  # from the row shown now: "connected"
        os.kill(pid, signal.SIGSTOP)
        _bottom_rows(child, screen, " reconnecting... ", seen, 30)  # (or its short form, when that keeps a part)
        states = _states(seen)
        silent = states[1:-1]
        assert states[0] == "connected" and states[-1].endswith("reconnecting..."), seen
        counted = [int(re.search(r"\d+", state).group()) for state in silent]  # counting up, one row a second
        assert len(counted) >= 2 and counted == sorted(set(counted)) and counted[0] >= 3 and counted[-1] <= 7, seen
        os.kill(pid, signal.SIGCONT)
        _bottom_rows(child, screen, " connected ", seen, 40)
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        os.kill(pid, signal.SIGCONT)  # the fixture's SIGTERM then stops it
        if child.isalive():
            child.terminate(force=True)
