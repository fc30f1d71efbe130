"""How many requests one identity may have open on a host at once, and how many header bytes they hold.

A request's header is parsed into Python objects and kept while the request runs or waits (for a
large-answer slot, for a site): a header of ``{}`` entries holds ~25 times its size, so 40 waiting
requests of 1 MiB headers took a server past 1 GB (security report 9, finding 1), and the
per-connection cap (``max_in_flight``) times the connections of one identity allowed ~1000 of them.
Here every identity (a certificate CN, known from the TLS handshake, before login) gets a count and
a byte budget over all its connections: a request past either is answered at once with an error
naming the limit, and nothing of it is kept. Owns only the counting; ``ServedConnection`` asks it
for each request frame and gives the place back when the request ends.

Bodies count too. A request has none (``ServedConnection`` refuses one at its frame, unread: 16
connections sending 8 MiB bodies on ``list_jobs`` took a server from 169 to 375 MiB, security report
10, finding 5); an upload's chunks are read into memory before its handler writes them out. So the
chunks one identity has read and not yet taken by their handlers are bounded as well: a connection
whose chunk would pass ``body_bytes_per_identity`` is not read on until that identity's handlers have
taken some (one chunk always fits), which they do as fast as they write.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

#: Requests one identity may have open at once over all its connections.
MAX_OPEN_REQUESTS_PER_IDENTITY = 256
#: Header bytes (as received) of those requests: with ~25 bytes of Python objects per header byte
#: at worst, ~25 MiB held per identity.
MAX_OPEN_REQUEST_BYTES_PER_IDENTITY = 1 << 20
#: Bytes of upload chunks one identity may hold read and not yet taken, over all its connections
#: (~15 chunks: two uploads at full speed never wait on it).
MAX_HELD_BODY_BYTES_PER_IDENTITY = 16 << 20


@dataclass
class RequestBudget:
    """Open requests per identity; one event loop."""

    per_identity: int = MAX_OPEN_REQUESTS_PER_IDENTITY
    bytes_per_identity: int = MAX_OPEN_REQUEST_BYTES_PER_IDENTITY
    body_bytes_per_identity: int = MAX_HELD_BODY_BYTES_PER_IDENTITY
    _count: dict[str, int] = field(default_factory=dict)
    _bytes: dict[str, int] = field(default_factory=dict)
    _bodies: dict[str, int] = field(default_factory=dict)
    _room: dict[str, asyncio.Event] = field(default_factory=dict)
    refused: int = 0

    def open(self, identity: str, header_bytes: int) -> str | None:
        """Count one more request of ``identity`` whose header took ``header_bytes``; why it is
        refused (a sentence naming the limit) instead, counting nothing."""
        count, held = self._count.get(identity, 0), self._bytes.get(identity, 0)
        why = None
        if count >= self.per_identity:
            why = (f"too many requests open for {identity} over all its connections (limit {self.per_identity}, "
                   "connection_limits.max_open_requests_per_identity); wait for answers before sending more")
        elif held + header_bytes > self.bytes_per_identity:
            why = (f"the open requests of {identity} would hold {held + header_bytes} bytes of request headers "
                   f"(limit {self.bytes_per_identity}, connection_limits.max_open_request_bytes_per_identity); "
                   "wait for answers before sending more")
        if why is not None:
            self.refused += 1
            return why
        self._count[identity] = count + 1
        self._bytes[identity] = held + header_bytes
        return None

    def close(self, identity: str, header_bytes: int) -> None:
        """The request ``open`` counted has ended."""
        count = self._count.get(identity, 0) - 1
        if count <= 0:
            self._count.pop(identity, None)
            self._bytes.pop(identity, None)
            return
        self._count[identity] = count
        self._bytes[identity] = max(0, self._bytes.get(identity, 0) - header_bytes)

    def open_requests(self, identity: str) -> int:
        """Requests of ``identity`` open now (for tests and the reliability report)."""
        return self._count.get(identity, 0)

    async def hold_body(self, identity: str, size: int) -> None:
        """Count ``size`` bytes of an upload chunk ``identity`` has sent, once they fit beside what its
        handlers have not taken yet (at once when it holds none); ``release_body`` gives them back."""
        while (held := self._bodies.get(identity, 0)) and held + size > self.body_bytes_per_identity:
            await self._room.setdefault(identity, asyncio.Event()).wait()
        self._bodies[identity] = held + size

    def release_body(self, identity: str, size: int) -> None:
        """A chunk ``hold_body`` counted was taken by its handler, or dropped."""
        left = self._bodies.get(identity, 0) - size
        if left > 0:
            self._bodies[identity] = left
        else:
            self._bodies.pop(identity, None)
        room = self._room.pop(identity, None)
        if room is not None:
            room.set()

    def held_body_bytes(self, identity: str) -> int:
        """Bytes of upload chunks ``identity`` holds read and not taken (for tests)."""
        return self._bodies.get(identity, 0)
