"""JSON from outside (a job folder, a frame, a child process's line), parsed without surprises.

``json.loads`` fails in ways that are not ``json.JSONDecodeError``: 30,000 nested ``[`` raise
RecursionError, a 5,000-digit integer raises a plain ValueError (Python's 4300-digit limit on
int parsing). A caller that catches only JSONDecodeError turns these into an internal error.
``json.loads`` also takes ``NaN``, ``Infinity`` and ``-Infinity`` (and ``1e999``, which becomes
infinity), which are not JSON: every encoder of ours refuses to send them (``allow_nan=False``),
so a value read with one in it could never be answered with, and its asker would wait.
``loads`` turns every way the text can be bad into one ``UnreadableJSON`` whose message says
what was wrong, so each caller maps it to its own refusal (InvalidJobDefinition, a protocol error).
It must not touch anything but parsing.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from typing import Any


class UnreadableJSON(ValueError):
    """The text is not JSON this project reads; ``str()`` says why (with line and column if known)."""


def _no_constant(name: str) -> float:
    raise UnreadableJSON(f"{name} is not JSON: numbers must be finite")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnreadableJSON(f"the number {text[:40]} is out of range: numbers must be finite")
    return value


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads(data)``; UnreadableJSON for anything that is not JSON (``NaN`` and
    ``Infinity`` included, and numbers that overflow to infinity), nested deeper than the
    interpreter's recursion limit (the C parser checks it, so this never crashes), or holding an
    integer too long for Python to parse."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableJSON("it is not UTF-8 text") from None
    with _unreadable():
        return _DECODER.decode(data)


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def decode_at(text: str, at: int) -> tuple[Any, int]:
    """The one JSON value that starts at ``text[at]`` (no blank before it) and the index just past it,
    by ``loads``'s rules (a reader of a stream takes one value at a time: ``console.wire.json_rows``).
    UnreadableJSON for a value that is not JSON, or not whole yet."""
    with _unreadable():
        return _DECODER.raw_decode(text, at)


@contextlib.contextmanager
def _unreadable() -> Iterator[None]:
    """Every way the parser can fail, as one UnreadableJSON saying why."""
    try:
        yield
    except UnreadableJSON:
        raise
    except json.JSONDecodeError as exc:
        raise UnreadableJSON(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise UnreadableJSON("it nests arrays or objects too deeply") from None
    except ValueError as exc:  # int() of more than sys.get_int_max_str_digits() digits
        raise UnreadableJSON(f"a number in it cannot be read: {exc}") from None
