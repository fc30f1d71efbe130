"""Rendering results by format (tables and records for people, exact JSON, the server's raw text).

Also the pager: output taller than the screen (rows counted as the terminal wraps them) goes
through ``$PAGER`` (default ``less -RXF``) in the interactive shell only; a table wider than the
screen (``set expanded off``) too, with ``less -S``: its lines are chopped and scroll sideways
rather than wrap into mush. A message or a record is never chopped: it wraps, as an error does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import threading
from collections.abc import Iterator
from typing import Any

from console.shell.cells import rows, width
from console.shell.formats import Format
from console.shell.human import Expanded, human, table
from console.shell.safe_text import json_text, visible
from console.shell.user_pipeline import run_in_front
from console.worded import engine_answer, json_document

DEFAULT_PAGER = "less -RXF"
#: The default before wide lines wrapped: configs written then carry it; read as today's default.
_FORMER_DEFAULT = "less -SRXF"
#: A shell's status for a program it could not find: the pager did not run (``page``).
_NOT_FOUND = 127


def render(result: Any, fmt: Format, width: int | None = None, expanded: Expanded = Expanded.AUTO,
           terminal: bool = True) -> str:
    """``table``: for people (``human``); ``json``: exact, one document (``json_text``: pretty on a
    ``terminal``, else on one line); ``raw``: the server's text as it came.

    Control characters from the server are shown visibly, except in JSON, which escapes them
    itself and stays exact. On a ``terminal``, a record's long values wrap at ``width``; for a file
    or a pipe a line is a line.
    """
    text = _render(result, fmt, width, expanded, terminal)
    return text if fmt is Format.JSON else visible(text)


def _render(result: Any, fmt: Format, width: int | None, expanded: Expanded, terminal: bool) -> str:
    if fmt is Format.JSON:  # the engine's answer, never the console's words for it, but an action's record
        return json_text(json_document(result), pretty=terminal)
    if fmt is not Format.TABLE:  # the engine's answer, never the console's words for it (``worded``)
        result = engine_answer(result)
    if fmt is Format.RAW:
        if result is None:
            return ""
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    if result is None:
        return ""
    logs = _logs(result)
    if logs is not None:
        return logs
    return human(result, width or shutil.get_terminal_size((80, 24)).columns, expanded, terminal)


def _logs(result: Any) -> str | None:
    """``get_job_logs``' answer (FLARE's shape: {"logs": {target: text}, "unavailable": {...}}) as text."""
    if not (isinstance(result, dict) and isinstance(result.get("logs"), dict) and set(result) <= {"logs", "unavailable"}):
        return None
    parts = []
    for target, text in result["logs"].items():
        parts.append(f"== {target} ==")
        parts.append(str(text).strip("\n") or "(empty)")
    for target, reason in (result.get("unavailable") or {}).items():
        parts.append(f"== {target}: unavailable: {reason}")
    return "\n".join(parts) or "(no logs)"


def needs_pager(text: str, fmt: Format = Format.TABLE, wide_table: bool = False) -> bool:
    """Taller than the screen, counted in rows as the terminal wraps the lines (in cells); or
    ``wide_table`` (the text shows a table of rows, ``human.has_table``) and a line of it wider than
    the screen: a wide table wraps into mush, so the pager chops it (``page(chop=True)``). Any
    other long line (a message, a record's value) wraps as an error does; JSON and raw text are
    made to be copied whole, so only their height counts."""
    size = shutil.get_terminal_size((80, 24))
    lines = text.split("\n")
    if wide_table and fmt is Format.TABLE and max(width(line) for line in lines) > size.columns:
        return True
    room = size.lines - 2
    if len(lines) > room:  # no need to measure
        return True
    return sum(rows(line, size.columns) for line in lines) > room


def _ignore(signum: int, frame: Any) -> None:
    """Ctrl-C while a child has the terminal: the child's to act on, not the console's."""


@contextlib.contextmanager
def ctrl_c_for_the_child() -> Iterator[None]:
    """While a pager or the user's pipeline owns the terminal, Ctrl-C goes to it alone.

    The terminal sends SIGINT to the console as well; left alone it would raise
    KeyboardInterrupt and end the console (with a demo's server and sites). A Python-level
    handler, not SIG_IGN, because exec resets caught signals to the default in the child, so
    ``| sleep 100`` still stops on Ctrl-C and ``less`` still handles it itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _ignore)
    # Nor does the event loop see it afterwards: its wakeup fd would queue this Ctrl-C for the
    # shell's own SIGINT handler, which would take it for a Ctrl-C at the next prompt.
    wakeup = signal.set_wakeup_fd(-1)
    try:
        yield
    finally:
        signal.set_wakeup_fd(wakeup)
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def pager_command(pager: str | None, chop: bool) -> list[str]:
    """The pager's argv: ``pager`` (the user's ``$PAGER`` or config), else the default; for ``less``,
    ``-S`` (chop long lines) only with ``chop`` (a wide table) unless the user's own command has it."""
    text = pager or os.environ.get("PAGER") or DEFAULT_PAGER
    if text.strip() == _FORMER_DEFAULT:
        text = DEFAULT_PAGER
    command = shlex.split(text)
    if chop and command and os.path.basename(command[0]) == "less" and "-S" not in command:
        command.append("-S")
    return command


def page(text: str, pager: str | None = None, chop: bool = False) -> bool:
    """Show ``text`` through the pager; False if the pager could not run (the caller prints it).
    ``chop``: a wide table, its lines cut at the screen's edge by ``less -S`` (scroll with the arrows)."""
    command = pager_command(pager, chop)
    if not command:
        return False
    try:
        with ctrl_c_for_the_child():
            # Ended by a line end: a pager that shows text as it is (PAGER=cat) would leave the last row open,
            # and the prompt after it on that row.
            ended = run_in_front(command, (text if text.endswith("\n") else text + "\n").encode())
    except (OSError, ValueError):
        return False
    return ended.returncode != _NOT_FOUND


__all__ = ["DEFAULT_PAGER", "Expanded", "Format", "ctrl_c_for_the_child", "needs_pager", "page", "pager_command", "render", "table"]
