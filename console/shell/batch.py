"""Scripted batches: ``-c CMD``, ``-f FILE`` or a piped stdin; no prompt_toolkit UI at all.

Exit codes: 0 all commands succeeded; 1 a command failed, an unknown command and bad
arguments included (at the first one, or at the end with ``--continue-on-error``), and so did
one whose answer did not come (NoConnection: a timeout, a lost connection; the next command
connects again) or after which the session cannot go on (closed, refused: the batch stops
there); ``monitor_job`` and ``follow`` fail unless their job ended FINISHED:COMPLETED (or when its ``--timeout``
passed); 2 only when the batch could not run at all (bad flags, kit, connection, authentication
before the first command: ``console.shell.main``). Ctrl-C
(SIGINT) stops the batch whatever ``--continue-on-error`` says, also when it came too late to
stop the running command (which went on: its outcome is said), names what was not run, and the
console exits 130 (128 + SIGINT, as a shell does). Output into a pipe that closed (``| head -1``) ends the
batch quietly with 141 (128 + SIGPIPE, what a shell reports for git there: ``console.shell.closed_pipe``).
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from console.api.errors import AuthenticationError, CancelTooLate, SessionClosed
from console.backends.base import Backend
from console.invocation import console_command
from console.shell import words
from console.shell.client_side import CommandFailed, ShellState, closing_document
from console.shell.closed_pipe import EXIT_CLOSED, GuardedOutput, OutputClosed, ReaderGone
from console.shell.execute import Executor
from console.shell.failures import explain, not_run
from console.shell.monitors import MonitorManager, not_scheduled
from console.shell.output import Format, render
from console.shell.parse import (
    UsageError,
    commands_only,
    logical_lines,
    parse_command,
    split_commands,
    split_sink,
)
from console.shell.refresher import CompletionRefresher
from console.shell.safe_text import json_text, visible

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: After these a batch's session cannot go on: the batch stops whatever ``--continue-on-error`` says.
FATAL = (AuthenticationError, SessionClosed)


@dataclass
class BatchLine:
    source: str  # "-c", a file name, or "<stdin>"
    number: int
    text: str


def lines_of(source: str, text: str) -> list[BatchLine]:
    """``text``'s command lines as the prompt reads them (one reader, ``parse.logical_lines``): a line end
    inside quotes or after a backslash continues the line, as bash and psql read a script. Each numbered by
    the line of ``source`` it starts on; one whose quote is never closed fails when it runs, naming that line."""
    found, number = [], 1
    *lines, last = logical_lines(text.replace("\r\n", "\n"))
    ending = words.scan(last).words
    if ending and ending[-1].open == "\\":  # a backslash at the end of the input continues into nothing:
        last = last[:-1]  # bash reads its script so (``echo foo \`` and no line end: "foo")
    for line in [*lines, last]:
        found.append(BatchLine(source, number, line))
        number += line.count("\n") + 1
    return found


class BatchFrontend:
    interactive = False

    def __init__(self, fmt: Format, out: TextIO) -> None:
        self.fmt = fmt
        self.out = out

    def emit(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        if self.fmt is not Format.JSON:
            print(visible(text), file=self.out, flush=True)
            return
        # JSON Lines: each event one document on a line of its own, whatever the output is.
        now = time.time()
        if meta is None:  # a note of the console's own, as "(monitor timed out)"
            records = [{"event": "message", "message": text, "time": now}]
        elif meta.get("event") == "log":  # a followed log's lines (console.shell.follow)
            records = [{"event": "log", "job_id": meta["job_id"], "target": meta["target"], "line": line,
                        "time": now} for line in meta["lines"]]
        else:  # a job's meta: its status changed
            records = [{"event": "status", "job_id": meta["job_id"], "name": meta.get("name"),
                        "status": meta["status"], "time": now}]
            if not_scheduled(meta):  # a SUBMITTED job's reason to wait (FLARE's schedule_history), when it changed
                records[0]["waiting"] = not_scheduled(meta)
        print("\n".join(json_text(record, pretty=False) for record in records), file=self.out, flush=True)

    async def confirm(self, question: str) -> bool:
        return False

    def set_theme(self, name: str) -> list[str]:
        raise CommandFailed("themes apply to the interactive shell only")

    def theme_names(self) -> list[str]:
        from console.shell.themes import available_themes

        return sorted(available_themes())

    def remember(self, key: str, value: str | bool) -> None:
        pass  # a script's settings are its own: the user's config file is left alone

    def repaint(self, text: str, heading: Callable[[int], str] | None = None) -> None:
        raise CommandFailed("watch needs the interactive console")

    def end_repaint(self) -> None:
        pass

    def progress(self, text: str | None) -> None:
        pass  # a batch's output is the commands' answers: no progress lines in it


async def run_batch(backend: Backend, lines: list[BatchLine], *, fmt: Format, yes: bool,
                    continue_on_error: bool, out: TextIO | None = None, err: TextIO | None = None) -> int:
    # The streams in force when the batch runs (None): a default bound at import kept the streams of then.
    out, err = out or sys.stdout, err or sys.stderr
    gone = ReaderGone()
    gone.task = asyncio.current_task()
    out, err = GuardedOutput(out, gone), GuardedOutput(err, gone)  # type: ignore[assignment]
    try:
        code = await _run_lines(backend, lines, fmt=fmt, yes=yes, continue_on_error=continue_on_error,
                                out=out, err=err, gone=gone)
        # Also when a write in a callback found it (a status event, a log line) and whoever called it went on.
        return EXIT_CLOSED if gone.closed else code
    except (OutputClosed, asyncio.CancelledError):
        if not gone.closed:
            raise  # Ctrl-C
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return EXIT_CLOSED  # the reader went away (| head): quiet, as git


async def _run_lines(backend: Backend, lines: list[BatchLine], *, fmt: Format, yes: bool, continue_on_error: bool,
                     out: TextIO, err: TextIO, gone: ReaderGone) -> int:
    frontend = BatchFrontend(fmt, out)
    state = ShellState(format=fmt, confirm=True)
    executor = Executor(backend, state, frontend, MonitorManager(backend, frontend.emit),
                        CompletionRefresher(backend))
    waiting: list[str] = []  # "WHERE: COMMAND" while a command that waits on the server runs
    stop_hearing = backend.add_state_listener(lambda up: _said_while_waiting(backend, waiting, up, err))
    try:
        return await _run_commands(executor, state, lines, waiting, yes=yes, continue_on_error=continue_on_error,
                                   out=out, err=err, gone=gone)
    finally:
        stop_hearing()


#: Commands that wait on the server for long: a lost connection meanwhile is said on stderr, as the shell says it.
_WAITING = ("monitor_job", "follow")


def _said_while_waiting(backend: Backend, waiting: list[str], up: bool, err: TextIO) -> None:
    """The connection's loss and return while a waiting command runs: without it a batch's monitor_job said
    nothing for as long as the server was down (flare9 item 7)."""
    if waiting and not backend.closed:
        said = "reconnected to the server" if up else "connection to the server lost; reconnecting..."
        print(visible(f"{waiting[0]}: {said}"), file=err, flush=True)


async def _run_commands(executor: Executor, state: ShellState, lines: list[BatchLine], waiting: list[str], *,
                        yes: bool, continue_on_error: bool, out: TextIO, err: TextIO, gone: ReaderGone) -> int:
    worst = EXIT_OK
    for index, line in enumerate(lines):
        where = f"{line.source}:{line.number}" if line.source != "-c" else "-c"
        commands = split_commands(line.text)
        for at, command in enumerate(commands):
            waiting[:] = [f"{where}: {command.strip()}"] if (command.split() or [""])[0] in _WAITING else []
            try:
                code = await _run_command(executor, state, where, command, yes, out, err)
            except asyncio.CancelledError:  # Ctrl-C (asyncio.run cancels the batch): it ends with 130
                print(visible(f"{where}: {command.strip()}: cancelled (Ctrl-C)"), file=err)
                _not_run(where, commands[at + 1:], lines[index + 1:], err)
                raise
            # A Ctrl-C came too late to stop the command (its outcome is said): the batch's cancel is still
            # pending (``cancelling``) whoever turned it into that outcome; the rest is not run either.
            if code == _CTRL_C or _interrupted():
                _not_run(where, commands[at + 1:], lines[index + 1:], err)
                raise asyncio.CancelledError
            if code == _GONE or gone.closed:
                return EXIT_FAILED
            if code == EXIT_FAILED and not continue_on_error:
                return code
            if code == _LEAVE:
                return worst
            worst = max(worst, code)
    return worst


_LEAVE, _CTRL_C, _GONE = -1, -2, -3


def _interrupted() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _not_run(where: str, rest: list[str], later: list[BatchLine], err: TextIO) -> None:
    """What a Ctrl-C left unrun, said once (as the shell says it): the rest of its line, and the
    commands of the lines after it."""
    said = not_run(commands_only(rest) + [c for line in later for c in commands_only(split_commands(line.text))])
    if said:
        print(visible(f"{where}: {said}"), file=err)


def _closing(exc: BaseException, state: ShellState, out: TextIO, message: str) -> None:
    """A failed command's document all the same under ``--format json``, when it has one (monitor_job, follow:
    ``client_side.closing_document``), with the message said on stderr too."""
    fields = closing_document(exc)
    if fields is not None and state.format is Format.JSON:
        print(json_text({**fields, "message": message}, pretty=_is_terminal(out)), file=out)


async def _run_command(executor: Executor, state: ShellState, where: str, text: str, yes: bool,
                       out: TextIO, err: TextIO) -> int:
    """One command of a batch: EXIT_OK, EXIT_FAILED (its own failure, bad arguments and NoConnection
    included), _GONE (it failed, and the session is gone: nothing after it can run), _LEAVE (bye) or _CTRL_C (a Ctrl-C came
    too late to stop it: it went on, and its outcome is said)."""
    parsed = None
    try:
        _no_sink(text)
        parsed = parse_command(text, executor.backend.engine)
        if parsed is None:
            return EXIT_OK
        parsed.yes = parsed.yes or yes
        outcome = await executor.run(parsed)
    except UsageError as exc:
        print(visible(f"{where}: {exc}"), file=err)
        return EXIT_FAILED
    except CancelTooLate as late:
        print(visible(f"{where}: {explain(late, parsed)}"), file=err)
        return _CTRL_C
    except FATAL as exc:
        _closing(exc, state, out, f"{type(exc).__name__}: {exc}")
        print(visible(f"{where}: {type(exc).__name__}: {exc}"), file=err)
        return _GONE
    except Exception as exc:  # a failed command, reported by its exception (NoConnection too: the next connects again)
        _closing(exc, state, out, explain(exc, parsed, executor.backend.engine))
        print(visible(f"{where}: {text}: {explain(exc, parsed, executor.backend.engine)}"), file=err)
        if state.timing and executor.elapsed is not None:
            print(f"({executor.elapsed * 1000:.1f} ms)", file=err)
        return EXIT_FAILED
    fmt = outcome.format or state.format
    if outcome.result is not None or (fmt is not Format.TABLE and outcome.message is None and not outcome.exit):
        # For a person at a terminal: values wrap, JSON is indented; into a file or a pipe a line stays a
        # line and each command's JSON is one line (JSON Lines).
        text_out = render(outcome.result, fmt, expanded=state.expanded, terminal=_is_terminal(out))
        if text_out:
            print(text_out, file=out)
    if outcome.message:
        print(outcome.message_as(fmt, _is_terminal(out)), file=out)
    if state.timing and executor.elapsed is not None:
        print(f"({executor.elapsed * 1000:.1f} ms)", file=err)
    return _LEAVE if outcome.exit else EXIT_OK


def _no_sink(text: str) -> None:
    """A batch has no ``| PIPELINE`` nor ``> FILE`` of its own (the interactive shell's): its output is the
    one to pipe or redirect, by the shell that runs it. UsageError saying so, with the command to type."""
    command, sink = split_sink(text)
    if sink is None:
        return
    what = "pipes" if sink.kind == "|" else "redirects"
    raise UsageError(f"'{sink.kind}': {what} work in the interactive shell only; in a batch, {what[:-1]} the "
                     f"batch's own output: {console_command()} ... -c {shlex.quote(command)} {sink.kind} {sink.target}")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
