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


__all__ = ["ELLIPSIS", "elide", "pad", "width"]
