"""Key bindings and background printing, in-process with prompt_toolkit's pipe input."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import uuid
from pathlib import Path

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.plain_text import PlainTextOutput

from console.api.async_session import AsyncSession
from console.backends.ours import OursBackend
from console.shell.app import InteractiveShell
from console.shell.config import load_config

from conftest import ADMIN
from jobs import hello_server, waiting_for_sites


async def _until(predicate, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _run_shell(project, tmp_path: Path, script) -> tuple[int, str, list[str]]:
    """Run the shell on pipe input; ``script(shell, pipe)`` types into it. Returns (code, output, history)."""
    out = io.StringIO()

    async def main() -> int:
        session = AsyncSession(ADMIN, str(project.admin_kit))
        await session.connect()
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=PlainTextOutput(out)):
            shell = InteractiveShell(OursBackend(session), load_config(tmp_path / "config.toml"))
            runner = asyncio.create_task(shell.run())
            await script(shell, pipe)
            return await asyncio.wait_for(runner, 20)

    code = asyncio.run(main())
    history = (tmp_path / "data" / "flare-console" / "history").read_text().splitlines()
    return code, out.getvalue(), [line[1:] for line in history if line.startswith("+")]


def test_ctrl_c_clears_the_line_and_ctrl_d_leaves(server, project, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        pipe.send_text("abort_job everything")
        pipe.send_text("\x03")  # Ctrl-C: the line is cleared, the shell stays
        pipe.send_text("help\r")
        await _until(lambda: shell.prompt.app.is_running and shell.prompt.default_buffer.text == "", "help")
        pipe.send_text("\x04")  # Ctrl-D on an empty line: leave

    code, _, history = _run_shell(project, tmp_path, script)
    assert code == 0
    assert history == ["help"]


def test_background_lines_do_not_disturb_typing(server, project, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        pipe.send_text("list_jo")
        await _until(lambda: shell.prompt.default_buffer.text == "list_jo", "typing")
        for i in range(3):
            shell.emit(f"12:00:0{i}  abcdef01  hello  RUNNING", "class:status.running")
        await _until(lambda: "12:00:02  abcdef01" in out_text(shell), "the lines", 5)
        assert shell.prompt.default_buffer.text == "list_jo"  # what was typed is still there
        pipe.send_text("bs\r")
        await _until(lambda: shell.prompt.app.is_running and shell.prompt.default_buffer.text == "", "list_jobs")
        pipe.send_text("bye\r")

    def out_text(shell: InteractiveShell) -> str:
        return shell.prompt.app.output.stdout.getvalue()  # type: ignore[attr-defined]

    code, output, history = _run_shell(project, tmp_path, script)
    assert code == 0
    assert history == ["list_jobs", "bye"]
    assert "12:00:00  abcdef01  hello  RUNNING" in output
    assert "(none)" in output  # the command then ran with the line as typed


def _out_text(shell: InteractiveShell) -> str:
    """What the shell wrote, its blanks and line ends as single blanks: messages are broken between words at
    the screen's width (80 here), and a phrase is looked for whatever its breaks."""
    return " ".join(shell.prompt.app.output.stdout.getvalue().split())  # type: ignore[attr-defined]


def _shows(shell: InteractiveShell, phrase: str) -> bool:
    """Whether the shell wrote ``phrase``, blanks and line ends aside: a word longer than the screen (a path
    under pytest-xdist's longer temporary folders) is broken inside itself."""
    return "".join(phrase.split()) in "".join(_out_text(shell).split())


async def _until_sent(client, earlier: int, command: str) -> None:
    """Until the shell's request for ``command`` (one after request ``earlier``) is on its way: a
    heartbeat or the completion's refresh sent meanwhile is not it (a Ctrl-C taken for the command's
    then came before the command ran, at the prompt: a loaded run's flake)."""
    await _until(lambda: any(request_id > earlier and pending.cmd == command
                             for request_id, pending in list(client._pending.items())),
                 f"the {command} request to be sent")


async def _late(shell: InteractiveShell, server, pipe, line: str, outcome: str, where: str = "shows here") -> None:
    """Run ``line`` with the server stopped, Ctrl-C it once sent: the shell says at once that it goes on
    (its outcome ``where`` when it ends) and gives the prompt back; ``outcome`` shows once the server answers."""
    client = shell.backend.session.client  # type: ignore[attr-defined]
    earlier = max(client._pending, default=0)  # request IDs only grow: a larger one is this line's
    os.kill(server.process.pid, signal.SIGSTOP)  # its answer waits: all below comes before it
    try:
        pipe.send_text(line + "\r")
        command = line.split()[0]
        await _until_sent(client, earlier, command)
        shell.interrupts._on_sigint()  # what Ctrl-C's SIGINT runs
        await _until(lambda: _shows(shell, f"{command}: Ctrl-C came after the request was sent: it goes on; its "
                                          f"outcome {where} when it ends") and shell.prompt.app.is_running,
                     f"the line and the prompt; the shell wrote: ...{_out_text(shell)[-600:]!r}")
        assert not _shows(shell, outcome)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    await _until(lambda: _shows(shell, outcome), f"the outcome of {line}")


def test_a_late_ctrl_c_gives_the_prompt_back_at_once_and_the_outcome_follows(
        server, session, project, tmp_path: Path, monkeypatch) -> None:
    # Ctrl-C once abort_job / delete_job reached the server cannot stop them: the shell says so and
    # gives the prompt back while the server (stopped here) has not answered; the outcome, done or
    # failed, prints as a background line when the answer comes.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    job_id = session.submit_job(str(hello_server(tmp_path, name="late-abort", steps=40)))
    ghost = str(uuid.uuid4())

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        await _late(shell, server, pipe, f"abort_job {job_id} --yes", "abort_job went on after Ctrl-C: ")
        await _late(shell, server, pipe, f"delete_job {ghost} --yes",
                    "delete_job went on after Ctrl-C and failed: JobNotFound")
        for _ in range(300):  # the aborted job's processes stopped: it may be deleted
            if (await shell.backend.get_job_meta(job_id))["status"] == "FINISHED:ABORTED":
                break
            await asyncio.sleep(0.1)
        # A record answer reads as the normal answer's record, on one line (never raw JSON)
        await _late(shell, server, pipe, f"delete_job {job_id} --yes",
                    f"delete_job went on after Ctrl-C: Deleted job {job_id}")
        assert "cancelled" not in _out_text(shell) and '{"job_id"' not in _out_text(shell)
        pipe.send_text("bye\r")

    code, _, _ = _run_shell(project, tmp_path, script)
    assert code == 0
    assert job_id not in [j["job_id"] for j in session.list_jobs()]  # aborted, then deleted


def test_a_late_outcome_goes_where_its_line_sent_it(server, session, project, tmp_path: Path, monkeypatch) -> None:
    # Finding 8 of the fourth user: "> FILE" / ">> FILE" get the outcome of a command that went on after
    # Ctrl-C when it ends; a pipeline cannot have the terminal then, and that is said.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))  # queued: an abort ends it at once
    out = tmp_path / "outcome.txt"

    async def script(shell: InteractiveShell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        await _late(shell, server, pipe, f"abort_job {job_id} --yes > {out}",
                    f"abort_job went on after Ctrl-C: wrote 1 line to {out}", where=f"goes to {out}")
        for _ in range(300):
            if (await shell.backend.get_job_meta(job_id))["status"] == "FINISHED:ABORTED":
                break
            await asyncio.sleep(0.1)
        await _late(shell, server, pipe, f"delete_job {job_id} --yes >> {out}",
                    f"delete_job went on after Ctrl-C: appended 2 lines to {out}", where=f"goes to {out}")
        await _late(shell, server, pipe, f"abort_job {job_id} --yes | cat",
                    "(shown here, not piped to 'cat': the prompt has the terminal now)",
                    where="shows here, not piped")
        pipe.send_text("bye\r")

    code, output, _ = _run_shell(project, tmp_path, script)
    assert code == 0
    written = out.read_text()
    assert written.count("\n") == 3 and f"job_id                         {job_id}" in written, written
    assert "submit_records_marked_deleted" not in output  # the record went to the file only
