"""Results for people: tables for lists, aligned key/value records, local times, whole seconds.

Owns only the ``table`` format's look; ``json`` and ``raw`` stay exact (``output.py``).
Works on the answers' shapes, not on command names, so every command (on either engine)
gets the same treatment: a list of rows is a table, a mapping is a record, a mapping of
per-target mappings (``report_version all``) is a table with a ``target`` column.
Expanded (vertical) records replace a table that is wider than the terminal in ``auto``.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import time
from datetime import datetime
from enum import StrEnum
from typing import Any

from console.backends import nvflare_orphans as orphans
from console.durations import duration_seconds
from console.shell.cells import pad, wrap
from console.shell.cells import width as cells_of
from console.shell.metric_rows import metric_rows
from console.shell.safe_text import visible_line
from console.worded import for_people

#: Epochs from 2001 to 2286: a number in a ``*_time`` field in this range is a point in time.
_EPOCH_RANGE = (1e9, 1e10)
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?$")
_DURATION = re.compile(r"^(-?\d+ days?, )?\d+:\d\d:\d\d\.\d+$")
#: Servers (FLARE's report_resources) may answer a mapping as its Python text; read back as data
#: with ``ast.literal_eval`` (literals only, never code), and only when short.
_REPR_LIMIT = 4096


class Expanded(StrEnum):
    ON = "on"
    OFF = "off"
    AUTO = "auto"


@functools.lru_cache(maxsize=4096)  # a listing shows the same jobs' times again and again: 10 us each
def local_time(value: float | str) -> str:
    """An epoch or ISO-8601 time as local ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S") if stamp.tzinfo else stamp.strftime("%Y-%m-%d %H:%M:%S")
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def local_iso(value: str) -> str:
    """An ISO-8601 time as local ISO 8601 to the second (``2026-11-30T03:41:57+00:00``); a time without a zone
    as it is, to the second."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (stamp.astimezone() if stamp.tzinfo else stamp).isoformat(timespec="seconds")


# -- durations: one rule for every one the shell shows (tables, records, top, its details, menus) --
# Whole seconds elapsed, the fraction dropped (as a clock counts them), so a job's duration reads the
# same wherever it is shown: top's ELAPSED, the details pane, get_job_meta, a running job's "so far".
# Reading one (timedelta text or a number) is ``console.durations``, which the backends share.


def seconds(value: float) -> str:
    """A duration in seconds as ``H:MM:SS`` (``0:03:07``; hours past a day: ``26:03:04``), whole seconds
    elapsed: one shape for every duration, never a bare ``3:07`` that reads as hours."""
    whole = int(value)  # toward zero: 12.9 s have not made 13 yet
    sign = "-" if whole < 0 else ""
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def ago(elapsed: float) -> str:
    """How long ago, coarsely, in whole units elapsed: ``42s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    whole = max(0, int(elapsed))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit} ago"
    return f"{whole}s ago"


def _from_repr(text: str) -> Any:
    if len(text) > _REPR_LIMIT or not (text[:1] in "{[" and text[-1:] in "}]"):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def cell(key: str, value: Any) -> str:
    """One value as text, by what its key says it is."""
    if value is None:
        return ""
    if isinstance(value, str | int):  # (a bool is an int: ``typed`` keeps them apart; not floats: -0.0 == 0.0)
        return _scalar(key, value)
    return _cell(key, value)


@functools.lru_cache(maxsize=8192, typed=True)
def _scalar(key: str, value: str | int) -> str:
    """``_cell``, kept: a listing shows the same jobs' values again and again."""
    return _cell(key, value)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    low = key.lower()
    if isinstance(value, int | float):
        if low.endswith(("time", "_at", "heartbeat")) and _EPOCH_RANGE[0] <= value < _EPOCH_RANGE[1]:
            return local_time(value)
        if low.endswith("seconds") or low == "duration":
            return seconds(value)
        return f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    if isinstance(value, str):
        if _ISO.match(value):
            # A field named ISO (FLARE's submit_time_iso) stays ISO 8601: local, to the second.
            return local_iso(value) if low.endswith("_iso") else local_time(value)
        if (_DURATION.match(value) or low == "duration") and (elapsed := duration_seconds(value)) is not None:
            return seconds(elapsed)
        return visible_line(value)  # before widths are measured, so columns stay aligned
    if _is_notes(value):  # a table's cell of a job's errors (list_jobs -d): per target, time first
        return _notes_cell(value)
    if isinstance(value, list) and not value:
        return "(none)"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(cell(key, v) for v in value)
    # UTF-8 as it is (a metric named acc_très), as everywhere people read; visible_line escapes controls.
    return visible_line(json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str))


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    keys = tuple(columns)
    measured = [_measured_row(keys, row) for row in rows]
    cells = [r[0] for r in measured]
    sizes = [r[1] for r in measured]
    heads = [visible_line(str(col)) for col in columns]
    head_sizes = [cells_of(head) for head in heads]
    widths = [max(head_sizes[i], *(r[i] for r in sizes)) for i in range(len(heads))]
    lines = ["  ".join(head + " " * (w - n) for head, n, w in zip(heads, head_sizes, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    fitted = tuple(widths)
    lines += [_row_line(r, z, fitted) for r, z in zip(cells, sizes, strict=True)]
    return "\n".join(lines)


@functools.lru_cache(maxsize=4096)  # (text only: no values of other types that compare equal)
def _row_line(cells: tuple[str, ...], sizes: tuple[int, ...], widths: tuple[int, ...]) -> str:
    return "  ".join(c + " " * (w - n) for c, n, w in zip(cells, sizes, widths, strict=True)).rstrip()


def _measured_row(columns: tuple[str, ...], row: dict[str, Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """A row's cells and their widths, measured once (ljust pads by characters, so padding counts the cells'
    own widths); kept for a row of text values only, as equal values of other types (1, 1.0, True) must not
    share cells. With the rows' lines kept too (``_row_line``), FLARE's list_jobs of 45 jobs is tabled in
    210 -> 100 us, and rendered in all (``output.render``) in 600 -> 140 us (median of 7 x 200 and 15 x 50,
    at one real-time priority): on FLARE the worker renders it between FLARE's reply and the write."""
    values = tuple(row.get(col) for col in columns)
    if all(value is None or type(value) is str for value in values):
        return _text_row(columns, values)
    return _cells_of_row(columns, values)


@functools.lru_cache(maxsize=4096)
def _text_row(columns: tuple[str, ...], values: tuple[str | None, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    return _cells_of_row(columns, values)


def _cells_of_row(columns: tuple[str, ...], values: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    cells = tuple(cell(col, value) for col, value in zip(columns, values, strict=True))
    return cells, tuple(cells_of(c) for c in cells)


#: Cells a value wraps in beside its key at least; with less room it goes on the lines below its key.
MIN_VALUE_CELLS = 8


def _valued(head: str, value: str, width: int | None, under: str | None = None) -> list[str]:
    """``head`` then ``value``, the value wrapped to ``width`` cells under itself (after ``under`` on each
    next line: blanks as wide as ``head`` unless given), as a terminal would wrap it but aligned, never cut
    by the terminal at its margin (nor a word cut that fits a line: a job ID is copied whole); unwrapped for
    ``None``. With too little room beside the key (a nested record in a narrow window), the value goes on
    the lines below it, two cells in from where the head starts."""
    room = None if width is None else width - cells_of(head)
    if room is None or cells_of(value) <= room:
        return [f"{head}{value}".rstrip()]
    if room < MIN_VALUE_CELLS:
        below = " " * (cells_of(head) - cells_of(head.lstrip(" ")) + 2)
        return [head.rstrip(), *(below + part for part in wrap(value, max(width - cells_of(below), 1)))]
    under = " " * cells_of(head) if under is None else under
    return [(head if i == 0 else under) + part for i, part in enumerate(wrap(value, room))]


def _nested_rows(rows: list[dict[str, Any]], indent: str, width: int | None, mode: Expanded) -> list[str]:
    """Rows inside a record, as the top level's: a table, expanded when asked or (``auto``) too wide."""
    room = None if width is None else width - cells_of(indent)
    text = table(rows)
    if mode is Expanded.ON or (mode is Expanded.AUTO and room is not None
                               and max(cells_of(line) for line in text.splitlines()) > room):
        text = expanded(rows, room)
    return [indent + line for line in text.splitlines()]


#: Error lists and the times beside them (get_job_meta's ``job_errors``/``job_error_times``, a show_errors
#: target's ``errors``/``error_times``: ``console.server.job_errors``), shown as one list of timed notes.
_TIMED = {"job_errors": "job_error_times", "errors": "error_times"}


def stamped_notes(messages: Any, times: Any) -> Any:
    """``messages`` (a list, or a mapping of lists) with each one's local time before it, one per line."""
    if isinstance(messages, dict) and isinstance(times, dict):
        return {target: stamped_notes(m, times.get(target)) for target, m in messages.items()}
    if not isinstance(messages, list):
        return messages
    stamps = times if isinstance(times, list) else []
    return _Notes(f"{local_time(stamps[i])}  {m}" if i < len(stamps) and isinstance(stamps[i], str)
                  and _ISO.match(stamps[i]) else str(m) for i, m in enumerate(messages))


class _Notes(list[str]):
    """Notes a record shows one per line (a message may hold commas: joined, they ran together)."""


def _is_notes(value: Any) -> bool:
    """Timed notes (``stamped_notes``): one list, or a mapping of them per target (``job_errors``)."""
    return (isinstance(value, _Notes) and bool(value)) or (
        isinstance(value, dict) and bool(value) and all(isinstance(v, _Notes) for v in value.values()))


def notes_block(notes: _Notes | dict[str, _Notes], head: str, width: int | None, under: str | None = None) -> list[str]:
    """Timed notes as get_job_meta shows them, after ``head`` (its next lines after ``under``, blanks as wide as
    ``head`` unless given): per target its name (padded to the longest), then each note, its time first, one a
    line under the first. The one look of a job's errors in a record and in ``list_jobs -d``'s rows."""
    under = " " * cells_of(head) if under is None else under
    if isinstance(notes, dict):
        names = {target: visible_line(str(target)) for target in notes}
        name_width = max(cells_of(name) for name in names.values())
        targets = [(f"{pad(names[t], name_width)}  ", n) for t, n in notes.items() if n]
    else:
        targets = [("", notes)]
    lines: list[str] = []
    for name, target_notes in targets:
        for at, note in enumerate(target_notes):
            first = head if not lines else under
            lead = name if at == 0 else " " * cells_of(name)
            lines += _valued(first + lead, visible_line(note), width, under + " " * cells_of(lead))
    return lines or [head.rstrip() + " (none)"]


def _notes_cell(notes: _Notes | dict[str, _Notes]) -> str:
    """Timed notes on one line (a table's cell): ``target: time  note; target: time  note``."""
    if isinstance(notes, dict):
        return "; ".join(f"{visible_line(str(t))}: {visible_line(note)}" for t, n in notes.items() for note in n)
    return "; ".join(visible_line(note) for note in notes)


def _with_times(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each error list and its times (``_TIMED``) as one list of timed notes."""
    if not any(key in data and times in data for key, times in _TIMED.items()):
        return data
    timed_keys = {times for key, times in _TIMED.items() if key in data}
    return {key: stamped_notes(value, data.get(_TIMED[key])) if key in _TIMED else value
            for key, value in data.items() if key not in timed_keys}


def record(data: dict[str, Any], indent: str = "", width: int | None = None,
           mode: Expanded = Expanded.AUTO) -> str:
    """Aligned ``key  value`` lines; nested mappings indented under their key, rows as a table.
    ``width``: the terminal's, in cells; a longer value wraps under itself (None: never wrapped)."""
    if not data:
        return f"{indent}(empty)"
    data = _with_times(data)
    keys = {key: visible_line(str(key)) for key in data}
    key_width = max(cells_of(shown) for shown in keys.values())
    lines = []
    for key, value in data.items():
        value = _from_repr(value) if isinstance(value, str) else value
        if isinstance(value, dict) and _is_notes(value):  # job_errors: per target, each note after its time
            lines += [f"{indent}{keys[key]}:", *notes_block(value, indent + "  ", width)]
        elif isinstance(value, dict) and value:
            lines += [f"{indent}{keys[key]}:", record(value, indent + "  ", width, mode)]
        elif (rows := metric_rows(value)) is not None:  # round_metrics: a column per metric, 4 digits
            lines += [f"{indent}{keys[key]}:", *_nested_rows(rows, indent + "  ", width, mode)]
        elif _is_rows(value):
            lines += [f"{indent}{keys[key]}:", *_nested_rows(value, indent + "  ", width, mode)]
        elif _is_notes(value):
            lines += notes_block(value, f"{indent}{pad(keys[key], key_width)}  ", width)
        else:
            lines += _valued(f"{indent}{pad(keys[key], key_width)}  ", cell(str(key), value), width)
    return "\n".join(lines)


def one_line(result: Any) -> str:
    """An answer on one line, as its record reads (``job_id X, submit_records_marked_deleted 0``): for a
    background line above the prompt (a late command's outcome), where a table would break the line.
    Nested records and lists stand in parentheses."""
    if isinstance(result, dict):
        return ", ".join(f"{key} {_nested(str(key), value)}" for key, value in result.items()) or "(empty)"
    if isinstance(result, list):
        return "; ".join(_nested("", item) for item in result) or "(none)"
    return visible_line(result) if isinstance(result, str) else cell("", result)


def in_words(command: str, result: Any) -> str | None:
    """An action's answer that is only its record, said as a sentence; None for any other answer.

    ``delete_job`` (FLARE 2.9's and ours: ``{"job_id", "submit_records_marked_deleted"}``) read
    ``submit_records_marked_deleted  0`` as a record; ``set_timeout``/``unset_timeout`` (both engines:
    ``{"command_timeout": seconds or None}``) say what is in force. Only that exact shape is put in words, so no
    field of another answer is lost."""
    if (command == "delete_job" and isinstance(result, dict) and isinstance(result.get("job_id"), str)
            and set(result) <= {"job_id", "submit_records_marked_deleted"}):
        marked = result.get("submit_records_marked_deleted")
        kept = (f"; its {marked} submit record{'s' if marked != 1 else ''} (what a submit token made) kept, "
                "marked deleted" if isinstance(marked, int) and marked > 0 else "")
        return visible_line(f"Deleted job {result['job_id']}{kept}")
    if command in ("set_timeout", "unset_timeout") and isinstance(result, dict) and set(result) == {"command_timeout"}:
        value = result["command_timeout"]
        if value is None:
            return "command timeout of this session: the server's default"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"command timeout of this session: {value:g} s"
    return None


def _nested(key: str, value: Any) -> str:
    if isinstance(value, dict | list) and value:
        return f"({one_line(value)})"
    return cell(key, value)


def expanded(rows: list[dict[str, Any]], width: int | None = None) -> str:
    """Each row as a vertical record, pgcli's ``\\x`` style; a value longer than ``width`` cells
    wraps under itself after a ``|`` (None: never wrapped)."""
    out = []
    for number, row in enumerate(rows, 1):
        head = f"-[ RECORD {number} ]"
        out.append(head + "-" * (24 if width is None else max(0, min(24, width - len(head)))))
        keys = {k: visible_line(str(k)) for k in row}
        key_width = max((cells_of(shown) for shown in keys.values()), default=0)
        for k, v in row.items():
            if _is_notes(v):  # list_jobs -d: a job's errors as get_job_meta shows them
                out += notes_block(v, f"{pad(keys[k], key_width)} | ", width, f"{' ' * key_width} | ")
                continue
            out += _valued(f"{pad(keys[k], key_width)} | ", cell(str(k), v), width, f"{' ' * key_width} | ")
    return "\n".join(out) or "(none)"


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def _per_target(result: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``{target: {k: scalar}}`` with several targets (report_version all) as rows with a target column."""
    if len(result) < 2:
        return None
    values = {k: _from_repr(v) if isinstance(v, str) else v for k, v in result.items()}
    if not all(isinstance(v, dict) and v and all(not isinstance(x, dict | list) for x in v.values())
               for v in values.values()):
        return None
    return [{"target": target, **inner} for target, inner in values.items()]


#: check_status server's ``server_status`` (FLARE 2.9's, and ours as FLARE's): whether the server's engine runs
#: a job, not whether the server runs. fl_admin.sh labels it "Engine status".
_ENGINE_STATUS = {"started": "started (jobs run on the server)", "stopped": "stopped (no job runs on the server)"}


def _engine_status(result: dict[str, Any]) -> dict[str, Any]:
    """``server_status`` started/stopped as FLARE's words say it (engine status), for people only: the
    JSON and raw formats and the Python API keep FLARE's key and value."""
    if result.get("server_status") not in _ENGINE_STATUS or "server_start_time" not in result:
        return result
    return {("engine_status" if k == "server_status" else k): (_ENGINE_STATUS[v] if k == "server_status" else v)
            for k, v in result.items()}


def human(result: Any, width: int = 80, mode: Expanded = Expanded.AUTO, fold: bool = True) -> str:
    """The ``table`` format of any answer; ``width`` is the terminal's, in cells, for ``auto``; with
    ``fold`` a record's values longer than the line wrap under themselves (not for a file or a pipe)."""
    room = width if fold else None
    result = for_people(result)
    if isinstance(result, dict):
        result = _engine_status(result)
    if isinstance(result, str):  # file text (cat, tail): its last newline is the print's own
        return result.removesuffix("\n")
    if isinstance(result, dict) and len(result) == 1:
        (inner,) = result.values()  # e.g. {"client_status": [rows]}: the rows are the answer
        if _is_rows(inner):
            result = inner
    if isinstance(result, dict):
        rows = _per_target(result)
        if rows is None:
            return record(result, width=room, mode=mode)
        result = rows
    if _is_rows(result):
        result = [_with_times(orphans.in_words(row)) for row in result]  # (list_jobs -d: each job's errors timed)
        if mode is Expanded.ON:
            return expanded(result, room)
        text = table(result)
        if mode is Expanded.AUTO and max(cells_of(line) for line in text.splitlines()) > width:
            return expanded(result, room)
        return text
    if isinstance(result, list):
        return "\n".join(cell("", item) for item in result) or "(none)"
    return cell("", result)


def has_table(result: Any) -> bool:
    """The answer shows (as ``human`` renders it) a table of rows, at the top or in a record."""
    if _is_rows(result):
        return True
    if isinstance(result, dict):
        return any(_is_rows(v) or (isinstance(v, dict) and has_table(v)) for v in result.values())
    return False
