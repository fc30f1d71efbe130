"""The serving end of a connection: login, request multiplexing, uploads, downloads, pushes.

The server serves admins this way, and a site serves its server the same way on the
connection the site opened. A ``Host`` supplies the login check, the command specs and
the handlers (``console.wire.request_context``: those types, and what a handler gets). Each
request runs in its own task so a slow download never holds up a quick command on the same
connection; its answer goes out through ``console.wire.replies`` (one frame, or a stream). A host
with an ``audit_request`` method (the server's audit trail) is told how every request ended: the
command, its arguments, what the handler noted (``RequestContext.notes``) and the error, if any.
Pushed events are dropped for a peer whose socket buffer is full rather than letting one slow
reader grow our memory.

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
per host by its ``reply_budget`` (console.wire.budget), held until the peer has read them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from console.commands import ArgError, Transfer
from console.provision.certs import CertIdentity, identity_from_peercert
from console.wire.budget import ReplyBudget
from console.wire.errors import ErrorType, RemoteError
from console.wire.frames import Frame, FrameError, read_frame
from console.wire.replies import ReplyWriter
from console.wire.request_context import (
    CANCELLED,
    FINISHING,
    Download,
    RequestContext,
    StreamedParts,
    Upload,
    User,
)

log = logging.getLogger("console.wire.serving")

PROTOCOL_VERSION = 1
LOGIN_TIMEOUT_SECONDS = 10.0
#: Pushed events are dropped for a peer with more than this many bytes unsent.
MAX_EVENT_BACKLOG = 4 << 20
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
        self.events_dropped = 0
        self.max_in_flight = getattr(server, "max_in_flight", MAX_IN_FLIGHT)
        writer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.replies = ReplyWriter(writer, self.identity.cn, lambda: self.closed, self._cancelled.__contains__)

    # -- sending -----------------------------------------------------------------------

    async def event_room(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` seconds) until the unsent events are below half the backlog a
        ``push_event`` is dropped past: a sender of many events in a row (a resumed log) paces
        itself here instead of losing them. False when the peer reads too slowly or is gone."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.closed and self.writer.transport.get_write_buffer_size() > MAX_EVENT_BACKLOG // 2:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return not self.closed

    def has_event_room(self) -> bool:
        """Whether the unsent events are below half the backlog a ``push_event`` is dropped past
        (what ``event_room`` waits for)."""
        return not self.closed and self.writer.transport.get_write_buffer_size() <= MAX_EVENT_BACKLOG // 2

    def push_event(self, topic: str, data: dict[str, Any]) -> None:
        if self.closed or self.user is None:
            return
        if self.writer.transport.get_write_buffer_size() > MAX_EVENT_BACKLOG:
            self.events_dropped += 1
            return
        try:
            self.replies.write({"k": "event", "topic": topic, "data": data})
        except FrameError as exc:  # an event must never fail the status change that caused it
            self.events_dropped += 1
            log.error("event %s not sent to %s: %s", topic, self.identity.cn, exc)

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
            frame = await read_frame(self.reader)
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
            else:
                raise FrameError(f"unexpected frame kind {kind!r}")

    async def _feed_upload(self, frame: Frame) -> None:
        request_id = frame.header.get("id")
        upload = self._uploads.get(request_id) if isinstance(request_id, int) else None
        if upload is None:
            raise FrameError(f"{frame.kind} frame for unknown upload {request_id!r}")
        if frame.kind == "data":
            if not upload.abandoned:
                await upload.queue.put(frame.body)
            return
        del self._uploads[request_id]
        if not upload.abandoned:
            if frame.kind == "cancel":
                upload.stop(CANCELLED)
            else:
                await upload.queue.put(None)

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
        if self._in_flight() >= self.max_in_flight:
            error = RemoteError(ErrorType.INTERNAL, f"too many requests in flight on this connection (limit "
                                                    f"{self.max_in_flight}); wait for answers before sending more")
            self.replies.write({"k": "res", "id": request_id, "ok": False, "error": error.to_wire()})
            if frame.header.get("stream"):
                if len(self._uploads) >= 2 * self.max_in_flight:
                    raise FrameError(f"more than {2 * self.max_in_flight} uploads left open")
                upload = self._uploads[request_id] = Upload()  # its data frames are dropped until its end
                upload.stop(CANCELLED)
            return
        upload = None
        if frame.header.get("stream"):
            upload = self._uploads[request_id] = Upload()
        task = asyncio.create_task(self._run_request(request_id, frame.header, upload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        spec = self.server.specs.get(frame.header.get("cmd")) if isinstance(frame.header.get("cmd"), str) else None
        if spec is not None and spec.transfer is Transfer.DOWNLOAD:
            self._downloads[request_id] = task
            task.add_done_callback(lambda done: self._download_done(request_id, done))

    async def _run_request(self, request_id: int, header: dict[str, Any], upload: Upload | None) -> None:
        cmd = header.get("cmd")
        budget: ReplyBudget | None = getattr(self.server, "reply_budget", None)
        if budget is None or self.user is None or cmd not in getattr(self.server, "large_replies", ()):
            await self._answer(request_id, cmd, header, upload)
            return
        # A large answer holds a slot from before it is built until the peer has read it down to
        # the high-water mark, so what unread large answers hold is bounded (see console.wire.budget).
        try:
            async with budget.slot(self.identity.cn, str(cmd)):
                await self._answer(request_id, cmd, header, upload)
        except RemoteError as exc:
            if upload is not None:
                upload.stop(CANCELLED)
            self._audit(cmd, header, {}, exc)
            await self.replies.error(request_id, exc)

    async def _answer(self, request_id: int, cmd: Any, header: dict[str, Any], upload: Upload | None) -> None:
        notes: dict[str, Any] = {}  # what the handler records for the host's audit (the job it resolved)
        try:
            result = await self._dispatch(request_id, cmd, header.get("args"), upload, notes)
        except RemoteError as exc:
            self._audit(cmd, header, notes, exc)
            self.replies.write({"k": "res", "id": request_id, "ok": False, "error": exc.to_wire()})
            if upload is not None and upload.refused and self._uploads.get(request_id) is upload:
                self._refused_upload = request_id, upload.refused  # its next frame decides (_read_frames)
            await self.replies.drain_quietly()
            return
        except asyncio.CancelledError as exc:
            self._audit_when_finished(cmd, header, notes, exc)
            raise
        except (TimeoutError, ConnectionError) as exc:  # a peer we asked is slow or gone: one line, no traceback
            log.warning("command %s from %s failed: %s", cmd, self.identity.cn, exc or type(exc).__name__)
            error = RemoteError(ErrorType.INTERNAL, f"{cmd} failed: {exc or type(exc).__name__}; try again later")
            self._audit(cmd, header, notes, error)
            await self.replies.error(request_id, error)
            return
        except Exception as exc:  # a handler bug must not take the connection down
            log.exception("command %s from %s failed", cmd, self.identity.cn)
            error = RemoteError(ErrorType.INTERNAL, f"server error in {cmd}: {type(exc).__name__}: {exc}")
            self._audit(cmd, header, notes, error)
            await self.replies.error(request_id, error)
            return
        finally:
            if upload is not None:
                upload.stop(CANCELLED)
        self._audit(cmd, header, notes, None)
        if isinstance(result, Download):
            await self.replies.file(request_id, cmd, result)
        elif isinstance(result, StreamedParts):
            await self.replies.parts(request_id, cmd, result)
        else:
            await self.replies.result(request_id, cmd, result)

    def _audit_when_finished(self, cmd: Any, header: dict[str, Any], notes: dict[str, Any],
                             cancelled: asyncio.CancelledError) -> None:
        """A cancelled request's audit: as cancelled, unless its handler had reached an effect that
        runs to its end whatever happens (``RequestContext.finish``): then, once that has ended, as
        its outcome (done, the answer undelivered; or its error), with what it noted (``new_job_id``)."""
        effect = notes.get(FINISHING)
        if effect is None:
            self._audit(cmd, header, notes, cancelled)
            return

        def record(done: asyncio.Future[Any]) -> None:
            error: BaseException | None = cancelled if done.cancelled() else done.exception()
            if error is None:
                notes["answer"] = "not delivered: the connection closed before it"
            self._audit(cmd, header, notes, error)

        if effect.done():
            record(effect)
        else:
            effect.add_done_callback(record)

    def _audit(self, cmd: Any, header: dict[str, Any], notes: dict[str, Any], error: BaseException | None) -> None:
        """Tell a host that keeps an audit trail (the server: ``audit_request``) how a request ended;
        its failure never fails the request."""
        audit = getattr(self.server, "audit_request", None)
        if audit is None:
            return
        notes = {key: value for key, value in notes.items() if key != FINISHING}
        try:
            audit(self, cmd, header.get("args"), notes, error)
        except Exception:
            log.exception("audit of %s from %s failed", cmd, self.identity.cn)

    async def _dispatch(self, request_id: int, cmd: Any, args: Any, upload: Upload | None,
                        notes: dict[str, Any]) -> Any:
        if cmd == "login":
            if self.user is not None:
                raise RemoteError(ErrorType.PROTOCOL, "already logged in on this connection")
            return self.server.login(self, args if isinstance(args, dict) else {})
        if self.user is None:
            raise RemoteError(ErrorType.AUTHENTICATION, "log in first: the first request must be 'login'")
        handler = self.server.handlers.get(cmd) if isinstance(cmd, str) else None
        if handler is None:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"unknown command {cmd!r}")
        spec = self.server.specs[cmd]
        if (spec.transfer is Transfer.UPLOAD) != (upload is not None):
            raise RemoteError(ErrorType.PROTOCOL, f"{cmd}: upload stream {'missing' if upload is None else 'unexpected'}")
        try:
            clean = spec.validate_wire_args(args)
        except ArgError as exc:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
        self.server.authorize(self, spec)
        return await handler(RequestContext(self, spec, request_id, upload, notes), clean)

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
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)
        except (ConnectionError, OSError, TimeoutError):
            pass

