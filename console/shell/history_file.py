"""The shell's history file, kept to its newest ``KEPT`` entries.

Owns reading and trimming ``~/.local/share/flare-console/history`` (prompt_toolkit's FileHistory
format: each entry a ``# time`` line and its ``+`` lines); what the prompt does with the entries
(Up, Ctrl-R, suggestions) stays prompt_toolkit's.

Why a bound: prompt_toolkit copies the whole history into each new prompt's buffer (an async
generator over every entry, on the event loop) and the suggestion from history copies the list at
each key typed. Per prompt that was 0.09 ms for 1,000 entries, 0.87 ms for 10,000 and 25 ms for
100,000 (2-core machine, min of 5), so a history that only grew made every command of a
long-time user slower. bash and psql keep 500 entries by default; 10,000 keeps months of an
operator's commands. The file itself is cut back to the newest ``KEPT`` entries, with their
times, once it holds twice as many (so not at every start), by writing a new file and renaming
it over the old one: a console appending at that moment appends to one file or the other,
never to a half-written one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

from console.own_files import open_private

#: Entries a prompt recalls (newest first); the file is trimmed to them once it holds twice as many.
KEPT = 10_000


class BoundedFileHistory(FileHistory):
    """prompt_toolkit's ``FileHistory`` that loads the newest ``kept`` entries and trims its file."""

    def __init__(self, path: Path, kept: int = KEPT) -> None:
        super().__init__(str(path))
        self.path = path
        self.kept = kept

    def load_history_strings(self) -> Iterable[str]:
        entries = _entries(self.path)
        if len(entries) >= 2 * self.kept:
            _rewrite(self.path, entries[-self.kept:])
        return [_text(entry) for entry in reversed(entries[-self.kept:])]


def _entries(path: Path) -> list[list[str]]:
    """The file's entries, oldest first, each its lines as written (comment lines, then ``+`` lines)."""
    try:
        with open(path, "rb") as file:  # lines end at b"\n" only, as FileHistory reads them (not at \r, \x1e...)
            lines = [line.decode("utf-8", errors="replace") for line in file]
    except OSError:
        return []
    entries: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.startswith("+"):
            current.append(line)
        elif any(part.startswith("+") for part in current):  # a comment or blank line after an entry ends it
            entries.append(current)
            current = [line] if line.strip() else []
        elif line.strip():
            current.append(line)  # the entry's "# time" line
    if any(part.startswith("+") for part in current):
        entries.append(current)
    return entries


def _text(entry: list[str]) -> str:
    """An entry's command, as prompt_toolkit's FileHistory reads it (its ``+`` lines, the last line end dropped)."""
    return "".join(line[1:] for line in entry if line.startswith("+"))[:-1]


def _rewrite(path: Path, entries: list[list[str]]) -> None:
    """``path`` holding only ``entries`` (in FileHistory's layout); left as it was if it cannot be written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open_private(temporary) as out:
            for entry in entries:
                out.write("\n" + "".join(line if line.endswith("\n") else line + "\n" for line in entry))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
