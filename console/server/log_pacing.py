"""Live log lines for a follower that reads too slowly: paced by its connection, never dropped unseen.

A follower's new lines are pushed as they come. When its connection has no room for them (its
unsent events are past half the backlog past which ``push_event`` drops events), the lines are
not pushed: from the last byte it has, that target's log is read again by offset (the server's
own file, a site's by ``read_log``), in parts of at most ``CHUNK_BYTES``, each sent when the
connection has room, until the follower has caught up with the live stream; then the live lines
go to it again. Nothing is lost and nothing comes twice (by offset). A connection that takes
nothing for ``CATCH_UP_STALL_SECONDS`` gets one line naming the bytes skipped instead.

Used by ``console.server.log_relay.LogRelay`` (this is a part of it: it reads the relay's streams
and sends with its methods); owns nothing itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from console.server.log_follows import Part, Subscription

#: Seconds a follower's catch-up waits for its connection to have room for the next part
#: before the rest of it is skipped (with a line saying so).
CATCH_UP_STALL_SECONDS = 30.0


class LogPacing:
    """The lagging half of ``LogRelay``: what it needs of the relay is declared below."""

    subscriptions: list[Subscription]
    _lagging_tasks: set[asyncio.Task[None]]

    # -- provided by LogRelay ---------------------------------------------------------------
    def _send(self, sub: Subscription, target: str, lines: list[str], offset: int | None = None,
              direct: bool = False) -> None: ...
    def _release_held(self, sub: Subscription, target: str) -> None: ...
    def _read_file(self, path: Path, end: int | None, final: bool) -> Callable[[int], Awaitable[Part | None]]: ...
    def _read_site(self, sub: Subscription, site: str,
                   end: int | None) -> Callable[[int], Awaitable[Part | None]]: ...
    def _stream_end(self, job_id: str, target: str) -> int | None: ...
    def _server_log(self, job_id: str) -> Path: ...

    # -- pacing ---------------------------------------------------------------------------------

    def _lag(self, sub: Subscription, target: str, lines: list[str], offset: int) -> None:
        """``sub``'s connection has no room for these new lines of ``target`` (ending at byte
        ``offset``): they and what follows come from the log, paced, instead of being dropped."""
        start = sub.offsets.get(target)
        sub.lagging.add(target)
        sub.holding.setdefault(target, [])  # the log's end, if it comes meanwhile, waits for the catch-up
        if start is None:  # no line of this log with an offset yet: no byte to read on from
            sub.offsets[target] = start = offset
            sub.connection.push_event("job_log", {"job_id": sub.job_id, "target": target, "offset": offset, "lines": [
                f"[... {len(lines)} lines of {target}'s log skipped: the connection reads too slowly ...]"]})
        task = asyncio.get_running_loop().create_task(self._paced(sub, target, start))
        self._lagging_tasks.add(task)
        task.add_done_callback(self._lagging_tasks.discard)

    async def _paced(self, sub: Subscription, target: str, at: int) -> None:
        """Send ``target``'s log from byte ``at`` to where its live stream is (to its end, once the
        stream has ended), a part each time the connection has room."""
        try:
            while sub.live and sub in self.subscriptions:
                end = self._stream_end(sub.job_id, target)  # None: the stream has ended; read to the end
                if end is not None and at >= end:
                    return
                if not await sub.connection.event_room(CATCH_UP_STALL_SECONDS):
                    upto = f"to byte {end}" if end is not None else "to its end"
                    self._send(sub, target, [f"[... {target}'s log from byte {at} {upto} skipped: the connection "
                                             "reads too slowly; get_job_logs has it ...]"], end, direct=True)
                    return
                if target == "server":
                    read = self._read_file(self._server_log(sub.job_id), end, end is None)
                else:
                    read = self._read_site(sub, target, end)
                part = await read(at)
                if part is not None and part[0] and part[1] == at:  # why the log cannot be read
                    self._send(sub, target, part[0], direct=True)
                if part is None or part[1] <= at:
                    return
                self._send(sub, target, *part, direct=True)
                at = part[1]
        finally:
            sub.lagging.discard(target)
            self._release_held(sub, target)  # the live lines go to it again from here (and an end)
