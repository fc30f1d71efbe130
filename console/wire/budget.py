"""How many large answers a host builds and sends at once: in total, and per identity.

Owns only the counting; the serving connection decides which commands are large (its host's
``large_replies``) and holds a slot from before the handler runs until the answer is handed to
the socket and the socket has drained below its high-water mark, or the peer has read nothing of
it for ``console.wire.replies.LARGE_ANSWER_STALL_SECONDS`` (then the rest is dropped). So the memory of answers
being built or waiting for a peer that does not read is bounded by ``total`` answers, and one
identity can hold at most ``per_identity`` of them however many connections it opens (issue 12:
8 unread sessions of 64 ``get_job_logs`` of a 6 MB log took the server to 3 GiB). A request that
finds no slot waits up to ``wait_seconds`` and is then refused with a clear error; nothing here
touches small commands, so heartbeats and ``list_jobs`` never wait behind large answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from console.wire.errors import ErrorType, RemoteError
from console.within import within

#: Large answers (a 5 MB log, a 1 MB cat) built or being sent at once by one host.
MAX_LARGE_REPLIES = 4
#: Of which one identity (a certificate CN) may hold this many.
MAX_LARGE_REPLIES_PER_IDENTITY = 2
#: How long a large request waits for a slot before it is refused. Longer than a slot can be held by a
#: peer that reads nothing (the time its answer takes to build, a site's log fetched on a loaded host:
#: seconds, plus ``LARGE_ANSWER_STALL_SECONDS``): at 10 s a loaded CI run refused an admin just before
#: the non-readers' slots came free. Well inside the console's own wait for an answer (60 s).
LARGE_REPLY_WAIT_SECONDS = 20.0


class ReplyBudget:
    def __init__(self, total: int = MAX_LARGE_REPLIES, per_identity: int = MAX_LARGE_REPLIES_PER_IDENTITY,
                 wait_seconds: float = LARGE_REPLY_WAIT_SECONDS) -> None:
        self.total = total
        self.per_identity = per_identity
        self.wait_seconds = wait_seconds
        self._all = asyncio.Semaphore(total)
        self._mine: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}  # requests holding or waiting on each identity's semaphore
        self.refused = 0

    def in_use(self) -> int:
        """Slots held now (for tests and the reliability report)."""
        return self.total - self._all._value  # noqa: SLF001 - asyncio.Semaphore has no public count

    @asynccontextmanager
    async def slot(self, identity: str, what: str, wait: float | None = None) -> AsyncIterator[None]:
        """Hold one slot of ``identity`` and one of the host's while the body runs.

        Raises RemoteError (InternalError, a message saying to try again) when none frees up
        within ``wait`` seconds (default ``wait_seconds``; less when the asker waits less:
        ``console.answer_deadline``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.wait_seconds if wait is None else wait)  # for both slots together
        mine = self._mine.setdefault(identity, asyncio.Semaphore(self.per_identity))
        self._users[identity] = self._users.get(identity, 0) + 1
        try:
            await self._acquire(mine, deadline, f"{what}: {identity} already has {self.per_identity} large answers on their "
                                      "way; read those answers first, or try again in a moment")
            try:
                await self._acquire(self._all, deadline, f"{what}: busy sending {self.total} large answers to others; "
                                               "try again in a moment")
                try:
                    yield
                finally:
                    self._all.release()
            finally:
                mine.release()
        finally:
            self._users[identity] -= 1
            if not self._users[identity]:  # nothing kept per identity once it has no large request
                del self._users[identity], self._mine[identity]

    async def _acquire(self, semaphore: asyncio.Semaphore, deadline: float, message: str) -> None:
        try:  # never no wait at all: a free slot is taken at once
            await within(semaphore.acquire(), max(0.01, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            self.refused += 1
            raise RemoteError(ErrorType.INTERNAL, message) from None
