"""How slow a streamed answer may come, so that a peer sending a byte now and then cannot hold
its receiver (a job's end, a slot of ``max_jobs``) for as long as it likes.

A per-chunk timeout alone bounds nothing: one byte every 29 s passes a 30 s chunk timeout and
a 1 GiB answer then takes 900 years. The rule here: once the answer's head has come, its data
may lag at most ``floor_seconds`` behind ``min_bytes_per_second``; so an answer of N bytes is
done within ``floor_seconds + N / min_bytes_per_second``, and one that falls behind is cut at
once, whatever size it announced. The server holds what sites stream to it to this rule
(``connection_limits`` in fed_server.json sets both numbers: ``paced`` watches the file a
download writes, never touching its frames), every answer streamed as JSON is held to it
with the default numbers (``console.wire.json_answer``), and so is every upload a host receives,
counted from its request (``RequestContext.upload_chunks``; the server's with its numbers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from console.wire.exceptions import NoConnection

T = TypeVar("T")

#: Seconds between two looks at a transfer's progress.
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Pace:
    """After the head: ``floor_seconds`` of grace, then at least ``min_bytes_per_second`` on average."""

    floor_seconds: float = 60.0
    min_bytes_per_second: float = 128 << 10

    def allowed_seconds(self, received: int) -> float:
        """Seconds since the head within which ``received`` bytes must have come."""
        return self.floor_seconds + received / self.min_bytes_per_second

    def rule(self) -> str:
        return f"at least {self.min_bytes_per_second / 1024:g} KiB/s after {self.floor_seconds:g} s"


DEFAULT_PACE = Pace()


class TransferTooSlow(NoConnection):
    """A streamed answer fell behind its ``Pace``; the message says how far it got, and when."""

    def __init__(self, received: int, seconds: float, pace: Pace) -> None:
        super().__init__(f"its answer came too slowly: {received} bytes stored in {seconds:.0f} s, under the pace of "
                         f"{pace.rule()}; cut off")
        self.received = received
        self.seconds = seconds


class TransferStopped(Exception):
    """``stop`` was set while the transfer was under way (or, ``when``, before it began); it was cut off."""

    def __init__(self, received: int, seconds: float, when: str = "") -> None:
        super().__init__(f"cut off {when}" if when else f"cut off after {seconds:.0f} s, {received} bytes stored")
        self.received = received
        self.seconds = seconds


async def paced(transfer: Awaitable[T], target: Path, pace: Pace, stop: asyncio.Event | None = None,
                 cut: Callable[[Exception], None] | None = None) -> T:
    """What ``transfer`` returns, a download into ``target`` that creates the file when it has
    accepted the answer's head (``Requester.download`` does): until then its own timeout bounds the
    wait. Progress is what the file holds (the download's write buffer, 8 KiB at most, is not
    counted). Raises TransferTooSlow once the file grows slower than ``pace`` allows, TransferStopped
    when ``stop`` is set first, or what ``transfer`` raises; the transfer is cancelled in all three
    cases (and when this is). ``cut`` is called with the TransferTooSlow or TransferStopped before
    anything else runs: ``Requester.refuse`` drops the connection the rest would come on."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(transfer)
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    watched = {task} if stopping is None else {task, stopping}
    started = loop.time()
    head_at: float | None = None
    try:
        while True:
            await asyncio.wait(watched, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            received = _size(target)
            now = loop.time()
            error: TransferStopped | TransferTooSlow | None = None
            if stopping is not None and stopping.done():
                error = TransferStopped(received or 0, now - started)
            elif received is None:
                continue
            elif head_at is None:
                head_at = now
            elif now - head_at > pace.allowed_seconds(received):
                error = TransferTooSlow(received, now - head_at, pace)
            if error is not None:
                if cut is not None:
                    cut(error)
                raise error
    finally:
        for waiting in watched:
            waiting.cancel()
        await asyncio.gather(*watched, return_exceptions=True)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
