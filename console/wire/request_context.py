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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from console.commands import CommandSpec
from console.provision.certs import CertIdentity
from console.wire.errors import ErrorType, RemoteError

log = logging.getLogger("console.wire.serving")

#: Chunks of an upload queued ahead of its handler (the peer is not read further meanwhile).
UPLOAD_QUEUE_CHUNKS = 8


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

    def push_event(self, topic: str, data: dict[str, Any]) -> None: ...

    async def event_room(self, timeout: float) -> bool: ...

    def has_event_room(self) -> bool: ...


#: Queue marker: the client cancelled the upload (or the connection went away).
CANCELLED = object()


class Upload:
    def __init__(self) -> None:
        # Items: a chunk, None at the end, or CANCELLED.
        self.queue: asyncio.Queue[Any] = asyncio.Queue(UPLOAD_QUEUE_CHUNKS)
        self.abandoned = False
        #: Why its handler refused it part-way (past a size limit): the serving end reads no more
        #: of it and drops the connection when the rest is still coming.
        self.refused: str | None = None

    def stop(self, marker: Any) -> None:
        """Stop accepting chunks and wake the consumer with ``marker``."""
        self.abandoned = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(marker)


@dataclass(slots=True)
class RequestContext:
    connection: Peer
    spec: CommandSpec
    request_id: int
    _upload: Upload | None = None

    @property
    def server(self) -> Any:
        return self.connection.server

    @property
    def user(self) -> User:
        assert self.connection.user is not None
        return self.connection.user

    async def upload_chunks(self) -> AsyncIterator[bytes]:
        if self._upload is None:
            raise RemoteError(ErrorType.PROTOCOL, f"{self.spec.name} expects an upload stream")
        while (chunk := await self._upload.queue.get()) is not None:
            if chunk is CANCELLED:
                raise RemoteError(ErrorType.INVALID_ARGUMENT, "upload cancelled; nothing was stored")
            yield chunk

    async def receive_upload(self, path: Path, max_bytes: int, *, sync: bool = True) -> int:
        """Write the upload to ``path`` and sync it (unless ``sync`` is False: a transient file, such
        as a task's model, need not survive a crash); refuse past ``max_bytes``."""
        total = 0
        try:
            with open(path, "wb") as out:
                async for chunk in self.upload_chunks():
                    total += len(chunk)
                    if total > max_bytes:
                        if self._upload is not None:
                            self._upload.refused = f"its upload to {self.spec.name} went past the limit of " \
                                                   f"{max_bytes} bytes"
                        raise RemoteError(
                            ErrorType.INVALID_ARGUMENT,
                            f"upload exceeds the server's limit of {max_bytes} bytes; make the job smaller",
                        )
                    out.write(chunk)
                out.flush()
                if sync:
                    os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
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
