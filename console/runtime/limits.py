"""Size limits on everything a job's code hands to the system, and how they are enforced.

Job code (a controller, an executor) is the submitter's code: what it emits is bounded
before the server or a site holds it. Limits (documented in docs/protocol.md):

- a result model: ``max_result_bytes`` (server config args; default 4 GiB) of array bytes,
  checked by the executor's process before writing, by the site before sending and by the
  server while receiving;
- a task's metrics: 16 KiB of JSON; a progress event's data: 64 KiB of JSON;
- an error message: cut at 4 KiB; a job keeps at most 100 error entries per participant;
- a log line printed by job code: cut at 16 KiB;
- any one control line from a job process: 256 KiB. A process that sends a longer line is
  stopped and its job ends ``FINISHED:EXECUTION_EXCEPTION`` with the reason in its errors.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

DEFAULT_MAX_RESULT_BYTES = 4 << 30
MAX_METRICS_BYTES = 16 << 10
MAX_PROGRESS_BYTES = 64 << 10
MAX_ERROR_CHARS = 4 << 10
MAX_ERRORS_PER_TARGET = 100
MAX_LOG_LINE_CHARS = 16 << 10
MAX_EVENT_LINE_BYTES = 256 << 10


class PayloadTooLarge(ValueError):
    """Job code handed over more than a documented limit allows; the message names both."""


def json_size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")).encode())


def check_json(value: Any, limit: int, what: str) -> None:
    size = json_size(value)
    if size > limit:
        raise PayloadTooLarge(f"{what} of {size} bytes (as JSON) exceeds the limit of {limit} bytes")


def cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def add_error(errors: dict[str, list[str]], target: str, message: str) -> None:
    """Record ``message`` under ``target`` within the limits (the last entry says when more were dropped)."""
    entries = errors.setdefault(target, [])
    if len(entries) < MAX_ERRORS_PER_TARGET - 1:
        entries.append(cut(message))
    elif len(entries) == MAX_ERRORS_PER_TARGET - 1:
        entries.append(f"more errors were dropped (at most {MAX_ERRORS_PER_TARGET} are kept)")


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
