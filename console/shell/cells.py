"""Text measured in terminal cells, the one rule every table, record and menu of the shell pads and cuts by.

A CJK character or an emoji takes two cells, a combining mark none, so ``len()`` misaligns a
column as soon as a job name holds one. Widths are ``wcwidth``'s, character by character, as
prompt_toolkit's ``get_cwidth`` measures them (and as terminal emulators such as pyte draw
them): the completion menu, ``top`` and the tables then agree. A flag (two regional indicators)
is 2 cells, as tmux and ``wcwidth.wcswidth`` draw it (``REGIONAL_INDICATORS``). Control characters count as
none here; the renderers show them visibly (``safe_text``) before measuring. A colour (an SGR escape,
``ESC [ 32 m``: the console's own, in a chart) takes no cell and is never cut: counted by its bytes,
``[32m`` took 4 cells, a coloured chart's rows were wrapped early and cut through their escapes.
"""

from __future__ import annotations

import os
import re
from typing import TextIO

from prompt_toolkit import utils as _pt_utils
from prompt_toolkit.utils import get_cwidth

ELLIPSIS = "…"

#: Regional indicators (U+1F1E6..U+1F1FF): a pair of them is a flag, which terminals (tmux, wcwidth's
#: wcswidth) draw in 2 cells; counted 2 each, a flag took 4 and the rest of its row or menu entry
#: shifted 2 columns left. Each counts 1 here and, through prompt_toolkit's width cache (its per-
#: character measure, which every menu and prompt layout uses), in the menu too: one rule for both.
REGIONAL_INDICATORS = tuple(chr(code) for code in range(0x1F1E6, 0x1F200))


def _flags_in_two_cells() -> None:
    cache = getattr(_pt_utils, "_CHAR_SIZES_CACHE", None)
    if isinstance(cache, dict):  # (a prompt_toolkit without the cache measures as before)
        for char in REGIONAL_INDICATORS:
            cache[char] = 1


_flags_in_two_cells()
_RI_FIRST, _RI_LAST = "\U0001F1E6", "\U0001F1FF"


#: A colour or other attribute (SGR) escape: no cell on the screen.
SGR = re.compile(r"\x1b\[[0-9;:]*m")
_RESET = "\x1b[0m"


def plain(text: str) -> str:
    """``text`` without its colours (SGR escapes): for a file or a pipe, and for measuring."""
    return SGR.sub("", text) if "\x1b" in text else text


def _units(text: str) -> list[str]:
    """``text`` as the pieces a cut must keep whole: characters, a flag's two regional indicators together,
    a colour escape (``SGR``) whole."""
    if text.isascii() and "\x1b" not in text:
        return list(text)
    units: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\x1b" and (escape := SGR.match(text, i)):
            units.append(escape.group())
            i = escape.end()
            continue
        pair = text[i:i + 2]
        if len(pair) == 2 and all(_RI_FIRST <= c <= _RI_LAST for c in pair):
            units.append(pair)
            i += 2
        else:
            units.append(text[i])
            i += 1
    return units


def _unit_cells(unit: str) -> int:
    return 0 if unit.startswith("\x1b[") else get_cwidth(unit)


def width(text: str) -> int:
    """Terminal cells ``text`` takes on one line (its colour escapes none)."""
    if text.isascii() and text.isprintable():  # most cells: a character each, and no cache to fill
        return len(text)
    return get_cwidth(plain(text))


def pad(text: str, cells: int) -> str:
    """``text`` followed by blanks up to ``cells`` cells (as ``str.ljust`` counts characters)."""
    return text + " " * max(cells - width(text), 0)


def elide(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` cells, ending in '…' when cut; a wide character never split in half."""
    if width(text) <= cells:
        return text
    if cells <= 0:
        return ""
    out, used = [], 0
    for char in _units(text):
        size = _unit_cells(char)
        if used + size > cells - 1:
            break
        out.append(char)
        used += size
    kept = "".join(out)
    # A colour left on by the cut would paint the '…' and whatever follows it.
    return kept + (_RESET if "\x1b" in kept else "") + ELLIPSIS


def rows(line: str, columns: int) -> int:
    """Screen rows one line (no newline in it) takes on a terminal ``columns`` cells wide, wrapped as
    a terminal wraps it: a wide character that does not fit at a row's end goes whole to the next."""
    if columns <= 0:
        return 1
    if line.isascii() and line.isprintable():
        return max(1, -(-len(line) // columns))
    return len(_cut(line, columns))


def _cut(text: str, cells: int) -> list[str]:
    """``text`` in pieces of at most ``cells`` cells each (a wide character never split)."""
    pieces, out, used = [], [], 0
    for char in _units(text):
        size = _unit_cells(char)
        if out and used + size > cells:
            pieces.append("".join(out))
            out, used = [], 0
        out.append(char)
        used += size
    pieces.append("".join(out))
    return pieces


def wrap(text: str, cells: int, hang: int = 0) -> list[str]:
    """``text`` (one line) as lines of at most ``cells`` cells, broken at blanks as ``fmt`` breaks them: a word
    (a job ID, a path) that fits a line is kept whole and goes to the next line when the rest of this one
    is too short; only a word longer than a line is cut, at the line's end, a wide character never split.
    The blanks a line is broken at go; the others stay. At least one line. ``hang``: blanks that start
    each line after the first (within ``cells``), so that a continued line never starts at the margin.

    Every text the shell wraps goes through here (its messages, records, ``top``'s details, titles):
    wrapping counted in characters but cut in cells loses what falls between the two.
    """
    if cells <= 0 or width(text) <= cells:
        return [text]
    if hang and cells <= 2 * hang:  # too narrow to indent: the words need the room
        hang = 0
    body = text.lstrip(" ")
    lines: list[str] = []
    line = text[:len(text) - len(body)]  # leading blanks stay with the first word
    indent = " " * hang
    for piece in _WORDS.findall(body):
        word = piece.rstrip(" ")
        if width(line + word) <= cells:
            line += piece
            continue
        if line.strip(" "):  # the word does not fit after what is here: it starts the next line
            lines.append(line.rstrip(" "))
            line = indent
        if width(line + word) > cells:  # longer than a line by itself: cut where lines end
            joined = line + word
            head = _cut(joined, cells)[0]
            lines.append(head)
            *full, line = _cut(joined[len(head):], cells - hang)
            lines += [indent + part for part in full]
            line = indent + line + piece[len(word):]
        else:
            line += piece
    last = line.rstrip(" ")
    if last or not lines:
        lines.append(last)
    return lines


def fill(text: str, cells: int) -> str:
    """``text`` (lines) with each line wider than ``cells`` cells wrapped (``wrap``), its further lines
    indented by two blanks (``HANG``); lines that fit are kept as they are. For the shell's own messages on
    the screen: a terminal would break them mid-word, and start a continued line at the margin, where
    text from the server (a job name, an error) could pass for a line of the shell's own."""
    if cells <= 0 or (text.isascii() and "\n" not in text and len(text) <= cells):
        return text
    return "\n".join(part for line in text.split("\n") for part in wrap(line, cells, HANG))


#: Blanks before each further line of a message ``fill`` wrapped.
HANG = 2


def fill_for(stream: TextIO, text: str) -> str:
    """``text`` wrapped (``fill``) to the width of the terminal ``stream`` writes to; as it is when that is no
    terminal (a file or a pipe reads whole lines)."""
    try:
        if stream.isatty():
            return fill(text, os.get_terminal_size(stream.fileno()).columns)
    except (OSError, ValueError, AttributeError):
        pass
    return text


#: A word with the blanks after it.
_WORDS = re.compile(r"[^ ]+ *")


__all__ = ["ELLIPSIS", "HANG", "SGR", "elide", "fill", "fill_for", "pad", "plain", "rows", "width", "wrap"]
