"""The serving end of a connection: login, request multiplexing, uploads, downloads, pushes.

The server serves admins this way, and a site serves its server the same way on the
connection the site opened. A ``Host`` supplies the login check, the command specs and
the handlers (``console.wire.request_context``: those types, and what a handler gets). Each
request runs in its own task so a slow download never holds up a quick command on the same
connection; its answer goes out through ``console.wire.replies`` (one frame, or a stream). A host
with an ``audit_request`` method (the server's audit trail) is told how every request ended
(``console.wire.request_audit``).
Pushed events are dropped for a peer whose socket buffer is full rather than letting one slow
reader grow our memory (``console.wire.pushing``).

What one peer can make us hold is bounded: at most ``MAX_IN_FLIGHT`` requests at once on a
connection (more are answered with an error at once), no new frame is read while replies
the peer has not read pile up past ``WRITE_HIGH_WATER`` (TCP then slows the peer down), and
every request's state (its task, its upload queue) is freed when it ends or the connection
closes. An upload its handler refuses part-way (past its size limit) while the rest is still
coming is read no further: the refusal is answered; unless the next frame is that upload's end
(or cancel), an ``error`` frame says why the connection goes, that frame is the last one read,
and the connection is cut off once the peer has had ``DROP_GRACE_SECONDS`` to read the two. A
download stops when its peer goes away: at a ``cancel`` frame naming it (a peer that gave up on
it: Ctrl-C, its timeout) or when the connection closes; a ``cancel`` that crosses the answer's
end is ignored. Large answers (the host's ``large_replies``) are bounded in number per identity and
per host by its ``reply_budget`` (console.wire.budget), held while the peer reads them: one it reads
nothing of for ``LARGE_ANSWER_STALL_SECONDS`` is dropped (console.wire.replies). Open requests are
bounded per identity over all its connections by the host's ``request_budget``
(console.wire.request_budget); before login a frame is at most a login's size (console.wire.frames),
and only an upload's data frame has a body (console.wire.body_rule). A request's checks before its
handler runs are ``console.wire.request_dispatch``'s.
A host's ``always_served`` commands (a site's heartbeat) are never refused for ``max_in_flight``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from console.answer_deadline import answer_by, seconds_left
from console.commands import Transfer
from console.provision.certs import CertIdentity, identity_from_peercert
from console.wire.body_rule import judge_body
from console.wire.budget import ReplyBudget
from console.wire.errors import ErrorType, RemoteError
from console.wire.frames import (
    BEFORE_LOGIN,
    REQUESTS,
    BodyRefused,
    Frame,
    FrameError,
    read_frame,
)
from console.wire.pushing import EventPush
from console.wire.replies import LARGE_ANSWER_STALL_SECONDS, STALL_LIMIT, AnswerStalled, ReplyWriter
from console.wire.request_audit import audit, audit_when_finished
from console.wire.request_budget import RequestBudget
from console.wire.request_context import (
    CANCELLED,
    Download,
    StreamedParts,
    Upload,
    User,
)
from console.wire.request_dispatch import dispatch
from console.within import within

log = logging.getLogger("console.wire.serving")

PROTOCOL_VERSION = 1
LOGIN_TIMEOUT_SECONDS = 10.0
#: Requests one connection may have open at once (running, or an upload not yet ended).
MAX_IN_FLIGHT = 64
#: Past this many unsent bytes the connection stops reading the peer until it reads its replies.
WRITE_HIGH_WATER = 1 << 20
#: Seconds a dropped peer's connection has to read our last frames (a refusal, the ``error`` frame)
#: before it is cut off; nothing of the peer's is read meanwhile.
DROP_GRACE_SECONDS = 2.0


class ServedConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Any) -> None:
        self.reader = reader
        self.writer = writer
        self.server = server  # the Host: the FL server for admins, a site for its server
        self.peer = writer.get_extra_info("peername")
        self.identity: CertIdentity = identity_from_peercert(writer.get_extra_info("peercert") or {})
        ssl_object = writer.get_extra_info("ssl_object")
        self.peer_cert_der: bytes | None = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        self.user: User | None = None
        self.refusal: str | None = None  # set by a host that will refuse this peer at login
        self.lost_by: BaseException | None = None  # why the link broke, when it did (a TLS alert, say)
        self.command_timeout: float | None = None
        self._uploads: dict[int, Upload] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._downloads: dict[int, asyncio.Task[None]] = {}  # running download requests, by id (a cancel stops one)
        self._cancelled: set[int] = set()  # of those, the ones a cancel frame stopped
        self.closed = False
        self.dropping: str | None = None  # why this end is dropping the peer (an upload refused part-way)
        self._refused_upload: tuple[int, str] | None = None  # (id, why) of an upload refused part-way
        self.max_in_flight = getattr(server, "max_in_flight", MAX_IN_FLIGHT)
        writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.replies = ReplyWriter(writer, self.identity.cn, lambda: self.closed, self._cancelled.__contains__)
        self.events = EventPush(writer.transport, self.replies, self.identity.cn, lambda: self.closed)

    # -- sending ---------------------------------------------------------------------------

    async def event_room(self, timeout: float) -> bool:
        return await self.events.room(timeout)  # (``EventPush.room``)

    def has_event_room(self) -> bool:
        return self.events.has_room()

    def push_event(self, topic: str, data: dict[str, Any], shared: dict[str, bytes] | None = None) -> None:
        if self.user is not None:  # (an event is for a logged-in peer only)
            self.events.push(topic, data, shared)

    def say_bye(self, bye: dict[str, Any]) -> None:
        """Queue ``bye`` (``console.wire.goodbye.bye_frame``) as this end's last frame, before ``close``: why it
        closes the link. Not for a link that is going already (dropped, or closed by the peer)."""
        if self.closed or self.dropping is not None or self.writer.transport.is_closing():
            return
        try:
            self.replies.write(bye)
        except (ConnectionError, OSError, RuntimeError):  # the link broke meanwhile: nothing to say it on
            pass

    # -- receiving ---------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            await self._serve_frames()
        except FrameError as exc:
            if self.dropping is not None:  # the connection closing under the frame it was reading
                return
            log.warning("dropping %s (%s): %s", self.peer, self.identity.cn, exc)
            await self.replies.send_quietly({"k": "error", "error": {"type": "ProtocolError", "message": str(exc)}})
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            self.lost_by = exc
            log.info("connection from %s (%s) lost: %s", self.peer, self.identity.cn, exc)
        finally:
            await self.close()

    async def _serve_frames(self) -> None:
        # A peer that got through TLS but does not log in soon is not kept waiting on.
        login_deadline = asyncio.get_running_loop().call_later(LOGIN_TIMEOUT_SECONDS, self._drop_if_anonymous)
        try:
            await self._read_frames()
        finally:
            login_deadline.cancel()

    def _drop_if_anonymous(self) -> None:
        if self.user is None and not self.closed:
            why = f"{self.identity.cn!r} sent no login within {LOGIN_TIMEOUT_SECONDS:.0f} s"
            # A host that sums up failed logins (the server: a certificate holder may do this again and again).
            failures = getattr(self.server, "login_failures", None)
            if failures is not None:
                failures.failed(self.peer, why)
            else:
                log.warning("dropping %s: %s", self.peer, why)
            self.writer.transport.abort()

    async def _read_frames(self) -> None:
        # drain() waits while our unsent replies are above the high-water mark: a peer that
        # sends requests without reading the answers is not read either, so it cannot grow us.
        while not self.closed and self.dropping is None:
            await self.writer.drain()
            # Before login a frame is a login: a few hundred bytes, no body (a certificate of the
            # project, a site's too, must not make us hold megabytes per connection).
            try:
                frame = await read_frame(self.reader, limits=lambda: REQUESTS if self.user is not None else BEFORE_LOGIN,
                                         body_rule=lambda header, size: judge_body(header, size, self._uploads))
            except BodyRefused as exc:
                self._drop(str(exc))  # its body unread: not a byte more than the protocol has
                return
            if frame is None or self.dropping is not None:
                return
            if self._refused_upload is not None:  # the frame after an upload's refusal part-way
                refused_id, why = self._refused_upload
                self._refused_upload = None
                if frame.kind not in ("end", "cancel") or frame.header.get("id") != refused_id:
                    self._drop(why)  # more of it, or anything else while it is owed: not read
                    return
            kind = frame.kind
            if kind == "req":
                self._start_request(frame)
            elif kind == "cancel" and frame.header.get("id") not in self._uploads:
                self._cancel_download(frame.header.get("id"))
            elif kind in ("data", "end", "cancel"):
                await self._feed_upload(frame)
            elif kind == "ping" and self.user is not None:
                self._pong(frame.header.get("id"))
            else:
                raise FrameError(f"unexpected frame kind {kind!r}")

    def _pong(self, ping_id: Any) -> None:
        """Answer a logged-in peer's heartbeat (``console.wire.features``, ``heartbeat``) from the reading
        loop: a pong waits for no handler, so it says the server's loop runs, whatever its commands do.
        A peer that sends pings without reading the pongs stops being read past ``WRITE_HIGH_WATER``."""
        if not isinstance(ping_id, int) or isinstance(ping_id, bool):
            raise FrameError(f"ping without an integer 'id' ({ping_id!r:.40})")
        self.replies.write({"k": "pong", "id": ping_id})

    async def _feed_upload(self, frame: Frame) -> None:
        request_id = frame.header.get("id")
        upload = self._uploads.get(request_id) if isinstance(request_id, int) else None
        if upload is None:
            raise FrameError(f"{frame.kind} frame for unknown upload {request_id!r}")
        if frame.kind == "data":
            if not upload.abandoned:
                budget: RequestBudget | None = getattr(self.server, "request_budget", None)
                if budget is not None:  # the identity's chunks not yet taken count (console.wire.request_budget)
                    await budget.hold_body(self.identity.cn, len(frame.body))
                await upload.put(frame.body)
            return
        del self._uploads[request_id]
        if not upload.abandoned:
            if frame.kind == "cancel":
                upload.stop(CANCELLED)
            else:
                await upload.queue.put(None)

    def _new_upload(self, budget: RequestBudget | None) -> Upload:
        if budget is None:
            return Upload()
        cn = self.identity.cn
        return Upload(lambda size: budget.release_body(cn, size))

    def _cancel_download(self, request_id: Any) -> None:
        """The peer gave up on a download: its stream (and whatever the handler still does for it) stops.
        A cancel naming no running download (it crossed the answer's end) is ignored."""
        task = self._downloads.get(request_id) if isinstance(request_id, int) else None
        if task is not None:
            self._cancelled.add(request_id)
            task.cancel()

    def _download_done(self, request_id: int, task: asyncio.Task[None]) -> None:
        if self._downloads.get(request_id) is task:
            del self._downloads[request_id]
            self._cancelled.discard(request_id)

    def _in_flight(self) -> int:
        # Running requests, plus uploads refused early whose client has not sent their end yet.
        return len(self._tasks) + sum(1 for upload in self._uploads.values() if upload.abandoned)

    def _start_request(self, frame: Frame) -> None:
        request_id = frame.header.get("id")
        if not isinstance(request_id, int):
            raise FrameError("request without an integer 'id'")
        if frame.header.get("stream") and request_id in self._uploads:
            raise FrameError(f"request id {request_id} reused while its upload is open")
        budget: RequestBudget | None = getattr(self.server, "request_budget", None)
        cmd = frame.header.get("cmd")
        exempt = isinstance(cmd, str) and cmd in getattr(self.server, "always_served", ())
        over = None
        if self._in_flight() >= self.max_in_flight and not exempt:
            over = (f"too many requests in flight on this connection (limit {self.max_in_flight}); "
                    "wait for answers before sending more")
        elif budget is not None and not exempt:
            over = budget.open(self.identity.cn, frame.header_bytes)
        if over is not None:
            error = RemoteError(ErrorType.INTERNAL, over)
            self.replies.write({"k": "res", "id": request_id, "ok": False, "error": error.to_wire()})
            if frame.header.get("stream"):
                if len(self._uploads) >= 2 * self.max_in_flight:
                    raise FrameError(f"more than {2 * self.max_in_flight} uploads left open")
                upload = self._uploads[request_id] = self._new_upload(budget)  # its data is dropped until its end
                upload.stop(CANCELLED)
            return
        upload = None
        if frame.header.get("stream"):
            upload = self._uploads[request_id] = self._new_upload(budget)
        task = asyncio.create_task(self._run_request(request_id, frame.header, upload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if upload is not None:  # however its request ended (cancelled before it ran, even), its chunks are let go
            task.add_done_callback(lambda _done: upload.stop(CANCELLED))
        if budget is not None and not exempt:
            cn, size = self.identity.cn, frame.header_bytes
            task.add_done_callback(lambda _done: budget.close(cn, size))
        spec = self.server.specs.get(frame.header.get("cmd")) if isinstance(frame.header.get("cmd"), str) else None
        if spec is not None and spec.transfer is Transfer.DOWNLOAD:
            self._downloads[request_id] = task
            task.add_done_callback(lambda done: self._download_done(request_id, done))

    async def _run_request(self, request_id: int, header: dict[str, Any], upload: Upload | None) -> None:
        cmd = header.get("cmd")
        budget: ReplyBudget | None = getattr(self.server, "reply_budget", None)
        large = getattr(self.server, "large_replies", ())
        if budget is None or self.user is None or not isinstance(cmd, str) or cmd not in large:
            await self._answer(request_id, cmd, header, upload)
            return
        # A large answer holds a slot from before it is built while the peer reads it down to the
        # high-water mark; a peer that reads none of it for LARGE_ANSWER_STALL_SECONDS loses the rest
        # and the slot (console.wire.replies), so unread answers hold slots for seconds, not minutes.
        # Nor does it take a slot while earlier answers on its connection sit unread past the
        # high-water mark (each dropped answer leaves up to a chunk there): it waits while they are
        # read, and is refused once none of them is for that long.
        STALL_LIMIT.set(LARGE_ANSWER_STALL_SECONDS)
        try:
            try:
                await self.replies.room()
            except AnswerStalled as exc:
                raise RemoteError(ErrorType.INTERNAL, f"{cmd}: earlier answers on this connection are unread: "
                                                      f"{exc}") from None
            except (ConnectionError, OSError):
                return  # the connection is gone: its reader notices
            args = header.get("args")
            answer_by(args.get("answer_within") if isinstance(args, dict) else None)  # from its arrival
            async with budget.slot(self.identity.cn, str(cmd), seconds_left(budget.wait_seconds)):
                await self._answer(request_id, cmd, header, upload)
        except RemoteError as exc:
            if upload is not None:
                upload.stop(CANCELLED)
            audit(self, cmd, header, {}, exc)
            await self.replies.error(request_id, exc)

    async def _answer(self, request_id: int, cmd: Any, header: dict[str, Any], upload: Upload | None) -> None:
        notes: dict[str, Any] = {}  # what the handler records for the host's audit (the job it resolved)
        try:
            result = await dispatch(self, request_id, cmd, header.get("args"), upload, notes)
        except RemoteError as exc:
            audit(self, cmd, header, notes, exc)
            self.replies.write({"k": "res", "id": request_id, "ok": False, "error": exc.to_wire()})
            if upload is not None and upload.refused and self._uploads.get(request_id) is upload:
                self._refused_upload = request_id, upload.refused  # its next frame decides (_read_frames)
            await self.replies.drain_quietly()
            return
        except asyncio.CancelledError as exc:
            audit_when_finished(self, cmd, header, notes, exc)
            raise
        except (TimeoutError, ConnectionError) as exc:  # a peer we asked is slow or gone: one line, no traceback
            log.warning("command %s from %s failed: %s", cmd, self.identity.cn, exc or type(exc).__name__)
            error = RemoteError(ErrorType.INTERNAL, f"{cmd} failed: {exc or type(exc).__name__}; try again later")
            audit(self, cmd, header, notes, error)
            await self.replies.error(request_id, error)
            return
        except Exception as exc:  # a handler bug must not take the connection down
            log.exception("command %s from %s failed", cmd, self.identity.cn)
            error = RemoteError(ErrorType.INTERNAL, f"server error in {cmd}: {type(exc).__name__}: {exc}")
            audit(self, cmd, header, notes, error)
            await self.replies.error(request_id, error)
            return
        finally:
            if upload is not None:
                upload.stop(CANCELLED)
        audit(self, cmd, header, notes, None)
        if isinstance(result, Download):
            await self.replies.file(request_id, cmd, result)
        elif isinstance(result, StreamedParts):
            await self.replies.parts(request_id, cmd, result)
        else:
            await self.replies.result(request_id, cmd, result)

    def _drop(self, why: str) -> None:
        """Stop reading the peer now (the frame being read is the last) and close the connection once
        what is written (the refusal's answer, then an ``error`` frame saying ``why``) has gone."""
        if self.dropping is not None or self.closed:
            return
        self.dropping = why
        log.warning("dropping %s (%s): %s; the rest of it is not read", self.peer, self.identity.cn, why)
        self.replies.write({"k": "error", "error": {"type": "ProtocolError", "message": f"{why}; the connection is dropped"}})
        # Nothing more of the peer's is taken in, but the socket stays open a moment: closed with the
        # peer's bytes unread, it would answer them with a reset, and the peer would lose our answer.
        self.writer.transport.pause_reading()
        asyncio.get_running_loop().call_later(DROP_GRACE_SECONDS, self.writer.transport.abort)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        for upload in self._uploads.values():
            upload.stop(CANCELLED)
        if self.dropping is not None:  # not read any more, and cut off at the end of its grace (``_drop``)
            return
        try:
            self.writer.close()
            await within(self.writer.wait_closed(), 2.0)
        except (ConnectionError, OSError, TimeoutError):
            pass

