"""A site's half of ``follow``: the new lines of a job's log on this site, pushed to the server.

The server asks with ``follow_log`` (and stops with ``unfollow_log``); from then on every
line the job's client app writes to ``log.txt`` in its workspace goes to the server as a
``job_log`` event (``{"job_id", "site", "lines", "offset"}``, ``offset`` being the bytes of
the log up to the end of those lines) on the site's connection, within
``console.logtail.POLL_SECONDS``. When the job ends on this site the rest of the log is
pushed and a ``job_log_end`` event follows, before the site answers ``end_job`` or
``abort_job``: the server has every line when it marks the job finished. A follow resumed
from an offset (after a dropped connection) gets the lines from there: the stream runs (or
starts) at the log's end and the lines between that offset and where the stream is come in
bounded answers, the first to ``follow_log``, the rest to ``read_log`` (``follow``,
``lines_from``). Owns nothing
else: jobs stay with ``console.site.jobs``, the connection with ``console.site.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.logtail import CHUNK_BYTES, LogTail, follow, last_lines, lines_between
from console.wire.request_context import Peer

LOG_FILE = "log.txt"
#: Seconds the pushes of a log wait for the server to take the ones sent (the site's connection
#: drops events past its backlog) before they read on anyway.
PUSH_STALL_SECONDS = 30.0
#: Bytes of log one answer carries at most (its JSON, escapes included, stays far below the
#: 1 MiB frame header limit); a larger gap is read on with ``read_log`` from the offset answered.
REPLY_BYTES = CHUNK_BYTES


@dataclass
class _Push:
    connection: Peer
    stop: asyncio.Event
    task: asyncio.Task[None]
    tail: LogTail


class SiteLogPush:
    def __init__(self, site_name: str, workspace_of: Callable[[str], Path]) -> None:
        self.site_name = site_name
        self.workspace_of = workspace_of  # raises for a job ID that is not a plain folder name
        self.pushes: dict[str, _Push] = {}

    def follow(self, connection: Peer, job_id: str, lines: int,
               offset: int | None = None) -> dict[str, Any] | None:
        """Push the last ``lines`` lines of the job's log, then every new one; the log may not
        exist yet. Resuming (``offset``: bytes the follower has), the pushes start where the log's
        complete lines end now and the answer begins what the follower lacks before that:
        ``{"lines", "offset", "end"}``, at most ``REPLY_BYTES`` of it (the rest by ``read_log``
        from ``offset`` up to ``end``; an offset past the log's end reads from its start). When
        this connection is already pushed that log, not resuming, the answer is its last ``lines``
        lines up to where the pushes are (``{"lines", "offset"}``); else None."""
        path = self.workspace_of(job_id) / LOG_FILE
        current = self.pushes.get(job_id)
        if current is None or current.connection is not connection or current.task.done():
            if offset is None:
                tail, backlog = LogTail.from_last_lines(path, lines, self.site_name)
            else:  # from the end: what the follower lacks comes in bounded answers, not as one push
                tail, backlog = LogTail.from_last_lines(path, 1, self.site_name)[0], []
            current = self._start(connection, job_id, tail, backlog)
            if offset is None:
                return None
        # one stream per job serves every follower: a new one gets its last lines, a resumed one
        # what it lacks, up to where the stream is, in the answer
        end = current.tail.delivered
        if offset is None:
            return {"lines": last_lines(path, end, lines, self.site_name), "offset": end}
        gap, until = lines_between(path, offset, end, limit=REPLY_BYTES, owner=self.site_name)
        return {"lines": gap, "offset": until, "end": end}

    def _start(self, connection: Peer, job_id: str, tail: LogTail, backlog: list[str]) -> _Push:
        stop = asyncio.Event()

        def send(new: list[str]) -> bool:
            if connection.closed:
                return False
            connection.push_event("job_log", {"job_id": job_id, "site": self.site_name, "lines": new,
                                              "offset": tail.delivered})
            return True

        if backlog:
            send(backlog)
        def notice(line: str) -> None:  # why the log is not read: a line with no offset in it
            if not connection.closed:
                connection.push_event("job_log", {"job_id": job_id, "site": self.site_name, "lines": [line]})

        task = asyncio.create_task(follow(tail, send, stop, lambda: connection.event_room(PUSH_STALL_SECONDS),
                                          notice))
        task.add_done_callback(lambda t: self._forget(job_id, t))
        push = self.pushes[job_id] = _Push(connection, stop, task, tail)
        return push

    def lines_from(self, job_id: str, offset: int, end: int | None = None) -> dict[str, Any]:
        """The job's log from byte ``offset`` up to ``end`` (default: its end, an unfinished last
        line included: the job ended), at most ``REPLY_BYTES`` of it: ``{"lines", "offset"}``,
        asked again from ``offset`` for the rest until no line comes."""
        lines, until = lines_between(self.workspace_of(job_id) / LOG_FILE, offset, end, final=end is None,
                                     limit=REPLY_BYTES, owner=self.site_name)
        return {"lines": lines, "offset": until}

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        push = self.pushes.get(job_id)
        if push is not None and push.task is task:
            del self.pushes[job_id]

    async def unfollow(self, job_id: str) -> bool:
        """Stop pushing a job's log (the lines written so far still go); whether it was pushed."""
        push = self.pushes.get(job_id)
        if push is None:
            return False
        push.stop.set()
        with contextlib.suppress(Exception):
            await push.task
        return True

    async def job_ended(self, job_id: str) -> None:
        """The job stopped here: push the rest of its log, then ``job_log_end``."""
        push = self.pushes.get(job_id)
        if await self.unfollow(job_id) and push is not None and not push.connection.closed:
            push.connection.push_event("job_log_end", {"job_id": job_id, "site": self.site_name})
