"""Size limits on everything a job's code hands to the system, and how they are enforced.

Job code (a controller, an executor) is the submitter's code: what it emits is bounded
before the server or a site holds it. Limits (documented in docs/protocol.md):

- a result model: ``max_result_bytes`` (server config args) of array bytes; without it,
  ``RESULT_GROWTH_FACTOR`` times the task's model file, at least ``RESULT_FLOOR_BYTES``, at
  most 4 GiB (``expected_result_bytes``): checked by the executor's process before writing,
  by the site before sending and by the server as soon as the site announces its size;
- a task's metrics: 16 KiB of JSON, nested at most ``MAX_METRICS_DEPTH`` (32) levels; a progress
  event's data: 64 KiB of JSON, nested at most two levels more (its metrics per site);
- what the server records of a job's metrics in its meta (``round_metrics``): a round's entry
  at most ``MAX_ROUND_METRICS_BYTES`` of JSON (past it the per-site part is kept out, then the
  round), a job's rounds together at most ``MAX_JOB_METRICS_BYTES`` (later rounds kept out); each
  refusal of a kind is one entry in the job's errors (``console.server.round_metrics``);
- an error message: cut at 4 KiB; a job keeps at most 100 error entries per participant;
- a log line printed by job code: cut at 16 KiB;
- any one control line from a job process: 256 KiB. A process that sends a longer line is
  stopped and its job ends ``FINISHED:EXECUTION_EXCEPTION`` with the reason in its errors.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

DEFAULT_MAX_RESULT_BYTES = 4 << 30
#: Without a ``max_result_bytes`` of the job's, a result may be this many times the model file its
#: task sent (a float32 model returned as float64 is twice it; FedAvg wants the same arrays back).
RESULT_GROWTH_FACTOR = 4
#: ... and at least this much, so that a job sending a tiny model may still get a real one back.
RESULT_FLOOR_BYTES = 64 << 20
#: Room for a result file's header and padding on top of its arrays' bytes, at most.
MODEL_HEADER_ALLOWANCE = 16 << 20
#: How a task's result limit is set, for the errors that name it.
RESULT_LIMIT_RULE = (f"max_result_bytes in the workflow args, else {RESULT_GROWTH_FACTOR} x the model file the task "
                     f"sent, at least {RESULT_FLOOR_BYTES >> 20} MiB")
MAX_METRICS_BYTES = 16 << 10
MAX_PROGRESS_BYTES = 64 << 10
#: Levels of objects and arrays in a task's metrics (``{"loss": 0.1}`` is one): deeper ones print
#: as megabytes of indentation, and past the interpreter's recursion limit no parser reads them.
MAX_METRICS_DEPTH = 32
#: ... and in a progress event's data, whose ``metrics`` hold each site's metrics.
MAX_PROGRESS_DEPTH = MAX_METRICS_DEPTH + 2
MAX_ROUND_METRICS_BYTES = 16 << 10
MAX_JOB_METRICS_BYTES = 2 << 20
MAX_ERROR_CHARS = 4 << 10
MAX_ERRORS_PER_TARGET = 100
MAX_LOG_LINE_CHARS = 16 << 10
MAX_EVENT_LINE_BYTES = 256 << 10


def expected_result_bytes(task_file_bytes: int) -> int:
    """A task's result limit (array bytes) when the job sets no ``max_result_bytes``: what a bad
    site may make the server store per task is bounded by what the job sent, not by 4 GiB."""
    return min(DEFAULT_MAX_RESULT_BYTES, max(RESULT_GROWTH_FACTOR * task_file_bytes, RESULT_FLOOR_BYTES))


def result_file_limit(limit: int) -> int:
    """Bytes a result file may have for ``limit`` bytes of arrays: its header and padding on top
    (a result with the task's arrays fits in ``expected_result_bytes`` anyway)."""
    return limit + min(MODEL_HEADER_ALLOWANCE, max(1 << 20, limit // 4))


class PayloadTooLarge(ValueError):
    """Job code handed over more than a documented limit allows; the message names both."""


class NestedTooDeep(PayloadTooLarge):
    """Job code handed over objects or arrays nested deeper than a documented limit."""


class NotJSON(ValueError):
    """Job code handed over a number JSON cannot carry (NaN, infinity); the message names where."""


def json_size(value: Any, what: str = "the value") -> int:
    """Bytes of ``value`` as compact JSON (objects JSON has no form for count as their ``str``).
    NotJSON when a number in it is NaN or infinite: no part of the system could send it on."""
    try:
        return len(json.dumps(value, default=str, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        where = _non_finite(value)
        if where is None:
            raise
        raise NotJSON(f"{what} holds {where[1]!r} at {where[0] or 'its top'}; JSON carries only finite numbers "
                      "(report such a value as null or a string)") from None


def _non_finite(value: Any, path: str = "") -> tuple[str, float] | None:
    """Where the first NaN or infinity in ``value`` is (a dotted path, the number), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def json_depth(value: Any, limit: int) -> int:
    """Levels of dicts, lists and tuples in ``value`` (a number: 0, ``{"a": [1]}``: 2), counted
    without recursion and no further than ``limit + 1``: a value nested thousands deep costs nothing."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else None
        if children is None:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        pending.extend((child, depth) for child in children)
    return deepest


def check_json(value: Any, limit: int, what: str, max_depth: int = MAX_METRICS_DEPTH) -> None:
    """NestedTooDeep past ``max_depth`` levels, PayloadTooLarge past ``limit`` bytes of JSON,
    NotJSON for NaN or infinity in it."""
    if json_depth(value, max_depth) > max_depth:
        raise NestedTooDeep(f"{what} nests objects or arrays deeper than the limit of {max_depth} levels")
    size = json_size(value, what)
    if size > limit:
        raise PayloadTooLarge(f"{what} of {size} bytes (as JSON) exceeds the limit of {limit} bytes")


def cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


class LineTooLong(Exception):
    pass


async def read_event_line(stream: asyncio.StreamReader, limit: int = MAX_EVENT_LINE_BYTES) -> bytes:
    """The next line from a job process (b"" at the end); LineTooLong past ``limit`` bytes.

    The stream's own buffer limit must be at least ``limit``."""
    try:
        line = await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        line = exc.partial
    except asyncio.LimitOverrunError:
        raise LineTooLong(f"a control line longer than {limit} bytes") from None
    if len(line) > limit:
        raise LineTooLong(f"a control line of {len(line)} bytes, over the limit of {limit}")
    return line
