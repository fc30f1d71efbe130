"""What the peer sends on a connection: each frame routed to the request it answers, events to their listeners.

The reading half of ``console.wire.requesting.Requester`` (its base class): the pending requests by ID,
the read loop, and the rules a frame must keep. A lost connection fails the requests in flight with
``NoConnection``; a frame that is no frame of the protocol drops it and fails them with
``ProtocolViolation``, saying what was wrong; an answer of the wrong shape for its request raises
``MalformedAnswer`` at once: nobody waits out a timeout for what cannot come. A transfer refused
part-way (more than it announced or than its receiver takes, an end short of what it announced, a
frame that belongs to no answer, a stream stalled or cut off by its caller: ``refuse``) is not read
any further: the connection is dropped there and then, the frame that broke the rule the last one
read, and every other request on it fails with ``PeerDropped``, naming the peer and what it did.
How the reading ended is kept (``ended``, and the peer's ``bye`` when it said why it closed the link:
``console.wire.goodbye``), for whoever judges what the end means (the server, of a site's link).

Must not: send requests or open connections (``requesting``); it only reads, routes and drops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from console.wire.answers import (
    MalformedAnswer,
    PeerDropped,
    PeerError,
    Pending,
    Refused,
    check_end,
    check_head,
    check_size,
    farewell,
    lost_because,
)
from console.wire.errors import RemoteError
from console.wire.exceptions import NoConnection, exception_for
from console.wire.frames import ANY_FRAME, MAX_CHUNK_BYTES, Frame, FrameError, FrameLimits, read_frame
from console.wire.goodbye import Bye, LinkEnd, read_bye
from console.wire.json_answer import min_size

EventListener = Callable[[str, dict[str, Any]], None]
StateListener = Callable[[bool], None]


class Incoming:
    """The frames one connection brings: ``peer`` names who sends them, in messages; ``first_limits``
    is what a frame may take until the first answer has come (``Requester``)."""

    def __init__(self, peer: str, first_limits: FrameLimits) -> None:
        self.peer = peer
        self._limits = first_limits
        self._pending: dict[int, Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._farewell: PeerError | None = None  # the reason in the peer's "error" frame
        self._refused: PeerDropped | None = None  # why this side dropped the connection (``refuse``)
        self._closing_here = False  # this side closes the connection (``Requester``): no end of the peer's
        #: The peer's ``bye`` on this connection, when it said one (``console.wire.goodbye``).
        self.bye: Bye | None = None
        #: How the connection's reading ended; None while it reads (``console.wire.goodbye``).
        self.ended: LinkEnd | None = None
        self._last_id = 0  # the highest request ID sent: a frame naming a higher one belongs to nothing
        self._event_listeners: list[EventListener] = []
        self._state_listeners: list[StateListener] = []
        #: Frames read so far on any connection: the heartbeat (``console.wire.heartbeat``) watches it move.
        self.frames_read = 0
        self._last_ping = 0  # the highest heartbeat ID sent: a pong naming a higher one answers nothing

    # -- listeners -----------------------------------------------------------------------

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    @property
    def dropped_for(self) -> PeerDropped | None:
        """Why this side dropped the connection (``refuse``), while that is the last thing that happened to it."""
        return self._refused

    @property
    def connected(self) -> bool:
        return self._writer is not None and self._read_task is not None and not self._read_task.done()

    # -- reading -------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        reason: BaseException = NoConnection(f"{self.peer} closed the connection")
        self._farewell = self._refused = None
        self.bye, self.ended, self._closing_here = None, None, False
        try:
            while (frame := await read_frame(reader, limits=self._limits, body_rule=self._judge_body)) is not None:
                self.frames_read += 1
                try:
                    self._dispatch(frame)
                except Refused as refused:  # not one frame more is read: the connection goes now
                    self.refuse(refused.error, refused.pending)
                    break
                if self._farewell is not None or self.bye is not None:  # the peer is done with us
                    break
        except (FrameError, OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            reason = exc
        finally:
            if self._farewell is not None:  # the peer said why it drops us: that is the reason
                reason = self._farewell
            elif self.bye is not None:
                reason = NoConnection(f"{self.peer} closed the connection ({self.bye.reason}: "
                                      f"{self.bye.message or 'no reason given'})")
            if self._refused is not None:  # we dropped it: that is the reason
                reason = self._refused
            self.ended = self._how_ended()
            self._fail_pending(reason)
            if self._writer is not None:
                self._writer.close()
            self._writer = None
            self._notify_state(False)

    def _how_ended(self) -> LinkEnd:
        if self.bye is not None:  # (read before anything of this side's ended the reading)
            return LinkEnd.SAID_BYE
        if self._refused is not None or self._closing_here:
            return LinkEnd.DROPPED_HERE
        if self._farewell is not None:
            return LinkEnd.PEER_ERROR
        return LinkEnd.PEER_CLOSED

    def _judge_body(self, header: dict[str, Any], size: int) -> str | None:
        """Why a frame's body is not read (``read_frame``'s ``body_rule``): only a ``data`` frame has
        one, a chunk at most (``console.wire.replies`` sends no more); anything else is a protocol
        error found at its header, the body unread (as the serving end judges requests)."""
        if size == 0:
            return None
        kind = header.get("k")
        if kind != "data":
            return f"{self.peer} sent a {kind!r:.20} frame with a body of {size} bytes: that kind has none"
        if size > MAX_CHUNK_BYTES:
            return f"{self.peer} sent a data frame of {size} bytes: a chunk is at most {MAX_CHUNK_BYTES} bytes"
        return None

    def _dispatch(self, frame: Frame) -> None:
        header = frame.header
        kind = header.get("k")
        if kind == "event":
            topic, data = header.get("topic"), header.get("data")
            if isinstance(topic, str) and isinstance(data, dict):
                for listener in list(self._event_listeners):
                    listener(topic, data)
            return
        if kind == "error":  # the peer is about to drop us, and says why: in its own words, cut
            self._farewell = farewell(self.peer, header.get("error"))
            return
        if kind == "bye":  # the peer closes the link in order, and says why (console.wire.goodbye)
            self.bye = read_bye(header)
            return
        if kind == "pong":  # it is alive: counted in ``frames_read`` already
            ping_id = header.get("id")
            if not isinstance(ping_id, int) or isinstance(ping_id, bool) or not 0 < ping_id <= self._last_ping:
                raise Refused(None, MalformedAnswer(f"{self.peer} sent a pong for heartbeat {ping_id!r:.40}, "
                                                     "which was never sent"))
            return
        if kind not in ("res", "data", "end"):
            raise Refused(None, MalformedAnswer(f"{self.peer} sent a frame of kind {kind!r:.40}, which no answer has"))
        request_id = header.get("id")
        if not isinstance(request_id, int) or isinstance(request_id, bool) or not 0 < request_id <= self._last_id:
            raise Refused(None, MalformedAnswer(f"{self.peer} sent a {kind!r} frame for request {request_id!r:.40}, "
                                                 "which was never sent"))
        pending = self._pending.get(request_id)
        if pending is None:
            return  # the rest of an answer given up on here (a request cancelled): dropped
        if kind == "res":
            self._limits = ANY_FRAME
            if pending.future.done():
                raise Refused(pending, MalformedAnswer(f"{self.peer} answered {pending.cmd} twice"))
            if pending.file and header.get("ok"):
                check_head(self.peer, pending, header)
            if header.get("json") and pending.chunks is None:
                pending.chunks = asyncio.Queue()  # a big answer follows in data frames
                pending.json_cap = min_size(header.get("size"))
            pending.future.set_result(frame)
            if not header.get("stream") or not header.get("ok"):
                self._pending.pop(request_id, None)
            return
        if pending.chunks is None or not pending.future.done():
            what = "before its head" if pending.chunks is not None else "for an answer that has none"
            raise Refused(pending, MalformedAnswer(f"{self.peer} sent a {kind!r} frame {what} ({pending.cmd})"))
        if kind == "data":
            pending.received += len(frame.body)
            check_size(self.peer, pending)
            pending.chunks.put_nowait(frame.body)
            return
        error = header.get("error")
        check_end(self.peer, pending, error)
        pending.chunks.put_nowait(exception_for(RemoteError.from_wire(error)) if error else None)
        self._pending.pop(request_id, None)

    def refuse(self, error: Exception, pending: Pending | None = None) -> None:
        """Refuse a transfer part-way and drop the connection at once (nothing more is read): the
        request of ``pending`` fails with ``error``, every other one with ``PeerDropped`` naming the
        peer and ``error``; the state listeners hear the connection is down. Used by the read loop
        for a frame that breaks its answer's rule, by ``download`` for a stream that stalls, and by
        a caller that cuts a stream off (too slow, or no longer wanted: ``console.wire.pace``)."""
        said = str(error)
        if pending is not None:
            error.args = (f"{said}; the connection to {self.peer} was dropped",)  # one line says both
            if not pending.future.done():
                pending.future.set_exception(error)
            if pending.chunks is not None:
                pending.chunks.put_nowait(error)
            for key in [k for k, v in self._pending.items() if v is pending]:
                del self._pending[key]
        if self._refused is None:
            self._refused = PeerDropped(f"the connection to {self.peer} was dropped: {said}")
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()  # no more bytes of the peer's are read, none of ours wait to go
        task = self._read_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()  # its ``finally`` fails the other requests with the reason above

    def _fail_pending(self, reason: BaseException) -> None:
        error = lost_because(self.peer, reason)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
            if pending.chunks is not None:
                pending.chunks.put_nowait(error)
        self._pending.clear()

    def _notify_state(self, up: bool) -> None:
        for listener in list(self._state_listeners):
            listener(up)
