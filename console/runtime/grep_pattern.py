"""grep's pattern rules, as GNU grep takes a pattern: a basic regular expression (BRE) unless -E or -F.

NVIDIA FLARE's ``grep`` runs the system's GNU grep on the server or a site (FLARE 2.9's
``execute_command_directly``, options ``-n -i -b`` only), so a pattern means there what it means to
GNU grep: ``(``, ``)``, ``{``, ``}``, ``|``, ``+`` and ``?`` are literal characters, ``\\(...\\)`` groups,
``\\{m,n\\}`` repeats, ``\\|``, ``\\+`` and ``\\?`` are GNU's operators. Our engine's grep matches with
Python's ``re``: ``bre_to_python`` gives it the same pattern in Python's syntax, so that the same
pattern finds the same lines on both engines; an invalid pattern gets GNU grep's words.
Owns only the translation (pure); the matching stays in ``target_commands``.
"""

from __future__ import annotations

import re

#: POSIX character classes inside a bracket expression, as Python character-set text.
_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "xdigit": "0-9A-Fa-f", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
#: GNU's backslash letters (outside brackets) and what they are in Python.
_GNU_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B",
                "<": r"\b(?=\w)", ">": r"\b(?<=\w)", "`": r"\A", "'": r"\Z"}


class PatternError(ValueError):
    """A pattern GNU grep refuses; the message is GNU grep's (after ``grep: ``)."""


def bre_to_python(pattern: str) -> str:
    """GNU grep's basic regular expression ``pattern`` as Python ``re`` source matching the same lines.
    Raises PatternError with GNU grep's words ("Unmatched ( or \\(", "Trailing backslash", ...)."""
    out: list[str] = []
    groups = 0  # groups opened so far (for back references)
    open_groups = 0
    at_start = True  # where ``*`` is literal and ``^`` is an anchor: the start, after \( or \|
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise PatternError("Trailing backslash")
            nxt = pattern[i + 1]
            i += 2
            if nxt == "(":
                groups += 1
                open_groups += 1
                out.append("(")
                at_start = True
                continue
            if nxt == ")":
                if not open_groups:
                    raise PatternError("Unmatched ) or \\)")
                open_groups -= 1
                out.append(")")
            elif nxt == "|":
                out.append("|")
                at_start = True
                continue
            elif nxt in "+?":
                out.append(_repeat(nxt, out) if not at_start else re.escape(nxt))
            elif nxt == "{":
                i = _interval(pattern, i, out, at_start)
            elif nxt.isdigit() and nxt != "0":
                if int(nxt) > groups:
                    raise PatternError("Invalid back reference")
                out.append(f"(?:\\{nxt})")
            elif nxt in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[nxt])
            else:  # \. \* \[ \] \^ \$ \\ and any other character: itself
                out.append(re.escape(nxt))
            at_start = False
            continue
        if char == "[":
            i = _bracket(pattern, i, out)
        elif char == "*":
            out.append(_repeat("*", out) if not at_start else re.escape("*"))
            i += 1
        elif char == "^":
            out.append("^" if at_start else re.escape("^"))
            i += 1
            if at_start:
                continue  # ``^*``: the star is still literal
        elif char == "$":
            rest = pattern[i + 1:]
            out.append("$" if not rest or rest.startswith(("\\)", "\\|")) else re.escape("$"))
            i += 1
        elif char == ".":
            out.append(".")
            i += 1
        else:  # ( ) { } | + ? and every other character: itself
            out.append(re.escape(char))
            i += 1
        at_start = False
    if open_groups:
        raise PatternError("Unmatched ( or \\(")
    return "".join(out)


def _interval(pattern: str, i: int, out: list[str], at_start: bool) -> int:
    """``\\{m,n\\}`` from ``i`` (after ``\\{``) appended as Python's ``{m,n}``; the index after it."""
    if at_start or not out:  # nothing to repeat: GNU takes the brace as itself
        out.append(re.escape("{"))
        return i
    end = pattern.find("\\}", i)
    if end < 0:
        raise PatternError("Unmatched \\{")
    body = pattern[i:end]
    found = re.fullmatch(r"(\d*)(,(\d*))?", body)
    if found is None or (found[1] == "" and found[2] is None):
        raise PatternError("Invalid content of \\{\\}")
    low, high = found[1], found[3]
    if low and high and int(low) > int(high):
        raise PatternError("Invalid content of \\{\\}")
    out.append(_repeat("{" + (low or "0") + (found[2] or "") + "}", out))
    return end + 2


def _repeat(quantifier: str, out: list[str]) -> str:
    """``quantifier`` for what ``out`` ends with. On a repeat already (GNU takes ``a**``, Python refuses it) the
    repeated atom and its quantifier are grouped first (``(?:a*)*``), meaning what GNU's does."""
    if len(out) >= 2 and _QUANTIFIED.fullmatch(out[-1]):
        start = len(out) - 2
        if out[start] == ")":  # the atom is a group: back to its "(" (group tokens are exactly these)
            depth = 0
            while start >= 0:
                depth += {")": 1, "(": -1}.get(out[start], 0)
                if depth == 0:
                    break
                start -= 1
        out[start:] = [f"(?:{''.join(out[start:])})"]
    return quantifier


_QUANTIFIED = re.compile(r"\*|\+|\?|\{\d*,?\d*\}")


def _bracket(pattern: str, i: int, out: list[str]) -> int:
    """A bracket expression from ``i`` (at ``[``) appended as a Python set; the index after its ``]``.
    In it a backslash is itself, a ``]`` first is itself, ``[:class:]`` is a POSIX class."""
    j = i + 1
    negate = j < len(pattern) and pattern[j] == "^"
    if negate:
        j += 1
    parts: list[str] = []
    first = True
    while True:
        if j >= len(pattern):
            raise PatternError("Unmatched [, [^, [:, [., or [=")
        char = pattern[j]
        if char == "]" and not first:
            break
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            if end < 0:
                raise PatternError("Unmatched [, [^, [:, [., or [=")
            name = pattern[j + 2:end]
            if name not in _CLASSES:
                raise PatternError("Invalid character class name")
            parts.append(_CLASSES[name])
            j = end + 2
        elif pattern.startswith(("[.", "[="), j):
            end = pattern.find(pattern[j + 1] + "]", j + 2)
            if end < 0:
                raise PatternError("Unmatched [, [^, [:, [., or [=")
            parts.append(re.escape(pattern[j + 2:end]))
            j = end + 2
        elif char == "-" and not first and j + 1 < len(pattern) and pattern[j + 1] != "]":
            parts.append("-")
            j += 1
        else:
            parts.append(re.escape(char) if char != "-" else r"\-")
            j += 1
        first = False
    out.append("[" + ("^" if negate else "") + "".join(parts) + "]")
    return j + 1
