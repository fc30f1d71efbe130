"""Text from the server or a site, made safe for a terminal.

A job name, a log line or an error message can hold escape sequences (set the window title,
write the clipboard with OSC 52, clear the screen) or bidi overrides that reorder what the
admin reads, and zero-width or other invisible characters can hide text or make two names look
alike. Every such character is shown visibly, as its Python escape (``\\x1b``,
``\\u202e``), so nothing reaches the terminal raw and the admin still sees that it was there.
Newlines and tabs are kept. ``--format json`` is written by ``json_text``: UTF-8 as it is (as
pgcli and psql print it), and every such character as its JSON escape, so it stays exact and safe.
"""

from __future__ import annotations

import json
import re
from typing import Any

from console.joiners import ZWJ, ZWNJ, joiner_in_context
from console.names import UNSEEN_BEYOND_C0

# ``console.names.UNSEEN_BEYOND_C0`` (control, format and invisible characters) and the C0 controls
# except tab and newline (and a carriage return that ends a line, as in a Windows log: alone it
# would let text overwrite what the line showed).
_UNSAFE = re.compile(f"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f{UNSEEN_BEYOND_C0}]")

_JOINERS = (ZWJ, ZWNJ)


def _shown(match: re.Match[str]) -> str:
    # A joiner a script needs (after a virama, between Persian letters) is shown as it is: it takes no
    # cell either way. One joining an emoji sequence is shown as its escape: terminals disagree on how
    # many cells the joined emoji takes (2 in tmux, 4 or 6 in others), and columns must line up in all.
    if match.group() in _JOINERS and joiner_in_context(match.string, match.start(), emoji=False):
        return match.group()
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every terminal control character replaced by its visible escape."""
    if text.isascii() and (text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable()):
        return text  # most text, lines of it too (a table of 45 jobs: 350 -> 40 us), and far faster than the search
    return _UNSAFE.sub(_shown, text)


def _json_escape(match: re.Match[str]) -> str:
    if match.group() in _JOINERS and joiner_in_context(match.string, match.start()):
        return match.group()
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: JSON's escape is the UTF-16 surrogate pair
    return f"\\u{0xd800 + (code >> 10):04x}\\u{0xdc00 + (code & 0x3ff):04x}"


def json_text(value: Any, pretty: bool = True) -> str:
    """``value`` as one JSON document: non-ASCII text as UTF-8 (``h\u00e9llo`` reads ``héllo``), every
    terminal control character escaped (JSON escapes C0 itself; the rest here), so the text is exact
    JSON and safe on a terminal. ``pretty``: indented for a person at a terminal; else one line (a
    file or a pipe: one document per line, as ``jq -c`` and JSON Lines)."""
    text = json.dumps(value, indent=2 if pretty else None, ensure_ascii=False, default=str)
    if text.isascii() and "\x7f" not in text:  # JSON escapes C0 but leaves DEL, the one ASCII control left
        return text
    return _UNSAFE.sub(_json_escape, text)


_LINE_BREAKS = re.compile("[\n\r]")


def visible_line(text: str) -> str:
    """``visible(text)`` for what must stay on one line (a log line, a table cell, a title):
    line breaks are shown as escapes too."""
    if text.isascii() and text.isprintable():  # no control character, no line break
        return text
    return _LINE_BREAKS.sub(_shown, visible(text))
