"""An answer streamed as JSON (``"json": true``: too big for one frame, as list_jobs over many
thousand jobs), read with a cap so that a broken or hostile peer cannot grow this process.

Used by ``console.wire.requesting`` for an admin's session and for the server's link to a site;
it reads the chunks the client queued and owns no connection: behind the pace
(``console.wire.pace``), it asks its caller to drop the connection (``drop``) and raises. Past
its size (``min_size``) the requester's read loop refuses it as the frame comes (``console.wire.answers``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from console import safe_json
from console.wire.exceptions import NoConnection
from console.wire.pace import DEFAULT_PACE, Pace
from console.within import within

#: The largest answer streamed as JSON (list_jobs over many thousand jobs is a few MB). A peer
#: that sends more is dropped: it would otherwise grow this process without bound.
MAX_JSON_ANSWER_BYTES = 64 << 20


def min_size(announced: Any) -> int:
    """The most a JSON answer may hold: what its head announced, never over the cap."""
    if isinstance(announced, int) and not isinstance(announced, bool):
        return max(0, min(announced, MAX_JSON_ANSWER_BYTES))
    return MAX_JSON_ANSWER_BYTES


async def arriving(cmd: str, chunks: asyncio.Queue[bytes | BaseException | None], timeout: float,
                   announced: Any, drop: Callable[[Exception], None], pace: Pace = DEFAULT_PACE,
                   deadline: float | None = None) -> AsyncIterator[bytes]:
    """The chunks of the answer to ``cmd`` as they come (None ends them, an exception is raised as
    it is), held to ``timeout`` (seconds each chunk may take), ``pace`` (how slowly it may come in
    all: a chunk now and then within ``timeout`` would otherwise hold the caller for ever),
    ``deadline`` (the event loop's time by which the whole answer must be in: the command's
    deadline, since the pace alone lets 64 MiB take 9 minutes) and ``min_size(announced)``. Raises
    NoConnection when the answer stalls, falls behind its pace, misses its deadline or grows past
    that size (the last three after calling ``drop`` with it)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    try:
        while True:
            left = started + pace.allowed_seconds(received) - loop.time()
            until_deadline = float("inf") if deadline is None else deadline - loop.time()
            try:  # what has come already counts, however late this reads it
                chunk = chunks.get_nowait() if not chunks.empty() else await within(
                    chunks.get(), max(0.0, min(timeout, left, until_deadline)))
            except TimeoutError:
                if until_deadline <= min(timeout, left):
                    late = NoConnection(f"the answer to {cmd} was not complete within its deadline: {received} "
                                        f"bytes in {loop.time() - started:.0f} s; the connection was dropped")
                    drop(late)
                    raise late from None
                if left > timeout:
                    raise
                slow = NoConnection(f"the answer to {cmd} came too slowly: {received} bytes in "
                                    f"{loop.time() - started:.0f} s, under the pace of {pace.rule()}; the "
                                    "connection was dropped")
                drop(slow)  # what it sends next would only be queued again
                raise slow from None
            if chunk is None:
                return
            if isinstance(chunk, BaseException):
                raise chunk
            received += len(chunk)
            if received > min_size(announced):  # the read loop refuses it first (answers.check_size)
                big = NoConnection(f"the answer to {cmd} grew past {min_size(announced):,} bytes: the peer "
                                   "is broken or hostile, so the connection was dropped")
                drop(big)
                raise big
            yield chunk
    except TimeoutError:
        raise NoConnection(f"the answer to {cmd} stopped arriving for {timeout:g} s") from None


async def read_json_answer(cmd: str, chunks: asyncio.Queue[bytes | BaseException | None], timeout: float,
                           announced: Any, drop: Callable[[Exception], None], pace: Pace = DEFAULT_PACE,
                           deadline: float | None = None) -> Any:
    """The JSON value of the answer to ``cmd`` from its queued chunks (``arriving``'s rules). Raises
    NoConnection as ``arriving`` does, or when it is not JSON."""
    parts = [chunk async for chunk in arriving(cmd, chunks, timeout, announced, drop, pace, deadline)]
    try:
        return safe_json.loads(b"".join(parts))
    except ValueError as exc:
        raise NoConnection(f"the answer to {cmd} is not valid JSON ({exc})") from None
