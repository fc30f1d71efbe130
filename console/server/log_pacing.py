"""Log lines a follower lacks, read from the log by offset and sent as its connection takes them.

Two cases come here. A resumed follow lacks what was written since its offsets (``_catch_up``);
the live lines meanwhile wait, up to ``MAX_HELD_BYTES`` of them, then are read like the next case.
A follower that reads too slowly lacks its new lines: when its connection has no room for them
(its unsent events are past half the backlog past which ``push_event`` drops events) they are
not pushed, and that target's log is read again from the last byte it has (``_lag``), until it
has caught up with the live stream; then the live lines go to it again. Either way the log is
read in parts of at most ``CHUNK_BYTES`` (the server's own file, a site's by ``read_log``),
each sent when the connection has room: nothing is lost, nothing comes twice (by offset), and
the server holds no more than a part. A connection that takes nothing for
``CATCH_UP_STALL_SECONDS`` gets one line naming the bytes skipped instead.

A part of ``console.server.log_relay.LogRelay`` (it reads the relay's streams and sends with the
methods of ``console.server.log_fanout``, declared below); owns nothing itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.logtail import CHUNK_BYTES, lines_between
from console.server import site_answers
from console.server.interfaces import RelayHost
from console.server.log_follows import Part, Subscription, offset_of, refused, who
from console.wire.exceptions import AuthorizationError

#: Seconds a site gets to answer for a log (start or stop pushing it, a part of it).
SITE_REQUEST_TIMEOUT = 10.0
#: Seconds a follower's catch-up waits for its connection to have room for the next part
#: before the rest of it is skipped (with a line saying so).
CATCH_UP_STALL_SECONDS = 30.0
#: Bytes of a target's new lines kept for a follower while its gap is sent; past them the rest
#: is read from the log after the gap, paced, not kept in the server's memory.
MAX_HELD_BYTES = 4 << 20

Read = Callable[[int], Awaitable[Part | None]]


class LogPacing:
    """The paced half of ``LogRelay``."""

    server: RelayHost
    subscriptions: list[Subscription]
    _lagging_tasks: set[asyncio.Task[None]]

    # -- provided by LogFanOut and LogRelay ------------------------------------------------
    def _send(self, sub: Subscription, target: str, lines: list[str], offset: int | None = None,
              direct: bool = False) -> None: ...
    def _push(self, sub: Subscription, topic: str, event: dict[str, Any]) -> None: ...
    def _release_held(self, sub: Subscription, target: str) -> None: ...
    def _stream_end(self, job_id: str, target: str) -> int | None: ...
    def _server_log(self, job_id: str) -> Path: ...

    # -- reading parts --------------------------------------------------------------------------

    def _read_file(self, path: Path, end: int | None, final: bool) -> Read:
        async def read(at: int) -> Part | None:
            return await asyncio.to_thread(lines_between, path, at, end, final, CHUNK_BYTES, "server")
        return read

    def _read_site(self, sub: Subscription, site: str, end: int | None) -> Read:
        """Parts of a site's log by ``read_log`` (``end``: where its stream starts; None: a
        finished job's log to its end); a refusal or failure is a line in the stream, and the end."""
        link = self.server.sites.get(site)

        async def read(at: int) -> Part | None:
            if link is None or (end is not None and at >= end):
                return None
            args = {"job_id": sub.job_id, "offset": at, **who(sub), **({} if end is None else {"end": end})}
            try:
                reply = await site_answers.ask(site, link.link, "read_log", args, timeout=SITE_REQUEST_TIMEOUT)
            except Exception as exc:
                why = refused(site, exc).message if isinstance(exc, AuthorizationError) else \
                    f"{site}: the rest of its log cannot be read now: {exc}"
                self._send(sub, site, [f"[{why}]"], direct=True)
                return None
            until = offset_of(reply)
            return None if until is None else ([str(line) for line in reply["lines"]], until)
        return read

    # -- a resumed follower's gap ------------------------------------------------------------------

    def _catch_up(self, sub: Subscription, target: str, read: Read, start: int) -> Callable[[], Awaitable[None]]:
        """What a resumed follower lacks of ``target``'s log from byte ``start``: ``await read(at)``
        gives one bounded part and the offset after it, until no line comes. Each part is an
        event, sent when the connection has room (a log of many MiB is never one event, nor
        dropped past the event backlog); then the lines that came meanwhile (``holding``)."""
        async def rest() -> None:
            at = start
            if target == "server":  # the gap from its offset (past the log's end: from its start)
                sub.offsets.pop(target, None)
            try:
                while sub.live and (part := await read(at)) is not None and part[0]:
                    if not await sub.connection.event_room(CATCH_UP_STALL_SECONDS):
                        self._push(sub, "job_log", {"job_id": sub.job_id, "target": target, "lines": [
                            f"[... the rest of {target}'s log from byte {at} skipped: the connection "
                            f"reads too slowly; get_job_logs has it ...]"]})
                        break
                    if part[1] == at:  # lines that do not advance: why the log cannot be read
                        self._send(sub, target, part[0], direct=True)
                        break
                    self._send(sub, target, *part, direct=True)
                    at = part[1]
            finally:
                self._release_held(sub, target)
        return rest

    # -- a follower that reads too slowly -----------------------------------------------------------

    def _lag(self, sub: Subscription, target: str, lines: list[str], offset: int) -> None:
        """``sub``'s connection has no room for these new lines of ``target`` (ending at byte
        ``offset``): they and what follows come from the log, paced, instead of being dropped."""
        sub.lagging.add(target)
        sub.holding.setdefault(target, [])  # the log's end, if it comes meanwhile, waits for the catch-up
        self._pace(sub, target, sub.offsets.get(target), offset)

    def _pace(self, sub: Subscription, target: str, start: int | None, skip_to: int | None = None) -> None:
        """Read ``target``'s log for ``sub`` from byte ``start`` (the last it has) on, paced; with
        no such byte known, from ``skip_to`` (or the live stream's end), saying lines were left out."""
        if start is None:
            start = skip_to if skip_to is not None else self._stream_end(sub.job_id, target)
            if start is None:  # the stream has ended: nothing to read on from; its end follows
                sub.lagging.discard(target)
                self._release_held(sub, target)
                return
            sub.offsets[target] = start
            sub.connection.push_event("job_log", {"job_id": sub.job_id, "target": target, "offset": start, "lines": [
                f"[... lines of {target}'s log before byte {start} skipped: the connection reads too slowly ...]"]})
        sub.pacing.add(target)
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
            sub.pacing.discard(target)
            self._release_held(sub, target)  # the live lines go to it again from here (and an end)
