"""What a resumed ``follow`` lacks of a log, read in bounded parts and sent as the follower's
connection has room: from the server's own job log on disk, or from a site by ``read_log``.

A gap of many MiB is never one event, nor dropped past the connection's event backlog
(``ServedConnection.event_room``): each part of at most ``CHUNK_BYTES`` waits for room, and
a connection that stays full for ``CATCH_UP_STALL_SECONDS`` gets a line saying the rest was
skipped. Meanwhile the target's new lines are held (``Subscription.holding``) and follow the
gap. Used by ``console.server.log_relay``; sends only through ``Followers``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from console.api.client import AsyncClient
from console.api.errors import AuthorizationError
from console.logtail import CHUNK_BYTES, lines_between
from console.server.log_fanout import Followers
from console.server.log_follows import SITE_REQUEST_TIMEOUT, Part, Subscription, offset_of, refused, who

#: Seconds a resumed follower's gap waits for its connection to have room for the next part
#: before the rest of it is skipped (with a line saying so).
CATCH_UP_STALL_SECONDS = 30.0

#: ``await read(at)``: the part of a log from byte ``at`` and the offset after it; None past its end.
Reader = Callable[[int], Awaitable[Part | None]]


def catch_up(followers: Followers, sub: Subscription, target: str, read: Reader,
             start: int) -> Callable[[], Awaitable[None]]:
    """What a resumed follower lacks of ``target``'s log from byte ``start``: ``await read(at)``
    gives one bounded part and the offset after it, until no line comes. Each part is an
    event, sent when the connection has room; then the lines that came meanwhile (``holding``)."""
    async def rest() -> None:
        at = start
        if target == "server":  # the gap from its offset (past the log's end: from its start)
            sub.offsets.pop(target, None)
        try:
            while sub.live and (part := await read(at)) is not None and part[0] and part[1] != at:
                if not await sub.connection.event_room(CATCH_UP_STALL_SECONDS):
                    followers.push(sub, "job_log", {"job_id": sub.job_id, "target": target, "lines": [
                        f"[... the rest of {target}'s log from byte {at} skipped: the connection "
                        f"reads too slowly; get_job_logs has it ...]"]})
                    break
                followers.send(sub, target, *part, direct=True)
                at = part[1]
        finally:
            followers.release_held(sub, target)
    return rest


def read_file(path: Path, end: int | None, final: bool) -> Reader:
    """Parts of the server's own log of a job up to ``end`` (None: to its last line; ``final``:
    the job has ended, so a last line without its newline counts too)."""
    async def read(at: int) -> Part | None:
        return await asyncio.to_thread(lines_between, path, at, end, final, CHUNK_BYTES)
    return read


def read_site(followers: Followers, sub: Subscription, site: str, link: AsyncClient | None,
              end: int | None) -> Reader:
    """Parts of a site's log by ``read_log`` over ``link`` (the server's link to it, None when the
    site is away; ``end``: where its stream starts; None: a finished job's log to its end); a
    refusal or failure is a line in the stream, and the end."""
    async def read(at: int) -> Part | None:
        if link is None or (end is not None and at >= end):
            return None
        args = {"job_id": sub.job_id, "offset": at, **who(sub), **({} if end is None else {"end": end})}
        try:
            reply = await link.request("read_log", args, timeout=SITE_REQUEST_TIMEOUT)
        except Exception as exc:
            why = refused(site, exc).message if isinstance(exc, AuthorizationError) else \
                f"{site}: the rest of its log cannot be read now: {exc}"
            followers.send(sub, site, [f"[{why}]"], direct=True)
            return None
        until = offset_of(reply)
        return None if until is None else ([str(line) for line in reply["lines"]], until)
    return read
