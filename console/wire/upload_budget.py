"""How many bytes of uploads still under way one identity may have on a host at once.

An upload's bytes are written to the host's disk as they come and held there until the upload
ends; the pace rule (``console.wire.pace``) ends a stalled one, but many uploads under way at once
(16 connections of 64 requests each, security finding 6) could still hold terabytes of partial
files for the minute of grace each gets. Here every identity (a certificate CN) gets a budget of
bytes in flight over all its connections: an upload whose next chunk would pass it is refused at
once with an error saying so (its partial file is removed by the receiver), and the bytes of an
upload count until it ends, stored or refused. Owns only the counting; ``RequestContext.receive_upload``
asks it for every chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from console.wire.errors import ErrorType, RemoteError


class UploadBudget:
    """Bytes of unfinished uploads per identity, at most ``per_identity`` each; one event loop."""

    def __init__(self, per_identity: int) -> None:
        self.per_identity = per_identity
        self._held: dict[str, int] = {}
        self.refused = 0

    def held(self, identity: str) -> int:
        """Bytes of ``identity``'s uploads under way now (for tests and the reliability report)."""
        return self._held.get(identity, 0)

    @contextmanager
    def account(self, identity: str) -> Iterator[Callable[[int], None]]:
        """A ``take(n)`` that counts ``n`` more bytes of one upload of ``identity``; it raises
        RemoteError (InvalidArgumentError, naming the budget) instead when they would pass the
        budget. All the upload's bytes are given back when the block ends."""
        taken = 0

        def take(size: int) -> None:
            nonlocal taken
            now = self._held.get(identity, 0)
            if now + size > self.per_identity:
                self.refused += 1
                raise RemoteError(ErrorType.INVALID_ARGUMENT,
                                  f"upload refused: {identity} already has {now} bytes of uploads under way on this "
                                  f"server, and at most {self.per_identity} are taken at once "
                                  "(connection_limits.max_upload_bytes_per_identity); let those finish, then "
                                  "submit again. Nothing of this upload was stored")
            self._held[identity] = now + size
            taken += size

        try:
            yield take
        finally:
            left = self._held.get(identity, 0) - taken
            if left > 0:
                self._held[identity] = left
            else:
                self._held.pop(identity, None)
