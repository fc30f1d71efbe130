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

# Every character of Unicode's categories Cc (C0 and C1 controls, DEL), Cf (format: bidi marks,
# embeddings, overrides and isolates, zero-width space and joiners, word joiner, BOM, soft hyphen,
# invisible operators, tag characters), Cs (a lone surrogate) and Zl/Zp (line and paragraph
# separators), as of Unicode 15, except tab and newline (and a carriage return that ends a line,
# as in a Windows log: alone it would let text overwrite what the line showed). Then the other
# default-ignorable characters a terminal draws as nothing: the combining grapheme joiner, Hangul
# fillers, Khmer inherent vowels, Mongolian variation selectors and the variation selectors
# supplement (emoji's U+FE0F stays: it changes how a visible character looks). A test checks the
# list against the running Python's Unicode database.
_UNSAFE = re.compile(
    "\r(?!\n)|["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\uffa0\U000e0100-\U000e01ef"
    "]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every terminal control character replaced by its visible escape."""
    if text.isascii() and text.isprintable():  # most text, and 20x faster than the search
        return text
    return _UNSAFE.sub(_shown, text)


def _json_escape(match: re.Match[str]) -> str:
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
    if text.isascii():
        return text
    return _UNSAFE.sub(_json_escape, text)


_LINE_BREAKS = re.compile("[\n\r]")


def visible_line(text: str) -> str:
    """``visible(text)`` for what must stay on one line (a log line, a table cell, a title):
    line breaks are shown as escapes too."""
    if text.isascii() and text.isprintable():  # no control character, no line break
        return text
    return _LINE_BREAKS.sub(_shown, visible(text))
