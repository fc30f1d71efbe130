"""The prompt's line read as Enter would read it, while it is typed: Enter then only hands it over.

Owns reading the line ahead of Enter (does Enter continue it, is it one command that may be sent
at Enter, with its parse) and keeping that reading for the line's text; what is sent, when, and how
its answer is shown stay ``early.py``'s.

Why: at Enter, reading the line (whether it continues, splitting its commands and its ``> FILE``,
parsing it, the answer's ``Arrival``) was about 0.15 ms of Python between the key's read and FLARE's
worker being handed the call (timestamps in the console on FLARE's POC; ``fl_admin.sh``, readline,
calls FLARE 0.13 ms after reading Enter). A user pauses between keys: the reading is made
``AFTER`` s after the last change (after the key's own drawing, never in its way) and used at
Enter only for the very text it read; on a line typed ahead faster than that, Enter reads it as
before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from console.commands import Engine
from console.shell.parse import (
    ParsedCommand,
    UsageError,
    line_continues,
    parse_command,
    split_commands,
    split_sink,
)

#: Seconds after the line's last change that it is read (a key's drawing comes first).
AFTER = 0.03

T = TypeVar("T")


@dataclass(frozen=True)
class Sendable:
    """A line's one command that may be sent at Enter."""

    command: str  # as ``split_commands`` gives it (``> FILE`` or ``| PIPELINE`` included)
    parsed: ParsedCommand
    to_screen: bool  # no ``> FILE`` nor ``| PIPELINE``: its answer goes to the screen


def sendable(text: str, engine: Engine, starts_at_enter: Callable[[ParsedCommand], bool]) -> Sendable | None:
    """``text``'s command when it is one command that ``starts_at_enter``; None otherwise (several
    commands, a usage error: the shell reports those when it runs the line)."""
    commands = split_commands(text)
    if len(commands) != 1:
        return None
    try:
        line, sink = split_sink(commands[0])
        parsed = parse_command(line, engine)
    except UsageError:
        return None
    if parsed is None or not starts_at_enter(parsed):
        return None
    parsed.to_screen = sink is None
    return Sendable(commands[0], parsed, sink is None)


@dataclass(frozen=True)
class _Reading(Generic[T]):
    text: str
    continues: bool
    sendable: Sendable | None
    extra: T | None  # what the caller made ahead for a sendable line (``make``)


class ReadAhead(Generic[T]):
    """The last reading of a line (``typed`` after each change); ``make(line, sendable)`` is called with
    it for what else may be made ahead (``early.py``: the answer's Arrival, the line's echo). Only on the
    loop's thread."""

    def __init__(self, engine: Engine, starts_at_enter: Callable[[ParsedCommand], bool],
                 make: Callable[[str, Sendable], T | None]) -> None:
        self._engine = engine
        self._starts_at_enter = starts_at_enter
        self._make = make
        self._reading: _Reading[T] | None = None
        self._later: asyncio.TimerHandle | None = None

    def typed(self, text: Callable[[], str]) -> None:
        """The line changed: read ``text()`` ``AFTER`` s from now unless it changes again."""
        if self._later is not None:
            self._later.cancel()
        self._later = asyncio.get_running_loop().call_later(AFTER, self._read, text)

    def _read(self, text: Callable[[], str]) -> None:
        self._later = None
        line = text()
        if not line.strip():
            return
        try:
            continues = line_continues(line)
            found = sendable(line, self._engine, self._starts_at_enter)
            extra = self._make(line, found) if found is not None else None
        except Exception:  # (whatever it is, Enter meets it again reading the line itself)
            return
        self._reading = _Reading(line, continues, found, extra)

    def continues(self, text: str) -> bool:
        """``parse.line_continues(text)``, from the reading when it is of ``text``."""
        reading = self._reading
        return reading.continues if reading is not None and reading.text == text else line_continues(text)

    def take(self, text: str) -> tuple[Sendable | None, T | None] | None:
        """The reading of ``text`` (its sendable command and extra), used once; None when there is none."""
        reading, self._reading = self._reading, None
        if reading is None or reading.text != text:
            return None
        return reading.sendable, reading.extra
