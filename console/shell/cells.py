"""Text measured in terminal cells, the one rule every table, record and menu of the shell pads and cuts by.

A CJK character or an emoji takes two cells, a combining mark none, so ``len()`` misaligns a
column as soon as a job name holds one. Widths are ``wcwidth``'s, character by character, as
prompt_toolkit's ``get_cwidth`` measures them (and as terminal emulators such as pyte draw
them): the completion menu, ``top`` and the tables then agree. Control characters count as
none here; the renderers show them visibly (``safe_text``) before measuring.
"""

from __future__ import annotations

from prompt_toolkit.utils import get_cwidth

ELLIPSIS = "…"


def width(text: str) -> int:
    """Terminal cells ``text`` takes on one line."""
    if text.isascii() and text.isprintable():  # most cells: a character each, and no cache to fill
        return len(text)
    return get_cwidth(text)


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
    for char in text:
        size = get_cwidth(char)
        if used + size > cells - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + ELLIPSIS


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
    for char in text:
        size = get_cwidth(char)
        if out and used + size > cells:
            pieces.append("".join(out))
            out, used = [], 0
        out.append(char)
        used += size
    pieces.append("".join(out))
    return pieces


def wrap(text: str, cells: int) -> list[str]:
    """``text`` (one line) as lines of at most ``cells`` cells: broken after a blank where one is near
    enough, else anywhere (a job ID, a path), a wide character never split; at least one line.

    Every value the shell wraps goes through here (records, ``top``'s details, titles): wrapping
    counted in characters but cut in cells loses what falls between the two.
    """
    if cells <= 0 or width(text) <= cells:
        return [text]
    lines = []
    rest = text
    while width(rest) > cells:
        head = _cut(rest, cells)[0]
        blank = head.rfind(" ")
        # Words break at a blank in the line's second half; a long word is cut where the line ends.
        if blank > 0 and width(head[:blank]) * 2 >= cells:
            lines.append(head[:blank].rstrip())
            rest = rest[blank + 1:].lstrip(" ")
        else:
            lines.append(head)
            rest = rest[len(head):]
    if rest or not lines:
        lines.append(rest)
    return lines


__all__ = ["ELLIPSIS", "elide", "pad", "rows", "width", "wrap"]
