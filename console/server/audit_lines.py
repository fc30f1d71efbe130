"""One audit-trail line: each value cut, the whole bounded, JSON that what it quotes cannot forge.

Pure functions used by ``console.server.audit`` (which owns the file and each identity's share of
it): ``cut`` bounds a value (texts, lists, objects, nesting), ``args_field`` a command's arguments
as a whole (their JSON cut once, in C, when longer than a line), ``bounded_line`` a record to at
most ``MAX_LINE`` bytes (longest fields cut first, ``cut`` naming each with its size). JSON with
``ensure_ascii`` escapes newlines, every control character and everything not ASCII (U+2028
too), so one record is always one line. ``compact`` is a change's line past its identity's allowance.
Touches no file.
"""

from __future__ import annotations

import json
from typing import Any

#: Longest text kept of one argument value or error; longest list; most keys of an object.
MAX_TEXT = 256
MAX_ITEMS = 20
#: Longest line (bytes, newline excluded): what any one request can add; a field cut to fit keeps
#: this many characters of its JSON.
MAX_LINE = 4096
CUT_FIELD_CHARS = 1024


def cut_text(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit} chars)"


def cut(value: Any, depth: int = 0) -> Any:
    """``value`` with every text cut to ``MAX_TEXT`` characters, lists and objects to ``MAX_ITEMS``
    entries, nesting to 3 levels: what one hostile request can put in a line is bounded."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return cut_text(value)
    if depth >= 3:
        return cut_text(json.dumps(value, default=str))
    if isinstance(value, list | tuple):
        items = [cut(v, depth + 1) for v in value[:MAX_ITEMS]]
        return items + [f"...(+{len(value) - MAX_ITEMS} more)"] if len(value) > MAX_ITEMS else items
    if isinstance(value, dict):
        kept = {cut_text(str(k), 64): cut(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
        if len(value) > MAX_ITEMS:
            kept["..."] = f"+{len(value) - MAX_ITEMS} more"
        return kept
    return cut_text(repr(value))


def _json_bytes(value: Any) -> int:
    """Size of ``value`` as JSON in UTF-8, as a peer would have sent it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "replace"))


def args_field(args: Any) -> dict[str, Any]:
    """A command line's ``args``: each value cut (:func:`cut`), or, when the arguments as sent are
    longer than a line, their JSON cut as a whole, with ``cut`` giving their size. Serialized
    once, in C: a megabyte of nested arguments costs milliseconds, not a walk of every value."""
    text = json.dumps(args, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= MAX_LINE // 2:  # characters: a bound on what ``cut`` can make of it
        return {"args": cut(args)}
    size = len(text.encode("utf-8", "replace"))
    if size <= MAX_LINE:
        return {"args": cut(args)}
    kept = text[:CUT_FIELD_CHARS]
    while len(json.dumps(kept)) > CUT_FIELD_CHARS * 2:  # escaped (non-ASCII: 6 characters each), it fits a line
        kept = kept[: len(kept) // 2]
    return {"args": f"{kept}...(cut)", "cut": {"args": size}}


#: Fields a line always keeps whole (all short and made here).
_WHOLE = frozenset({"time", "event", "kind", "outcome", "cut"})


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=True, separators=(", ", ": "), default=str)


def bounded_line(record: dict[str, Any], limit: int = MAX_LINE) -> str:
    """``record`` as one JSON line of at most ``limit`` bytes: past it, the longest fields are
    replaced, one at a time, by the first ``CUT_FIELD_CHARS`` characters of their JSON, and ``cut``
    maps each to its size before (bytes of JSON; ``args`` come cut already, with their size as sent)."""
    line = _dump(record)
    if len(line) <= limit:
        return line
    record = dict(record)
    sizes: dict[str, int] = dict(record.get("cut") or {})
    names = sorted((k for k in record if k not in _WHOLE), key=lambda k: -len(_dump({k: record[k]})))
    for keep in (CUT_FIELD_CHARS, 128):
        for name in names:
            text = str(record[name]) if name in sizes else json.dumps(record[name], ensure_ascii=True, default=str)
            if len(text) <= keep:
                continue
            sizes.setdefault(name, _json_bytes(record[name]))
            record[name] = f"{text[:keep]}...(cut)"
            record["cut"] = sizes
            line = _dump(record)
            if len(line) <= limit:
                return line
    # Unreachable with the fields this module writes; a line is bounded whatever comes.
    return _dump({k: record[k] for k in ("time", "event", "kind") if k in record} | {"cut": sizes})


#: What a compact change line keeps of the full one, and of its arguments.
COMPACT_FIELDS = ("time", "event", "kind", "user", "org", "role", "command", "job_id", "new_job_id", "outcome")
COMPACT_ARGS = ("site", "targets", "target_type")


def compact(record: dict[str, Any]) -> dict[str, Any]:
    """A change's line past its identity's allowance: who, the command, its job or site, no more."""
    kept = {k: record[k] for k in COMPACT_FIELDS if k in record}
    args = record.get("args")
    if isinstance(args, dict):
        shown = {k: args[k] for k in COMPACT_ARGS if k in args}
        if shown:
            kept["args"] = shown
    kept["compact"] = True
    return kept
