"""How a command line splits into words, and how a word is written so that it reads back the same.

The rules are a POSIX shell's, as ``shlex`` (posix) reads them, so what a user knows from bash
works: blanks separate words; ``'...'`` keeps everything literally; ``"..."`` too, except that
``\\"`` and ``\\\\`` stand for ``"`` and ``\\``; outside quotes a backslash makes the next
character literal (``/tmp/my\\ jobs``), and a backslash before a line end joins the lines (both go,
in ``"..."`` too). One difference from ``shlex``: a ``#`` starts a comment
only at the start of a word, as in bash, so ``/tmp/a#b`` is a path, not ``/tmp/a``.

Completion reads the line being typed with the same rules (``scan``: an open quote or a
trailing backslash is allowed there) and writes what it inserts with ``quote``, so a folder
named ``bu7 dir`` is inserted as ``bu7\\ dir/`` and Enter reads it back as that folder.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What separates words (``shlex``'s whitespace).
BLANKS = " \t\r\n"
#: Characters that change how a line is read when unquoted: blanks, quotes, the backslash, a comment,
#: and the shell's own ``;`` (next command), ``|`` and ``>`` (where the output goes).
SPECIAL = frozenset(BLANKS + "\\'\"#;|>")


@dataclass(frozen=True)
class Word:
    start: int  # offset of its first character in the scanned text
    end: int  # offset after its last character
    raw: str  # as typed: quotes and backslashes included
    value: str  # as the command reads it
    open: str = ""  # what is left open at the end of the text: "'", '"' or "\\" (a trailing backslash)


@dataclass(frozen=True)
class Scan:
    words: list[Word]
    comment: bool = False  # the text ends inside a comment


def scan(text: str, *, commands: bool = False) -> Scan:
    """The words of ``text``; with ``commands``, an unquoted ``;`` ends a command and only the last
    command's words are returned (offsets still into ``text``). Never raises: an unclosed quote or
    a trailing backslash is reported in the last word's ``open``."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in BLANKS:
            i += 1
            continue
        if char == "#":
            return Scan(words, True)
        if commands and char == ";":
            words = []
            i += 1
            continue
        start, value, quote = i, [], ""
        content = False  # a quote or a character: a word of line continuations alone is no word
        while i < n:
            char = text[i]
            if quote == "'":
                if char == "'":
                    quote = ""
                else:
                    value.append(char)
            elif quote == '"':
                if char == '"':
                    quote = ""
                elif char == "\\" and i + 1 < n and text[i + 1] == "\n":
                    i += 1  # a line continuation: both go
                elif char == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    i += 1
                    value.append(text[i])
                elif char == "\\" and i + 1 == n:
                    pass  # an escape being typed inside the quotes
                else:
                    value.append(char)
            elif char in BLANKS or (commands and char == ";"):
                break
            elif char in "'\"":
                quote = char
                content = True
            elif char == "\\":
                if i + 1 == n:
                    quote = "\\"
                elif text[i + 1] == "\n":
                    i += 1  # a line continuation (backslash, line end): both go, as in bash
                else:
                    i += 1
                    value.append(text[i])
                    content = True
            else:
                value.append(char)
                content = True
            i += 1
        if content or quote:
            words.append(Word(start, i, text[start:i], "".join(value), quote))
    return Scan(words, False)


def split(text: str) -> list[str]:
    """The words of one command line, as the command reads them.

    Raises ``ValueError`` for an unclosed quote or a trailing backslash (as ``shlex.split`` does).
    """
    words = scan(text).words
    if words and words[-1].open:
        raise ValueError("No escaped character" if words[-1].open == "\\" else "No closing quotation")
    return [word.value for word in words]


def quote(value: str, like: str = "") -> str | None:
    """``value`` written as one word that ``split`` reads back as ``value``, in the style of ``like``
    (what was typed: a word opened with ``'`` or ``"`` stays quoted that way, closed; otherwise special
    characters get a backslash, as bash completes). None for a value no line can hold (a line break)."""
    if any(c in "\r\n" for c in value):
        return None
    if like.startswith("'") or not value:  # an empty word only exists quoted
        return "'" + value.replace("'", "'\\''") + "'"
    if like.startswith('"'):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if SPECIAL.isdisjoint(value):  # job IDs, site names, most paths: as they are, at C speed
        return value
    return "".join("\\" + c if c in SPECIAL else c for c in value)


__all__ = ["BLANKS", "SPECIAL", "Scan", "Word", "quote", "scan", "split"]
