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
console exits 130 (128 + SIGINT, as a shell does).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from console.api.errors import AuthenticationError, CancelTooLate, SessionClosed
from console.backends.base import Backend
from console.shell.client_side import CommandFailed, ShellState
from console.shell.execute import Executor
from console.shell.failures import explain, not_run
from console.shell.monitors import MonitorManager
from console.shell.output import Format, render
from console.shell.parse import UsageError, commands_only, parse_command, split_commands
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


def lines_of(source: str, stream: Iterable[str]) -> list[BatchLine]:
    return [BatchLine(source, i, line.rstrip("\n")) for i, line in enumerate(stream, 1)]


class BatchFrontend:
    interactive = False

    def __init__(self, fmt: Format, out: TextIO) -> None:
        self.fmt = fmt
        self.out = out

    def emit(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        if self.fmt is Format.JSON and meta is not None:
            record = {"event": "status", "job_id": meta["job_id"], "name": meta.get("name"),
                      "status": meta["status"], "time": time.time()}
            print(json_text(record, pretty=False), file=self.out, flush=True)  # events: one line each
        else:
            print(visible(text), file=self.out, flush=True)

    async def confirm(self, question: str) -> bool:
        return False

    def set_theme(self, name: str) -> None:
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
                    continue_on_error: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    frontend = BatchFrontend(fmt, out)
    state = ShellState(format=fmt, confirm=True)
    executor = Executor(backend, state, frontend, MonitorManager(backend, frontend.emit),
                        CompletionRefresher(backend))
    worst = EXIT_OK
    for index, line in enumerate(lines):
        where = f"{line.source}:{line.number}" if line.source != "-c" else "-c"
        commands = split_commands(line.text)
        for at, command in enumerate(commands):
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
            if code == _GONE:
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


async def _run_command(executor: Executor, state: ShellState, where: str, text: str, yes: bool,
                       out: TextIO, err: TextIO) -> int:
    """One command of a batch: EXIT_OK, EXIT_FAILED (its own failure, bad arguments and NoConnection
    included), _GONE (it failed, and the session is gone: nothing after it can run), _LEAVE (bye) or _CTRL_C (a Ctrl-C came
    too late to stop it: it went on, and its outcome is said)."""
    parsed = None
    try:
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
        print(visible(f"{where}: {type(exc).__name__}: {exc}"), file=err)
        return _GONE
    except Exception as exc:  # a failed command, reported by its exception (NoConnection too: the next connects again)
        print(visible(f"{where}: {text}: {explain(exc, parsed)}"), file=err)
        if state.timing and executor.elapsed is not None:
            print(f"({executor.elapsed * 1000:.1f} ms)", file=err)
        return EXIT_FAILED
    fmt = outcome.format or state.format
    if outcome.result is not None or (fmt is not Format.TABLE and outcome.message is None):
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


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
