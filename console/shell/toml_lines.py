"""Rewriting one top-level setting of a TOML file in place, the way a person would by hand.

Owns the text edit behind ``ShellConfig.remember``: the setting's line gets the new value and keeps
everything else a person wrote on it (indentation, the key's spelling, the blanks around ``=``, a
trailing ``# comment`` and the blanks before it); every other line is left byte for byte. Must not
read the settings' meaning (``console.shell.config`` does) nor touch files.
"""

from __future__ import annotations

import re

#: A table header (``[name]`` or ``[[name]]``) ends the top level: keys after it belong to that table.
_TABLE = re.compile(r"^[ \t]*\[")


def _setting(key: str) -> re.Pattern[str]:
    """``key = value`` at a line's start, the key bare or quoted (TOML allows ``"theme" = ...``)."""
    spelled = "|".join(re.escape(k) for k in (key, f'"{key}"', f"'{key}'"))
    return re.compile(rf"^(?P<lead>[ \t]*(?:{spelled})[ \t]*=[ \t]*)(?P<value>.*)$")


def _value_end(text: str) -> int | None:
    """Where the value that opens ``text`` ends (a one-line string, or a bare word such as ``true``);
    None for a value that may go on past this line (a multi-line string, an array, an inline table),
    which is then not kept apart from what follows."""
    if text.startswith(('"""', "'''", "[", "{")):
        return None
    if text.startswith('"'):
        i = 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        return None
    if text.startswith("'"):
        end = text.find("'", 1)
        return None if end < 0 else end + 1
    match = re.match(r"[^ \t#]*", text)
    return match.end() if match else 0


def _kept_tail(value_text: str) -> str:
    """What follows the value on its line and is kept: blanks then a ``#`` comment, else nothing."""
    end = _value_end(value_text)
    if end is None:
        return ""
    tail = value_text[end:]
    return tail if tail.lstrip(" \t").startswith("#") else ""


def set_top_level(text: str, key: str, literal: str) -> str:
    """``text`` with top-level ``key`` set to the TOML ``literal`` (already written as TOML): its first
    line rewritten with what else was on it kept, or, when the key is absent, a line added at the end
    of the top level (before the first table, so the key does not land inside that table)."""
    # Split at "\n" only: str.splitlines also splits at U+0085, U+2028 and others, which a TOML string
    # or comment holds as they are.
    lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text)
    pattern = _setting(key)
    top_end = len(lines)
    for i, line in enumerate(lines):
        if _TABLE.match(line):
            top_end = i
            break
        body = line.rstrip("\r\n")
        match = pattern.match(body)
        if match:
            ending = line[len(body):]
            lines[i] = f"{match['lead']}{literal}{_kept_tail(match['value'])}{ending}"
            return "".join(lines)
    new = f"{key} = {literal}\n"
    if top_end == len(lines):
        return text.rstrip("\n") + "\n" + new if text.strip() else new
    head = "".join(lines[:top_end])
    head = head.rstrip("\n") + "\n" + new + "\n" if head.strip() else new + "\n"
    return head + "".join(lines[top_end:])
