"""The requesting end of a connection: concurrent requests, their answers, pushes, transfers.

One connection carries many requests at once (request IDs), the answers in any order, the
events the serving end pushes, streamed uploads and downloads (``console.wire.serving`` is the
other end). An admin's session is one (``console.api.client.AsyncClient``, which opens and
reopens it with a kit and logs in), and so is the server's link to each site, over the
connection the site opened (``attach``). Reading what the peer sends (answers routed to their
requests, events, a frame breaking the rules refused and the connection dropped: ``refuse``) is
the base class's, ``console.wire.incoming``. A peer that broke the protocol is not trusted with
later requests. A cancel that comes once a request can no longer be stopped raises CancelTooLate with its answer
(``console.wire.late_answers``).
Errors are the FLARE API's exceptions (``console.wire.exceptions``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import ssl
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from console.wire.answers import (
    AnswerTooLarge,
    MalformedAnswer,
    PeerDropped,
    PeerError,
    Pending,
    ProtocolViolation,
    answered,
)
from console.wire.errors import RemoteError
from console.wire.exceptions import NoAnswer, NoConnection, SessionClosed, exception_for
from console.wire.features import DOWNLOAD_CANCEL
from console.wire.frames import ANY_FRAME, FrameLimits, encode_frame, read_chunk
from console.wire.incoming import EventListener, Incoming, StateListener
from console.wire.json_answer import read_json_answer
from console.wire.json_rows import read_json_rows
from console.wire.late_answers import acted_answer, late_answer
from console.within import within

__all__ = ["USER_COMMAND", "AnswerTooLarge", "EventListener", "MalformedAnswer", "PeerDropped", "PeerError",
           "ProtocolViolation", "Requester", "StateListener"]

#: The command the user ran that the requests made in this context serve (a shell command, a
#: ``Session`` method), when it is not the request itself: monitor_job and follow ask get_job_meta.
#: A request's NoAnswer names this one: the user never ran get_job_meta.
USER_COMMAND: ContextVar[str | None] = ContextVar("USER_COMMAND", default=None)

#: The command timeout a server applies when the session set none (seconds it gives its sites:
#: console.server.targets.DEFAULT_SITE_TIMEOUT).
SERVER_COMMAND_TIMEOUT = 10.0
#: What a requester allows beyond the command timeout in force for the server's own part of the work.
ANSWER_GRACE_SECONDS = 50.0
#: Answer timeout of a plain request; transfers wait for their data, then this long.
DEFAULT_REQUEST_TIMEOUT = SERVER_COMMAND_TIMEOUT + ANSWER_GRACE_SECONDS


class Requester(Incoming):
    """The requesting end of one connection: it serves a stream that someone else opened
    (``attach``), and a lost stream stays lost (``AsyncClient`` reconnects by itself).

    ``peer`` names who answers, in messages: "the server", or "site-1" on the server's link to it.
    ``first_limits``: what a frame may take until the first answer has come (the server reads a
    site's answer to its login under ``SITE_BEFORE_LOGIN``: a site's key must not make the server
    hold megabytes per connection that has not logged in); ``ANY_FRAME`` after it.
    """

    def __init__(self, *, peer: str = "the server", first_limits: FrameLimits = ANY_FRAME) -> None:
        super().__init__(peer, first_limits)
        self.request_timeout = DEFAULT_REQUEST_TIMEOUT
        #: The session's own command timeout (``set_timeout``), None for the server's default.
        self.command_timeout: float | None = None
        #: What a request's ``NoAnswer`` ends with: what its reader may do next.
        self.after_no_answer = ""
        self._ids = itertools.count(1)
        self._reader: asyncio.StreamReader | None = None
        self.closed = False
        #: What the peer's login answer listed (``console.wire.features``); none until then.
        self.peer_features: frozenset[str] = frozenset()

    def use_command_timeout(self, seconds: float | None) -> None:
        """The command timeout ``set_timeout`` put in force (None: ``unset_timeout``, the server's
        default): the deadline for every answer becomes that timeout plus ``ANSWER_GRACE_SECONDS``,
        so the server's answer about a slow site always comes before this side gives up on it."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 1e6:
            seconds = None  # an answer that is no timeout (a hostile server's) leaves the server's default
        self.command_timeout = seconds
        self.request_timeout = (seconds or SERVER_COMMAND_TIMEOUT) + ANSWER_GRACE_SECONDS

    def where(self) -> str:
        """Who answers, for a message a person reads (``AsyncClient``: with the server's address)."""
        return self.peer

    def no_answer(self, cmd: str, seconds: float) -> NoAnswer:
        """The error of a request whose answer did not come within ``seconds``."""
        if self.command_timeout is None:
            rule = (f"the server's command timeout of {SERVER_COMMAND_TIMEOUT:g} s, which set_timeout changes, "
                    f"plus {ANSWER_GRACE_SECONDS:g} s")
        else:
            rule = f"this session's command timeout of {self.command_timeout:g} s plus {ANSWER_GRACE_SECONDS:g} s"
        if seconds != self.request_timeout:
            rule = "this request's own deadline"
        cmd = USER_COMMAND.get() or cmd
        return NoAnswer(f"{self.where()} did not answer {cmd} within {seconds:g} s ({rule}){self.after_no_answer}")

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

    # -- requests ------------------------------------------------------------------------

    def send_ping(self) -> None:
        """A heartbeat's ping (``console.wire.heartbeat``), to a peer that listed ``heartbeat``; its pong
        is read as any frame is."""
        if self._writer is not None and not self._writer.is_closing():
            self._last_ping += 1
            self._send({"k": "ping", "id": self._last_ping})

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
        head_rule: Callable[[Any], object] | None = None, rows: int | None = None, under: str | None = None,
    ) -> Any:
        request_id = self._last_id = next(self._ids)
        pending = Pending(asyncio.get_running_loop(), streamed, cmd, max_bytes, head_rule)
        cut_short = False
        self._pending[request_id] = pending
        uploading = upload is not None
        deadline: float | None = None
        try:
            self._send({"k": "req", "id": request_id, "cmd": cmd, "args": args or {}, "stream": uploading})
            if upload is not None:
                cut_short = await self._send_file(request_id, upload, pending)
                uploading = False  # its end (or cancel) is sent: a later cancel would name no upload
            assert self._writer is not None
            await self._writer.drain()
            # A JSON answer (list, meta, status) must be whole by then, not only begun: its pace alone
            # would let a server trickling it hold the command for minutes. Streams keep their pace rules.
            deadline = asyncio.get_running_loop().time() + (timeout or self.request_timeout)
            frame = await within(asyncio.shield(pending.future), timeout or self.request_timeout)
        except asyncio.CancelledError:
            def rest(head: Any) -> Coroutine[Any, Any, Any]:  # a big JSON answer's rest, from its chunks
                assert pending.chunks is not None
                return read_json_answer(cmd, pending.chunks, timeout or self.request_timeout, head.header.get("size"),
                                        self.refuse)

            if upload is None and acts and not streamed:
                # Sent: the server acts on it whatever we do now (``acts``: a command that changes
                # something), so its answer is awaited and handed on, never a "cancelled" that is untrue.
                await late_answer(cmd, pending, timeout or self.request_timeout,
                                  "the cancel came after the request was sent", rest)
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
                                  "the cancel came after the upload reached the server", rest)
        except TimeoutError:
            if streamed and upload is None:
                self._cancel_download(request_id)
            raise self.no_answer(cmd, timeout or self.request_timeout) from None
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
        if header.get("json") and rows is not None:
            assert pending.chunks is not None
            try:
                return await read_json_rows(cmd, pending.chunks, timeout or self.request_timeout, header.get("size"),
                                            self.refuse, rows, lambda: self._pending.pop(request_id, None), under=under,
                                            deadline=deadline)
            finally:  # its rest (given up on, refused, or its reader cancelled) is dropped as it comes, not queued
                self._pending.pop(request_id, None)
        if rows is not None:  # the whole answer in its head (parsed with its frame: at most MAX_HEADER_BYTES)
            data = header.get("data")
            if under is not None:
                data = data.get(under, []) if isinstance(data, dict) else None
            if not isinstance(data, list):
                raise NoConnection(f"the answer to {cmd} is not a JSON list of rows"
                                   + (f" in {under!r}" if under is not None else ""))
            return data[:rows]
        if header.get("json"):
            assert pending.chunks is not None
            reading = read_json_answer(cmd, pending.chunks, timeout or self.request_timeout, header.get("size"),
                                       self.refuse, deadline=deadline)
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

    async def request_rows(self, cmd: str, args: dict[str, Any] | None = None, *, keep: int,
                           under: str | None = None, timeout: float | None = None) -> list[Any]:
        """The first ``keep`` rows of ``cmd``'s answer, a JSON list (or an object's member ``under``),
        for a question a person types on while it is answered (completion's jobs and sites): a
        streamed answer is parsed a row at a time with the loop handed back between slices, and what
        comes past ``keep`` rows is dropped unparsed (``console.wire.json_rows``). NoConnection for
        an answer of another shape."""
        await self._ensure()
        return await self._roundtrip(cmd, args, timeout=timeout, rows=keep, under=under)

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
                        item = await within(pending.chunks.get(), wait)
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
        if task is not None and not task.done():
            self._closing_here = True  # what the read loop sees next is this close, not the peer's
        if writer is not None:
            writer.close()
            try:
                await within(writer.wait_closed(), 1.0)
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

