"""Text from the server or a site, made safe for a terminal.

A job name, a log line or an error message can hold escape sequences (set the window title,
write the clipboard with OSC 52, clear the screen) or bidi overrides that reorder what the
admin reads. Every such character is shown visibly, as its Python escape (``\\x1b``,
``\\u202e``), so nothing reaches the terminal raw and the admin still sees that it was there.
Newlines and tabs are kept. ``--format json`` never comes here: ``json.dumps`` escapes them
already, so machine output stays exact.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline (and a carriage return that ends a line, as in a Windows log:
# alone it would let text overwrite what the line showed), DEL, C1 controls, line and paragraph
# separators, bidi marks, embeddings, overrides and isolates.
_UNSAFE = re.compile("\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every terminal control character replaced by its visible escape."""
    return _UNSAFE.sub(_shown, text)


_LINE_BREAKS = re.compile("[\n\r]")


def visible_line(text: str) -> str:
    """``visible(text)`` for what must stay on one line (a log line, a table cell, a title):
    line breaks are shown as escapes too."""
    return _LINE_BREAKS.sub(_shown, visible(text))
