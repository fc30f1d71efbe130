"""Events pushed to one peer (a job's status, a followed log's lines), never growing our memory for a slow one.

Owns the backlog rule: an event is dropped (and counted) for a peer with more than
``MAX_EVENT_BACKLOG`` bytes unsent, and a sender of many events in a row (a resumed log) may wait
until the backlog is below half that (``room``) instead of losing them. Must not decide who gets
which event (the server's and the site's parts do) nor read from the peer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from console.wire.frames import FrameError, encode_frame
from console.wire.replies import ReplyWriter

log = logging.getLogger("console.wire.serving")  # (the serving end's log, as before this module was split off)

#: Pushed events are dropped for a peer with more than this many bytes unsent.
MAX_EVENT_BACKLOG = 4 << 20


class EventPush:
    """The events of one served connection: ``transport`` its socket's (the unsent bytes), ``replies`` where
    frames are written, ``cn`` the peer's name (for the log), ``closed`` whether the connection has closed."""

    def __init__(self, transport: asyncio.WriteTransport, replies: ReplyWriter, cn: str,
                 closed: Callable[[], bool]) -> None:
        self._transport = transport
        self._replies = replies
        self._cn = cn
        self._closed = closed
        self.dropped = 0

    async def room(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` seconds) until the unsent events are below half the backlog a
        ``push`` is dropped past: a sender of many events in a row (a resumed log) paces
        itself here instead of losing them. False when the peer reads too slowly or is gone."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._closed() and self._transport.get_write_buffer_size() > MAX_EVENT_BACKLOG // 2:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return not self._closed()

    def has_room(self) -> bool:
        """Whether the unsent events are below half the backlog a ``push`` is dropped past
        (what ``room`` waits for)."""
        return not self._closed() and self._transport.get_write_buffer_size() <= MAX_EVENT_BACKLOG // 2

    def push(self, topic: str, data: dict[str, Any], shared: dict[str, bytes] | None = None) -> None:
        """``shared``: a cache of the event's frame, for an event that goes to many sessions as it is
        (a followed log's lines): encoded once, the same bytes written to each."""
        if self._closed():
            return
        if self._transport.get_write_buffer_size() > MAX_EVENT_BACKLOG:
            self.dropped += 1
            return
        try:
            frame = shared.get(topic) if shared is not None else None
            if frame is None:
                frame = encode_frame({"k": "event", "topic": topic, "data": data})
                if shared is not None:
                    shared[topic] = frame
            self._replies.write_frame(frame)
        except FrameError as exc:  # an event must never fail the status change that caused it
            self.dropped += 1
            log.error("event %s not sent to %s: %s", topic, self._cn, exc)
