"""What a request handler gets and gives on a served connection: the request's context (its
peer, its command, its upload stream), the logged-in ``User``, a ``Download`` answer, and
the ``Handler`` and ``Host`` types a serving part (the server, a site) supplies.

Used by ``console.wire.serving``, which reads the frames and runs the handlers; nothing
here reads or writes a socket.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from console.commands import CommandSpec
from console.provision.certs import CertIdentity
from console.wire.errors import ErrorType, RemoteError
from console.wire.pace import DEFAULT_PACE, Pace
from console.wire.upload_budget import UploadBudget
from console.within import within

log = logging.getLogger("console.wire.serving")

#: Chunks of an upload queued ahead of its handler (the peer is not read further meanwhile).
UPLOAD_QUEUE_CHUNKS = 8
#: The key in ``RequestContext.notes`` of the effect ``finish`` runs (left out of the audit line).
FINISHING = "_finishing"
#: Effects still running after their request was cancelled: held here so none is collected early.
_UNFINISHED: set[asyncio.Future[Any]] = set()


@dataclass(frozen=True, slots=True)
class User:
    name: str
    org: str
    role: str


@dataclass(slots=True)
class Download:
    """A handler's answer that streams a file after a JSON head; ``path`` is removed afterwards."""

    path: Path
    head: dict[str, Any]


@dataclass(slots=True)
class StreamedParts:
    """A handler's answer that streams ``parts`` one after another as one body after a JSON head:
    bytes, or files the handler opened. A file is sent from where it lies, never copied first, so
    the first byte goes at once; being open, it is sent whole even if it is removed meanwhile. The
    files are closed when the stream ends, however it ends (``close``). ``sizes`` are the parts'
    sizes when they were opened: what is announced and sent."""

    head: dict[str, Any]
    parts: list[bytes | BinaryIO]
    sizes: list[int]

    @classmethod
    def of(cls, head: dict[str, Any], parts: list[bytes | BinaryIO]) -> StreamedParts:
        sizes = [len(part) if isinstance(part, bytes) else os.fstat(part.fileno()).st_size for part in parts]
        return cls(head, parts, sizes)

    def close(self) -> None:
        for part in self.parts:
            if not isinstance(part, bytes):
                part.close()


async def build_to_send(build: Callable[[Path], object], out: Path) -> Path:
    """``out``, made by ``build(out)`` in a thread: the file a handler answers with as a ``Download``.
    A thread cannot be stopped, so when the request ends first (its requester went away: the task is
    cancelled) the file is removed once the thread is done, and a build that fails leaves none
    either: nothing is left behind however the request ends."""
    work = asyncio.ensure_future(asyncio.to_thread(build, out))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        work.add_done_callback(lambda _: out.unlink(missing_ok=True))
        raise
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


class Peer(Protocol):
    """What a handler and its host see of the connection a request came on (its certificate's
    identity, its login, its settings) and may do with it (push events to it, pace them).
    ``console.wire.serving.ServedConnection`` is the one there is."""

    server: Any  # the Host serving it
    identity: CertIdentity
    peer: Any  # the socket's peer address
    peer_cert_der: bytes | None
    user: User | None  # set by the host's login
    refusal: str | None  # set by a host that will refuse this peer at login
    command_timeout: float | None  # seconds its commands give sites, when the session set its own

    @property
    def closed(self) -> bool: ...

    def push_event(self, topic: str, data: dict[str, Any], shared: dict[str, bytes] | None = None) -> None: ...

    async def event_room(self, timeout: float) -> bool: ...

    def has_event_room(self) -> bool: ...


#: Queue marker: the client cancelled the upload (or the connection went away).
CANCELLED = object()


class _Held:
    """A chunk read from the peer and not yet taken by its handler; ``let_go`` once (taken or dropped)."""

    __slots__ = ("chunk", "release")

    def __init__(self, chunk: bytes, release: Callable[[int], None] | None) -> None:
        self.chunk, self.release = chunk, release

    def let_go(self) -> bytes:
        release, self.release = self.release, None
        if release is not None:
            release(len(self.chunk))
        return self.chunk


class Upload:
    """An upload's chunks between the serving end, which reads them (``put``), and its handler,
    which takes them (``get``). ``release(n)``: called once for each chunk's ``n`` bytes when the
    handler takes it or it is dropped (the upload stopped): what the identity holds in flight
    (``console.wire.request_budget``)."""

    def __init__(self, release: Callable[[int], None] | None = None) -> None:
        # Items: a _Held chunk, None at the end, or CANCELLED.
        self.queue: asyncio.Queue[Any] = asyncio.Queue(UPLOAD_QUEUE_CHUNKS)
        self.abandoned = False
        self._release = release
        #: Why its handler refused it part-way (past a size limit): the serving end reads no more
        #: of it and drops the connection when the rest is still coming.
        self.refused: str | None = None

    async def put(self, chunk: bytes) -> None:
        """Queue a chunk for the handler (waiting while the queue is full: the peer is not read meanwhile)."""
        held = _Held(chunk, self._release)
        await self.queue.put(held)
        if self.abandoned:  # stopped while it waited: nobody takes it
            held.let_go()

    async def get(self) -> Any:
        """The next chunk (bytes), None at the end, or CANCELLED."""
        item = await self.queue.get()
        return item.let_go() if isinstance(item, _Held) else item

    def stop(self, marker: Any) -> None:
        """Stop accepting chunks and wake the consumer with ``marker``."""
        self.abandoned = True
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, _Held):
                item.let_go()
        self.queue.put_nowait(marker)


@dataclass(slots=True)
class RequestContext:
    connection: Peer
    spec: CommandSpec
    request_id: int
    _upload: Upload | None = None
    #: What the handler found out that the host's audit trail records (``job_id``: the job resolved).
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> Any:
        return self.connection.server

    async def finish(self, effect: Awaitable[Any]) -> Any:
        """``effect``'s result: a command's commit and what announces it (the stored job, its
        SUBMITTED event, the audit's ``new_job_id``), run to its end even if the request is
        cancelled meanwhile (its connection closed: a thread's write cannot be called back anyway).
        The serving end then records the request once the effect has ended, by its outcome: done
        (the answer undelivered) or the error it raised. One effect per request."""
        task = asyncio.ensure_future(effect)
        self.notes[FINISHING] = task
        _UNFINISHED.add(task)
        task.add_done_callback(_UNFINISHED.discard)
        return await asyncio.shield(task)

    @property
    def user(self) -> User:
        assert self.connection.user is not None
        return self.connection.user

    async def upload_chunks(self, pace: Pace | None = None) -> AsyncIterator[bytes]:
        """The upload's chunks as they come. With ``pace``, its bytes must keep up with it counted
        from this call (``floor_seconds + received / min_bytes_per_second``): one that falls behind,
        a peer that sent a little and went silent, say, is refused at once (RemoteError)."""
        if self._upload is None:
            raise RemoteError(ErrorType.PROTOCOL, f"{self.spec.name} expects an upload stream")
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        while True:
            if pace is None:
                chunk = await self._upload.get()
            else:
                left = started + pace.allowed_seconds(received) - loop.time()
                try:
                    chunk = await within(self._upload.get(), max(left, 0.0))
                except TimeoutError:
                    raise RemoteError(ErrorType.INVALID_ARGUMENT,
                                      f"upload came too slowly: {received} bytes in {loop.time() - started:.0f} s, "
                                      f"under the pace of {pace.rule()}; cut off and nothing was stored") from None
            if chunk is None:
                return
            if chunk is CANCELLED:
                raise RemoteError(ErrorType.INVALID_ARGUMENT, "upload cancelled; nothing was stored")
            received += len(chunk)
            yield chunk

    async def receive_upload(self, path: Path, max_bytes: int, *, sync: bool = True) -> int:
        """Write the upload to ``path`` and sync it (unless ``sync`` is False: a transient file, such
        as a task's model, need not survive a crash); refuse past ``max_bytes``. The upload keeps
        the host's ``upload_pace`` (default: ``console.wire.pace.DEFAULT_PACE``) and its bytes count
        against the host's ``upload_budget`` for the peer's identity, if the host has one. Refused
        (RemoteError) or failed, the partial file is removed at once."""
        pace: Pace = getattr(self.server, "upload_pace", DEFAULT_PACE)
        budget: UploadBudget | None = getattr(self.server, "upload_budget", None)
        total = 0
        try:
            with (budget.account(self.connection.identity.cn) if budget is not None else nullcontext(None)) as take, \
                    open(path, "wb") as out:
                async for chunk in self.upload_chunks(pace):
                    total += len(chunk)
                    if total > max_bytes:
                        if self._upload is not None:
                            self._upload.refused = f"its upload to {self.spec.name} went past the limit of " \
                                                   f"{max_bytes} bytes"
                        raise RemoteError(
                            ErrorType.INVALID_ARGUMENT,
                            f"upload exceeds the server's limit of {max_bytes} bytes; make the job smaller",
                        )
                    if take is not None:
                        take(len(chunk))
                    out.write(chunk)
                out.flush()
                if sync:
                    os.fsync(out.fileno())
        except BaseException as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                log.error("upload to %s failed: disk full", path)
                raise RemoteError(ErrorType.INTERNAL, "the server's disk is full; nothing was stored. "
                                                      "Ask the operator to free space, then submit again") from None
            raise
        return total


Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[Any]]


class Host(Protocol):
    """What a served connection needs from the part serving it (the server, or a site)."""

    handlers: dict[str, Handler]
    specs: dict[str, CommandSpec]

    def login(self, connection: Peer, args: dict[str, Any]) -> dict[str, Any]: ...

    def authorize(self, connection: Peer, spec: CommandSpec) -> None:
        """Raise AuthorizationError if the logged-in peer may not run ``spec`` at all."""
