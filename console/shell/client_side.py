"""The contract of the commands the shell does itself (help, watch, follow, plot, top, ...):
what one is given (``ShellContext``: backend, settings, frontend, monitors, completion data),
what it gives back (``Outcome``, or ``CommandFailed`` with a message saying why), and the
registry it enters with ``@client_side(NAME)`` (NAME must be in the command catalog).

``console.shell.execute`` looks commands up here and runs them; the live views (follow, plot,
top) register here too, so they need not import the executor that runs them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from console.backends.base import Backend
from console.commands import CATALOG
from console.shell.monitors import MonitorManager
from console.shell.output import Expanded, Format
from console.shell.parse import ParsedCommand
from console.shell.refresher import CompletionRefresher
from console.shell.safe_text import json_text, visible


class CommandFailed(Exception):
    """A command could not do its work; the message says why and what to do. ``fields``: what a script
    reads of it all the same (a batch's monitor_job or follow: the job's ``job_id``, ``name`` and ``status``),
    written with the message as the command's document under ``--format json``."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


def with_closing_document(exc: BaseException, fields: dict[str, Any]) -> BaseException:
    """``exc``, a failure of a batch's monitor_job or follow after its job was found, carrying ``fields`` (its
    closing document: ``job_id``, ``name``, ``status``) unless it has its own: README promises that document
    however the command ends (flare10 item 6: an abandoned job's JobNotRunning, a dropped link, a follow
    whose stream stopped printed none). The exception keeps its type, so the batch's exit code stays."""
    if isinstance(exc, CommandFailed):
        if exc.fields is None:
            exc.fields = fields
    elif closing_document(exc) is None:
        exc.closing_document = fields  # type: ignore[attr-defined]
    return exc


def closing_document(exc: BaseException) -> dict[str, Any] | None:
    """The closing document a failed command carries (``CommandFailed.fields``, ``with_closing_document``)."""
    if isinstance(exc, CommandFailed):
        return exc.fields
    fields = getattr(exc, "closing_document", None)
    return fields if isinstance(fields, dict) else None


class Frontend(Protocol):
    interactive: bool

    def emit(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None: ...

    async def confirm(self, question: str) -> bool: ...

    def set_theme(self, name: str) -> list[str]:
        """Use theme ``name`` from now on (CommandFailed if it cannot be); a line per bad colour it had
        and what replaces it (``Theme.notes``)."""
        ...

    def theme_names(self) -> list[str]: ...

    def remember(self, key: str, value: str | bool) -> None:
        """Keep a changed setting for next time (the interactive shell's config file; a batch keeps nothing)."""
        ...

    def repaint(self, text: str, heading: Callable[[int], str] | None = None) -> None:
        """Show ``text`` on a cleared screen (watch); only the interactive shell can. ``heading(cells)``:
        its first line fitted to the terminal's width, drawn in place of the first line of ``text``."""
        ...

    def end_repaint(self) -> None:
        """The repainted view ended: the screen as before it, with its last picture."""
        ...

    def progress(self, text: str | None) -> None:
        """A foreground command's progress, one line redrawn in place (None: take it away); a batch shows none."""
        ...


@dataclass
class ShellState:
    format: Format = Format.TABLE
    timing: bool = False
    confirm: bool = True
    theme: str = "dark"
    expanded: Expanded = Expanded.OFF
    editing: str = "emacs"


@dataclass
class Outcome:
    result: Any = None
    message: str | None = None
    exit: bool = False
    #: The format ``result`` is shown in whatever the setting is (a command's own ``--format``).
    format: Format | None = None
    #: ``message`` is the console's own drawing (a chart in colour, help's columns), laid out for the
    #: terminal, whose server strings were made safe when it was drawn: shown as it is, where any other
    #: message is escaped and wrapped (``cells.fill``); its colours go only to a terminal.
    drawn: bool = False
    #: What a script needs from a command whose answer is a sentence (``message``): the new job's
    #: ``job_id``, a download's ``path``. ``--format json`` shows them beside the message.
    fields: dict[str, Any] | None = None
    #: The engine's answer as its API returned it (submit_job's: the job ID), for ``--format raw``;
    #: None: raw shows the message.
    answer: Any = None

    def shown_message(self) -> str:
        """``message`` as it may reach a terminal."""
        return (self.message or "") if self.drawn else visible(self.message or "")

    def message_as(self, fmt: Format, terminal: bool = False) -> str:
        """``message`` in ``fmt``: json, a record (``{"job_id": ..., "message": ...}``: a script reads
        fields, never greps the sentence); raw, the engine's answer when there is one; else the sentence."""
        if fmt is Format.JSON:
            return json_text({**(self.fields or {}), "message": self.message}, pretty=terminal)
        if fmt is Format.RAW and self.answer is not None:
            return visible(self.answer if isinstance(self.answer, str)
                           else json.dumps(self.answer, ensure_ascii=False, default=str))
        return self.shown_message()


class ShellContext(Protocol):
    """What a command the shell does itself may use (``Executor`` is one): the connected backend,
    the shell's settings, where its output goes, the background monitors and completion data."""

    backend: Backend
    state: ShellState
    frontend: Frontend
    monitors: MonitorManager
    refresher: CompletionRefresher


ClientSide = Callable[[Any, ParsedCommand], Awaitable[Outcome]]
#: Command name -> its client-side implementation, called with the ``ShellContext`` running it (the
#: executor's own commands, such as watch, take the ``Executor`` itself).
CLIENT_SIDE: dict[str, ClientSide] = {}


def client_side(name: str) -> Callable[[ClientSide], ClientSide]:
    if name not in CATALOG:
        raise KeyError(f"{name!r} is not in the command registry")

    def register(func: ClientSide) -> ClientSide:
        CLIENT_SIDE[name] = func
        return func

    return register
