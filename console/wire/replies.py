"""How a served request's answer goes out: one frame, or a stream of ``data`` frames then ``end``.

``ReplyWriter`` owns the writing side of one served connection (``console.wire.serving``): frames
written whole with one ``write`` call (so the requests' tasks interleave frames without a lock), an
answer in one frame or, past the header limit, as JSON in chunks marked ``"json": true``, a file (a
download, deleted once sent) and a list of parts read as they are sent (``StreamedParts``). An answer
that cannot be sent (not JSON: a NaN in it) is answered with an error naming why, never left
unanswered. It must not read the peer, run handlers or decide who may do what: that is
``console.wire.serving``'s; a connection that breaks under a write is that module's to notice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from console.wire.errors import ErrorType, RemoteError
from console.wire.frames import (
    CHUNK_BYTES,
    FrameError,
    HeaderTooLarge,
    dumps_strict,
    encode_frame,
    read_chunk,
)
from console.wire.request_context import Download, StreamedParts

log = logging.getLogger("console.wire.serving")  # the serving end's log, as its peers read it

#: Seconds a large answer (one holding a slot of the host's ``ReplyBudget``) may wait with none of
#: its bytes read by the peer before the rest of it is dropped and its slot freed: a slot is held
#: while bytes flow, not for as long as a peer that never reads likes (security report 9, finding 4).
LARGE_ANSWER_STALL_SECONDS = 5.0
#: Set (by ``ServedConnection``) in the task of a request whose answer is large: its stall limit.
STALL_LIMIT: ContextVar[float | None] = ContextVar("stall_limit", default=None)
#: Seconds between two looks at a stalled answer's progress.
_STALL_POLL = 0.1


def unsent_bytes(transport: asyncio.BaseTransport) -> int | None:
    """Bytes written to ``transport`` and not sent yet; None once it is closing (an SSL transport
    whose connection is gone has no buffer left to ask)."""
    if transport.is_closing():
        return None
    try:
        return transport.get_write_buffer_size()  # type: ignore[attr-defined]
    except AttributeError:
        return None


class AnswerStalled(ConnectionError):
    """The peer read none of a large answer's bytes for ``seconds``: the rest is not sent."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the answer was not read for {seconds:g} s; the rest of it was dropped "
                         "(read answers as they come, then ask again)")


class ReplyWriter:
    """The writing side of one served connection.

    ``who``: the peer's certificate CN, in log lines. ``is_closed``: whether the connection is
    closed (nothing more is written then). ``was_cancelled(request_id)``: whether the peer sent a
    ``cancel`` for that download (a stream that stops short says why in the log).
    """

    def __init__(self, writer: asyncio.StreamWriter, who: str, is_closed: Callable[[], bool],
                 was_cancelled: Callable[[int], bool]) -> None:
        self.writer = writer
        self._who = who
        self._is_closed = is_closed
        self._was_cancelled = was_cancelled

    # -- frames --------------------------------------------------------------------------

    def write(self, header: dict[str, Any], body: bytes = b"") -> None:
        """One frame, queued to go (raises FrameError for one that cannot be encoded)."""
        if not self._is_closed():
            self.writer.write(encode_frame(header, body))

    def write_frame(self, frame: bytes) -> None:
        """A frame encoded already (one event's bytes shared by many sessions), queued to go."""
        if not self._is_closed():
            self.writer.write(frame)

    async def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        """One frame, and wait until the unsent bytes are below the high-water mark (AnswerStalled
        when the answer is large and the peer reads none of them for its ``STALL_LIMIT``)."""
        self.write(header, body)
        await self._drain()

    async def send_frame(self, frame: bytes) -> None:
        if not self._is_closed():
            self.writer.write(frame)
            await self._drain()

    async def room(self) -> None:
        """Wait until the unsent bytes are below the high-water mark (AnswerStalled as ``send``)."""
        if not self._is_closed():
            await self._drain()

    async def _drain(self) -> None:
        stall = STALL_LIMIT.get()
        if stall is None:
            await self.writer.drain()
            return
        transport, loop = self.writer.transport, asyncio.get_running_loop()
        drain = asyncio.ensure_future(self.writer.drain())
        # Its outcome is the connection's (lost: noticed by the reader), also once we stop waiting.
        drain.add_done_callback(lambda done: done.cancelled() or done.exception())
        unsent, moved = unsent_bytes(transport), loop.time()
        try:
            while not (await asyncio.wait({drain}, timeout=_STALL_POLL))[0]:
                now, left = loop.time(), unsent_bytes(transport)
                if left is None or unsent is None:
                    raise ConnectionResetError("the connection closed")
                if left < unsent:
                    moved = now
                unsent = left
                if now - moved > stall:
                    raise AnswerStalled(stall)
            drain.result()
        finally:
            if not drain.done():
                drain.cancel()

    async def send_quietly(self, header: dict[str, Any]) -> None:
        """``send``, for a connection that may be gone already (its loss is noticed elsewhere)."""
        try:
            await self.send(header)
        except (ConnectionError, OSError):
            pass

    async def drain_quietly(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass

    async def error(self, request_id: int, error: RemoteError) -> None:
        """The request failed: its ``res`` frame says why."""
        await self.send_quietly({"k": "res", "id": request_id, "ok": False, "error": error.to_wire()})

    # -- answers -------------------------------------------------------------------------

    async def result(self, request_id: int, cmd: Any, result: Any) -> None:
        """The answer in one frame, or, past the header limit (list_jobs over many thousand jobs),
        as JSON streamed in chunks like a download, marked ``"json": true``. An answer that is not
        JSON (a NaN in it, say) is answered with an error naming why: never left unanswered."""
        try:
            frame = encode_frame({"k": "res", "id": request_id, "ok": True, "data": result})
        except HeaderTooLarge:
            try:
                payload = dumps_strict(result, f"answer to {cmd}").encode()
            except FrameError as exc:
                await self.unsendable(request_id, cmd, exc)
                return
            try:
                await self.send({"k": "res", "id": request_id, "ok": True, "stream": True, "json": True,
                                 "size": len(payload)})
                for start in range(0, len(payload), CHUNK_BYTES):
                    await self.send({"k": "data", "id": request_id}, payload[start:start + CHUNK_BYTES])
                await self.send({"k": "end", "id": request_id})
            except AnswerStalled as exc:
                self.stalled(request_id, cmd, exc)
            except (ConnectionError, OSError):
                pass
            return
        except FrameError as exc:
            await self.unsendable(request_id, cmd, exc)
            return
        try:
            await self.send_frame(frame)
        except (ConnectionError, OSError):
            pass

    def stalled(self, request_id: int, cmd: Any, exc: AnswerStalled) -> None:
        """A streamed answer the peer stopped reading: its ``end`` says why (queued behind what is
        unread; nothing more of it is sent)."""
        log.info("answer %s (%s) to %s dropped: %s", request_id, cmd, self._who, exc)
        error = RemoteError(ErrorType.INTERNAL, f"{cmd}: {exc}")
        try:
            self.write({"k": "end", "id": request_id, "error": error.to_wire()})
        except (ConnectionError, OSError):
            pass

    async def unsendable(self, request_id: int, cmd: Any, exc: FrameError) -> None:
        log.error("answer to %s from %s not sent: %s", cmd, self._who, exc)
        await self.error(request_id, RemoteError(ErrorType.INTERNAL, f"{cmd}: the answer cannot be sent: {exc}"))

    async def file(self, request_id: int, cmd: Any, download: Download) -> None:
        """``download``'s head, then its file in chunks; the file is deleted once sent (or not)."""
        try:
            with open(download.path, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                try:
                    head = encode_frame({"k": "res", "id": request_id, "ok": True, "data": download.head,
                                         "stream": True, "size": size})
                except FrameError as exc:  # a head that is not JSON: said, not left unanswered
                    await self.unsendable(request_id, cmd, exc)
                    return
                await self.send_frame(head)
                while chunk := await asyncio.to_thread(read_chunk, src, size):
                    await self.send({"k": "data", "id": request_id}, chunk)
            await self.send({"k": "end", "id": request_id})
        except AnswerStalled as exc:
            self.stalled(request_id, cmd, exc)
        except (ConnectionError, OSError) as exc:
            log.info("download %s to %s interrupted: %s", request_id, self._who, exc)
        finally:
            download.path.unlink(missing_ok=True)

    async def parts(self, request_id: int, cmd: Any, answer: StreamedParts) -> None:
        """``answer``'s parts as one body: the head at once, then each part read as it is sent. A stream
        that stops short (cancelled, the connection gone) says so in the log, with how far it came."""
        total, sent, why = sum(answer.sizes), 0, "the connection closed"
        try:
            try:
                head = encode_frame({"k": "res", "id": request_id, "ok": True, "data": answer.head,
                                     "stream": True, "size": total})
            except FrameError as exc:  # a head that is not JSON: said, not left unanswered
                why = "its head cannot be sent"
                await self.unsendable(request_id, cmd, exc)
                return
            await self.send_frame(head)
            for part, size in zip(answer.parts, answer.sizes, strict=True):
                if isinstance(part, bytes):
                    for start in range(0, size, CHUNK_BYTES):
                        await self.send({"k": "data", "id": request_id}, part[start:start + CHUNK_BYTES])
                        sent += min(CHUNK_BYTES, size - start)
                    continue
                while chunk := await asyncio.to_thread(read_chunk, part, size):
                    await self.send({"k": "data", "id": request_id}, chunk)
                    sent += len(chunk)
            why = "a file was shorter than when it was opened"  # (the peer refuses the answer then)
            await self.send({"k": "end", "id": request_id})
        except AnswerStalled as exc:
            why = str(exc)
            self.stalled(request_id, cmd, exc)
        except (ConnectionError, OSError) as exc:
            why = f"the connection was lost: {exc}"
        except asyncio.CancelledError:
            why = "its requester gave up on it" if self._was_cancelled(request_id) else "the connection closed"
            raise
        finally:
            answer.close()
            if sent < total:
                log.info("download %s (%s) to %s stopped after %d of %d bytes: %s", request_id, cmd,
                         self._who, sent, total, why)
