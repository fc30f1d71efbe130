"""Ctrl-C on a line of several commands (``a; b``): it stops the line, not just ``a``.

As bash with a list whose command died of SIGINT, and psql with the rest of a multi-statement
line: the rest is not run, and that is said once. An error does not stop the line (psql without
ON_ERROR_STOP); a batch keeps its documented exit codes and ends with 130 on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from hostile_server import hostile_server, login_answer
from shell_helpers import CONSOLE, console_env
from test_shell_inprocess import _late, _out_text, _run_shell, _until, _until_sent

from console.api.async_session import AsyncSession
from console.api.errors import CancelTooLate
from console.shell.app import InteractiveShell

from jobs import waiting_for_sites

JOB = "abc12345-0000-4000-8000-000000000000"


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_rest_of_the_line_an_error_does_not(server, session, project, tmp_path: Path,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))  # queued: an abort ends it at once

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        # An error in a: b runs (interactive, no "on error stop")
        pipe.send_text("get_job_meta nope; help timing\r")
        await _until(lambda: "usage: timing" in _out_text(shell), "the command after the error")
        assert "JobNotFound" in _out_text(shell)

        # Ctrl-C cancels a: b and c are not run, and that is said once
        client = shell.backend.session.client  # type: ignore[attr-defined]
        earlier = max(client._pending, default=0)
        os.kill(server.process.pid, signal.SIGSTOP)  # list_jobs waits for its answer
        try:
            pipe.send_text("list_jobs; help bye; help set\r")
            await _until_sent(client, earlier, "list_jobs")
            shell.interrupts._on_sigint()  # what Ctrl-C's SIGINT runs
            await _until(lambda: "not run after Ctrl-C: help bye; help set" in _out_text(shell)
                         and shell.prompt.app.is_running, "the rest said and the prompt")
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert "list_jobs cancelled" in _out_text(shell)

        # Ctrl-C at a destructive command's question: the same
        pipe.send_text(f"abort_job {job_id}; help bye\r")
        await _until(lambda: "[y/N]" in _out_text(shell), "the question")
        pipe.send_text("\x03")
        await _until(lambda: "not run after Ctrl-C: help bye" in _out_text(shell).split("[y/N]")[-1],
                     "the rest said after the question")

        # A late Ctrl-C (a went on): b is not run either
        await _late(shell, server, pipe, f"abort_job {job_id} --yes; help bye", "abort_job went on after Ctrl-C")
        await _until(lambda: _out_text(shell).count("not run after Ctrl-C: help bye") == 3, "the rest said")
        pipe.send_text("bye\r")

    code, output, _ = _run_shell(project, tmp_path, script)
    assert code == 0
    assert "usage: bye" not in output and "usage: set" not in output, output
    assert output.count("not run after Ctrl-C") == 3, output
    assert session.get_job_meta(job_id)["status"] == "FINISHED:ABORTED"  # the late abort went on


@pytest.mark.timeout(120)
def test_ctrl_c_in_a_batch_stops_it_and_says_what_was_not_run(server, session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))  # monitor_job blocks on it
    script = tmp_path / "batch.txt"
    script.write_text(f"monitor_job {job_id}; list_jobs; # no command\n\n# comment\nlist_jobs\nhelp bye\n")
    child = subprocess.Popen([CONSOLE, "--kit", str(project.admin_kit), "--continue-on-error", "-f", str(script)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=console_env(tmp_path))
    try:
        assert child.stdout is not None
        assert "SUBMITTED" in child.stdout.readline()  # the monitor's first line: it is blocking now
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, (out, err)  # --continue-on-error does not go on past a Ctrl-C
    assert f"{script}:1: monitor_job" in err and "cancelled (Ctrl-C)" in err, err
    # Named as the shell names them (the comments and blank lines are no commands).
    assert f"{script}:1: not run after Ctrl-C: list_jobs; list_jobs; help bye\n" in err, err
    assert "(none)" not in out and "usage: bye" not in out, out
    assert "Traceback" not in err, err


@pytest.mark.timeout(120)
def test_a_late_ctrl_c_in_a_batch_says_it_went_on_and_stops(project, tmp_path: Path) -> None:
    arrived = threading.Event()  # the abort reached the server: Ctrl-C cannot stop it now
    answers = {"abort_job": [arrived, 3.0, ({"k": "res", "ok": True, "data": "aborted"}, b"")]}
    with hostile_server(project.server_kit, login_answer(), answers=answers):
        child = subprocess.Popen([CONSOLE, "--kit", str(project.admin_kit), "--continue-on-error", "--yes",
                                  "-c", f"abort_job {JOB}; help bye", "-c", "help set"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=console_env(tmp_path))
        try:
            assert arrived.wait(30), "the abort did not reach the server"
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == 130, (out, err)
    assert "-c: abort_job went on after Ctrl-C: aborted" in err, err
    assert "-c: not run after Ctrl-C: help bye; help set\n" in err, err
    assert "usage" not in out and "cancelled" not in err, (out, err)


@pytest.mark.timeout(120)
def test_a_ctrl_c_while_a_done_commands_big_answer_streams_in_says_it_went_on(project, tmp_path: Path,
                                                                            monkeypatch) -> None:
    """The server did the change and its answer (big: streamed JSON) is still coming when Ctrl-C
    comes: the shell says the command went on, then its outcome, never "cancelled"; the API raises
    CancelTooLate with the whole answer (here a clone's, as a big meta would be)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    deleted = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(8000)]  # ~300 kB of JSON
    payload = json.dumps({"job_id": JOB, "deleted": deleted}).encode()
    half = len(payload) // 2
    arrived = threading.Event()

    def big_answer(data: bytes) -> list:
        return [({"k": "res", "ok": True, "stream": True, "json": True, "size": len(data)}, b""),
                ({"k": "data"}, data[:half]), arrived, 1.5, ({"k": "data"}, data[half:]), ({"k": "end"}, b"")]

    answers = {"delete_job": big_answer(payload)}

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        pipe.send_text(f"delete_job {JOB} --yes; help bye\r")
        await _until(arrived.is_set, "half the answer")
        client = shell.backend.session.client  # type: ignore[attr-defined]
        # Sent is not read: on a busy machine the Ctrl-C came before the client had the answer's head.
        await _until(lambda: any(p.received for p in client._pending.values()), "half the answer read")
        shell.interrupts._on_sigint()  # what Ctrl-C's SIGINT runs
        await _until(lambda: "delete_job: Ctrl-C came after the server had done it" in _out_text(shell)
                     and "not run after Ctrl-C: help bye" in _out_text(shell), "the word that it goes on")
        await _until(lambda: f"delete_job went on after Ctrl-C: job_id {JOB}, deleted ({deleted[0]}"
                     in _out_text(shell), "its outcome")
        pipe.send_text("bye\r")

    async def cancelled_clone(head_late: bool) -> CancelTooLate:
        arrived.clear()
        answer = big_answer(json.dumps({"job_id": "c" * 8, "meta": {"x": "y" * 300_000}}).encode())
        if head_late:  # the cancel before the answer's head: then the head, and the rest streamed behind it
            answer = [arrived, 1.0, *(part for part in answer if part is not arrived)]
        answers["clone_job"] = answer
        sess = AsyncSession("admin@example.com", str(project.admin_kit))
        await sess.connect()
        try:
            task = asyncio.create_task(sess.clone_job(JOB))
            while not arrived.is_set():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(CancelTooLate) as late:
                await task
            return late.value
        finally:
            await sess.close()

    with hostile_server(project.server_kit, login_answer(), answers=answers):
        code, output, _ = _run_shell(project, tmp_path, script)
        late = asyncio.run(cancelled_clone(head_late=False))
        early = asyncio.run(cancelled_clone(head_late=True))
    assert code == 0
    assert "cancelled" not in output and "usage: bye" not in output, output[-2000:]
    # (on a loaded machine the first can also be the second's case: both carry the whole answer)
    assert late.command == "clone_job" and late.result == "c" * 8, late
    assert early.reason == "the cancel came after the request was sent" and early.result == "c" * 8, early
    start = output.index("delete_job went on after Ctrl-C")  # a line cut short (wrapped at 80), not 300 kB
    assert output.index("more characters)", start) - start < 1200, output[start:start + 1400]
