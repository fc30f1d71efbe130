"""An answer streamed as JSON (``"json": true``: too big for one frame, as list_jobs over many
thousand jobs), read with a cap so that a broken or hostile peer cannot grow this process.

Used by ``console.wire.requesting`` for an admin's session and for the server's link to a site;
it reads the chunks the client queued and owns no connection: past the cap it asks its
caller to drop the connection (``drop``) and raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from console import safe_json
from console.wire.exceptions import NoConnection

#: The largest answer streamed as JSON (list_jobs over many thousand jobs is a few MB). A peer
#: that sends more is dropped: it would otherwise grow this process without bound.
MAX_JSON_ANSWER_BYTES = 64 << 20


def min_size(announced: Any) -> int:
    """The most a JSON answer may hold: what its head announced, never over the cap."""
    if isinstance(announced, int) and not isinstance(announced, bool):
        return max(0, min(announced, MAX_JSON_ANSWER_BYTES))
    return MAX_JSON_ANSWER_BYTES


async def read_json_answer(cmd: str, chunks: asyncio.Queue[bytes | BaseException | None], timeout: float,
                           announced: Any, drop: Callable[[], Awaitable[None]]) -> Any:
    """The JSON value of the answer to ``cmd`` from its queued chunks (None ends them, an exception
    is raised as it is). ``timeout``: seconds each chunk may take; ``announced``: the size the
    answer's head gave (the cap when it gave none). Raises NoConnection when the answer stalls,
    grows past ``min_size(announced)`` (after awaiting ``drop``) or is not JSON."""
    parts: list[bytes] = []
    received = 0
    try:
        while (chunk := await asyncio.wait_for(chunks.get(), timeout)) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            received += len(chunk)
            if received > MAX_JSON_ANSWER_BYTES or (isinstance(announced, int) and received > announced):
                await drop()  # what it sends next would only be queued again
                raise NoConnection(f"the answer to {cmd} grew past {min_size(announced):,} bytes: the peer "
                                   "is broken or hostile, so the connection was dropped")
            parts.append(chunk)
    except TimeoutError:
        raise NoConnection(f"the answer to {cmd} stopped arriving for {timeout:g} s") from None
    try:
        return safe_json.loads(b"".join(parts))
    except ValueError as exc:
        raise NoConnection(f"the answer to {cmd} is not valid JSON ({exc})") from None
