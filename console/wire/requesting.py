"""The requesting end of a connection: concurrent requests, their answers, pushes, transfers.

One connection carries many requests at once (request IDs), the answers in any order, the
events the serving end pushes, streamed uploads and downloads (``console.wire.serving`` is the
other end). An admin's session is one (``console.api.client.AsyncClient``, which opens and
reopens it with a kit and logs in), and so is the server's link to each site, over the
connection the site opened (``attach``). A lost connection fails the requests in flight with
``NoConnection``; a frame that is no frame of the protocol drops it and fails them with
``ProtocolViolation``, saying what was wrong; an answer of the wrong shape for its request
raises ``MalformedAnswer`` at once: nobody waits out a timeout for what cannot come.
A transfer refused part-way (more than it announced or than its receiver takes, an end short of
what it announced, a frame that belongs to no answer, a stream stalled or cut off by its caller:
``refuse``) is not read any further: the connection is dropped there and then, the frame that
broke the rule the last one read, and every other request on it fails with ``PeerDropped``,
naming the peer and what it did. A peer that broke the protocol is not trusted with later requests.
A cancel that comes once a request can no longer be stopped raises CancelTooLate with its answer
(``console.wire.late_answers``).
Errors are the FLARE API's exceptions (``console.wire.exceptions``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.wire.answers import (
    AnswerTooLarge,
    MalformedAnswer,
    PeerDropped,
    PeerError,
    Pending,
    ProtocolViolation,
    Refused,
    answered,
    check_end,
    check_head,
    check_size,
    farewell,
    lost_because,
)
from console.wire.errors import RemoteError
from console.wire.exceptions import NoConnection, SessionClosed, exception_for
from console.wire.features import DOWNLOAD_CANCEL
from console.wire.frames import Frame, FrameError, encode_frame, read_chunk, read_frame
from console.wire.json_answer import min_size, read_json_answer
from console.wire.late_answers import acted_answer, late_answer

__all__ = ["AnswerTooLarge", "MalformedAnswer", "PeerDropped", "PeerError", "ProtocolViolation", "Requester"]

EventListener = Callable[[str, dict[str, Any]], None]
StateListener = Callable[[bool], None]

#: Answer timeout of a plain request; transfers wait for their data, then this long.
DEFAULT_REQUEST_TIMEOUT = 60.0
class Requester:
    """The requesting end of one connection: it serves a stream that someone else opened
    (``attach``), and a lost stream stays lost (``AsyncClient`` reconnects by itself).

    ``peer`` names who answers, in messages: "the server", or "site-1" on the server's link to it.
    """

    def __init__(self, *, peer: str = "the server") -> None:
        self.peer = peer
        self.request_timeout = DEFAULT_REQUEST_TIMEOUT
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._farewell: PeerError | None = None  # the reason in the peer's "error" frame
        self._refused: PeerDropped | None = None  # why this side dropped the connection (``refuse``)
        self._last_id = 0  # the highest request ID sent: a frame naming a higher one belongs to nothing
        self._event_listeners: list[EventListener] = []
        self._state_listeners: list[StateListener] = []
        self.closed = False
        #: What the peer's login answer listed (``console.wire.features``); none until then.
        self.peer_features: frozenset[str] = frozenset()

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

    # -- connecting ----------------------------------------------------------------------

    def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Use a stream opened (and authenticated) elsewhere."""
        self._reader, self._writer = reader, writer
        self._read_task = asyncio.create_task(self._read_loop(reader))

    async def connect(self) -> Any:
        """A stream attached from elsewhere cannot be reopened from this side: NoConnection."""
        if self.closed:
            raise SessionClosed("session closed")
        raise NoConnection("the connection is gone and cannot be reopened from this side")

    # -- reading -------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        reason: BaseException = NoConnection("the server closed the connection")
        self._farewell = self._refused = None
        try:
            while (frame := await read_frame(reader)) is not None:
                try:
                    self._dispatch(frame)
                except Refused as refused:  # not one frame more is read: the connection goes now
                    self.refuse(refused.error, refused.pending)
                    break
                if self._farewell is not None:  # the peer is done with us: nothing after it counts
                    break
        except (FrameError, OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            reason = exc
        finally:
            if self._farewell is not None:  # the peer said why it drops us: that is the reason
                reason = self._farewell
            if self._refused is not None:  # we dropped it: that is the reason
                reason = self._refused
            self._fail_pending(reason)
            if self._writer is not None:
                self._writer.close()
            self._writer = None
            self._notify_state(False)

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

    # -- requests ------------------------------------------------------------------------

    def _send(self, header: dict[str, Any], body: bytes = b"") -> None:
        if self._writer is None:
            raise NoConnection("not connected to the server")
        self._writer.write(encode_frame(header, body))

    async def _ensure(self) -> None:
        if self.closed:
            raise SessionClosed("session closed")
        if not self.connected:
            await self.connect()

    async def _roundtrip(
        self, cmd: str, args: dict[str, Any] | None, *, timeout: float | None = None,
        upload: Path | None = None, streamed: bool = False, acts: bool = False, max_bytes: int | None = None,
        head_rule: Callable[[Any], object] | None = None,
    ) -> Any:
        request_id = self._last_id = next(self._ids)
        pending = Pending(asyncio.get_running_loop(), streamed, cmd, max_bytes, head_rule)
        cut_short = False
        self._pending[request_id] = pending
        uploading = upload is not None
        try:
            self._send({"k": "req", "id": request_id, "cmd": cmd, "args": args or {}, "stream": uploading})
            if upload is not None:
                cut_short = await self._send_file(request_id, upload, pending)
                uploading = False  # its end (or cancel) is sent: a later cancel would name no upload
            assert self._writer is not None
            await self._writer.drain()
            frame = await asyncio.wait_for(asyncio.shield(pending.future), timeout or self.request_timeout)
        except asyncio.CancelledError:
            if upload is None and acts and not streamed:
                # Sent: the server acts on it whatever we do now (``acts``: a command that changes
                # something), so its answer is awaited and handed on, never a "cancelled" that is untrue.
                await late_answer(cmd, pending, timeout or self.request_timeout,
                                        "the cancel came after the request was sent")
            elif upload is None or streamed:  # a question, or a site's task: its caller is going away
                if streamed and upload is None:
                    self._cancel_download(request_id)
                raise
            elif uploading:
                if self._writer is not None:
                    self._send({"k": "cancel", "id": request_id})  # the server drops what it received
                raise
            else:  # the upload's end is sent: as a sent request
                await late_answer(cmd, pending, timeout or self.request_timeout,
                                        "the cancel came after the upload reached the server")
        except TimeoutError:
            if streamed and upload is None:
                self._cancel_download(request_id)
            raise NoConnection(f"no answer to {cmd} within {timeout or self.request_timeout:g} s") from None
        except NoConnection:
            if not answered(pending):
                raise  # already says what was lost
            frame = pending.future.result()  # the answer came before the peer closed (an upload it refused)
        except (OSError, ConnectionError) as exc:
            if not answered(pending):
                raise NoConnection(f"connection to {self.peer} lost: {exc}") from exc
            frame = pending.future.result()
        finally:
            keep = streamed or (pending.future.done() and not pending.future.exception()
                                and pending.future.result().header.get("json"))
            if not keep or not pending.future.done() or pending.future.exception() is not None:
                self._pending.pop(request_id, None)
        header = frame.header
        if not header.get("ok"):
            if cut_short:  # chunks were on their way after the refusal: the server drops this connection
                await self._drop_connection()  # (``console.wire.serving``); the next request opens a new one
            raise exception_for(RemoteError.from_wire(header.get("error")))
        if header.get("json"):
            assert pending.chunks is not None
            reading = read_json_answer(cmd, pending.chunks, timeout or self.request_timeout, header.get("size"),
                                       self.refuse)
            if (acts or upload is not None) and not streamed:
                return await acted_answer(cmd, reading)
            return await reading
        if streamed:
            return header.get("data"), pending
        return header.get("data")

    async def _send_file(self, request_id: int, path: Path, pending: Pending) -> bool:
        """Stream ``path`` as the upload of ``request_id``; True when an early answer cut it short."""
        assert self._writer is not None
        with open(path, "rb") as src:
            size = os.fstat(src.fileno()).st_size
            while chunk := read_chunk(src, size):
                if pending.future.done():  # the server answered early (an error): stop sending
                    self._send({"k": "cancel", "id": request_id})
                    return True
                self._send({"k": "data", "id": request_id}, chunk)
                await self._writer.drain()
        self._send({"k": "end", "id": request_id})
        return False

    def _cancel_download(self, request_id: int) -> None:
        """Tell the serving end to stop a download its requester gave up on (``console.wire.serving``
        stops its stream and whatever it still does for it). Not to a peer that did not list
        ``download_cancel`` (an older one drops the connection at it): what still comes is dropped."""
        if DOWNLOAD_CANCEL in self.peer_features and self._writer is not None and not self._writer.is_closing():
            self._send({"k": "cancel", "id": request_id})

    async def request(self, cmd: str, args: dict[str, Any] | None = None, *, timeout: float | None = None,
                      acts: bool = False) -> Any:
        """The answer to ``cmd``. ``acts``: the command changes something, so a cancel once it is sent
        raises CancelTooLate (with the answer) instead of CancelledError."""
        await self._ensure()
        return await self._roundtrip(cmd, args, timeout=timeout, acts=acts)

    async def upload(self, cmd: str, args: dict[str, Any], source: Path, *, timeout: float | None = None) -> Any:
        await self._ensure()
        return await self._roundtrip(cmd, args, timeout=timeout, upload=source)

    async def download(self, cmd: str, args: dict[str, Any], target: Path, *, timeout: float | None = None,
                       chunk_timeout: float | None = None, max_bytes: int | None = None,
                       upload: Path | None = None, head_rule: Callable[[Any], object] | None = None) -> Any:
        """Stream the answer's body into ``target``; returns the answer's JSON head.

        ``head_rule``: called with the head's JSON as it is read; the MalformedAnswer it raises
        refuses the answer before any of its data is read (a download naming a path, say).
        ``upload``: a file streamed with the request first (a site's task: the model goes out, the
        trained model comes back as the answer, with no second request in between).
        ``timeout`` bounds the wait for the head (counted once the upload is sent), ``chunk_timeout``
        (default: ``timeout``) each chunk; an answer that announces more than ``max_bytes``, or
        sends more, is refused with AnswerTooLarge (a ValueError) before or as soon as it passes
        (the rest is ignored). An answer that sends more than the ``size`` it announced, or ends
        short of it, is refused with MalformedAnswer as soon as it does: a download never takes more
        than its head said it would. ``target`` is created only once the head is accepted:
        ``console.wire.pace.paced`` times the transfer from then, not during a site's training."""
        await self._ensure()
        head, pending = await self._roundtrip(cmd, args, timeout=timeout, upload=upload, streamed=True,
                                              max_bytes=max_bytes, head_rule=head_rule)
        assert pending.chunks is not None
        wait = chunk_timeout or timeout or self.request_timeout
        try:  # the head was checked, and each chunk is, as it is read (``_dispatch``)
            with open(target, "wb") as out:
                while True:
                    try:
                        item = await asyncio.wait_for(pending.chunks.get(), wait)
                    except TimeoutError:
                        self.refuse(NoConnection(f"the answer of {self.peer} to {cmd} stopped for {wait:g} s after "
                                                 f"{pending.received} bytes; cut off"), pending)
                        raise
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    out.write(item)
        finally:
            # A transfer given up on (Ctrl-C, a timeout, a refusal): what is still on its way is dropped,
            # not queued, and the server is told to stop sending it.
            for key in [k for k, v in self._pending.items() if v is pending]:
                del self._pending[key]
                self._cancel_download(key)
        return head

    # -- closing -------------------------------------------------------------------------

    async def _drop_connection(self) -> None:
        writer, task = self._writer, self._read_task
        self._writer = None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, ConnectionError, TimeoutError, ssl.SSLError):
                pass
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._drop_connection()
        self._fail_pending(SessionClosed("session closed"))

