"""Scripted batches: ``-c CMD``, ``-f FILE`` or a piped stdin; no prompt_toolkit UI at all.

Exit codes: 0 all commands succeeded; 1 a command failed (at the first one, or at the
end with ``--continue-on-error``); 2 a usage, connection or authentication error.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from console.api.errors import AuthenticationError, NoConnection, SessionClosed
from console.backends.base import Backend
from console.shell.execute import CommandFailed, Executor, ShellState
from console.shell.monitors import MonitorManager
from console.shell.output import Format, render
from console.shell.parse import UsageError, parse_command
from console.shell.refresher import CompletionRefresher
from console.shell.safe_text import visible

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
FATAL = (NoConnection, AuthenticationError, SessionClosed)


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
            print(json.dumps(record), file=self.out, flush=True)
        else:
            print(visible(text), file=self.out, flush=True)

    async def confirm(self, question: str) -> bool:
        return False

    def set_theme(self, name: str) -> None:
        raise CommandFailed("themes apply to the interactive shell only")

    def theme_names(self) -> list[str]:
        from console.shell.themes import available_themes

        return sorted(available_themes())


async def run_batch(backend: Backend, lines: list[BatchLine], *, fmt: Format, yes: bool,
                    continue_on_error: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    frontend = BatchFrontend(fmt, out)
    state = ShellState(format=fmt, confirm=True)
    executor = Executor(backend, state, frontend, MonitorManager(backend, frontend.emit),
                        CompletionRefresher(backend))
    worst = EXIT_OK
    for line in lines:
        where = f"{line.source}:{line.number}" if line.source != "-c" else "-c"
        try:
            parsed = parse_command(line.text)
            if parsed is None:
                continue
            parsed.yes = parsed.yes or yes
            started = time.perf_counter()
            outcome = await executor.run(parsed)
        except UsageError as exc:
            print(visible(f"{where}: {exc}"), file=err)
            return EXIT_USAGE
        except FATAL as exc:
            print(visible(f"{where}: {type(exc).__name__}: {exc}"), file=err)
            return EXIT_USAGE
        except Exception as exc:  # a failed command, reported by its exception
            name = "" if isinstance(exc, CommandFailed) else f"{type(exc).__name__}: "
            print(visible(f"{where}: {line.text.strip()}: {name}{exc}"), file=err)
            if not continue_on_error:
                return EXIT_FAILED
            worst = EXIT_FAILED
            continue
        if outcome.result is not None or (fmt is not Format.TABLE and outcome.message is None):
            text = render(outcome.result, state.format)
            if text:
                print(text, file=out)
        if outcome.message:
            print(json.dumps({"message": outcome.message}) if state.format is Format.JSON else visible(outcome.message),
                  file=out)
        if state.timing:
            print(f"({(time.perf_counter() - started) * 1000:.1f} ms)", file=err)
        if outcome.exit:
            break
    return worst
