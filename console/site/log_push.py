"""A site's half of ``follow``: the new lines of a job's log on this site, pushed to the server.

The server asks with ``follow_log`` (and stops with ``unfollow_log``); from then on every
line the job's client app writes to ``log.txt`` in its workspace goes to the server as a
``job_log`` event (``{"job_id", "site", "lines"}``) on the site's connection, within
``console.logtail.POLL_SECONDS``. When the job ends on this site the rest of the log is
pushed and a ``job_log_end`` event follows, before the site answers ``end_job`` or
``abort_job``: the server has every line when it marks the job finished. Owns nothing
else: jobs stay with ``console.site.jobs``, the connection with ``console.site.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console.logtail import LogTail, follow
from console.wire.serving import ServedConnection

LOG_FILE = "log.txt"


@dataclass
class _Push:
    connection: ServedConnection
    stop: asyncio.Event
    task: asyncio.Task[None]


class SiteLogPush:
    def __init__(self, site_name: str, workspace_of: Callable[[str], Path]) -> None:
        self.site_name = site_name
        self.workspace_of = workspace_of  # raises for a job ID that is not a plain folder name
        self.pushes: dict[str, _Push] = {}

    def follow(self, connection: ServedConnection, job_id: str, lines: int) -> None:
        """Push the last ``lines`` lines of the job's log, then every new one; the log may not exist yet."""
        current = self.pushes.get(job_id)
        if current is not None and current.connection is connection and not current.task.done():
            return  # already pushed on this connection: one stream per job serves every follower
        tail, backlog = LogTail.from_last_lines(self.workspace_of(job_id) / LOG_FILE, lines)
        stop = asyncio.Event()

        def send(new: list[str]) -> bool:
            if connection.closed:
                return False
            connection.push_event("job_log", {"job_id": job_id, "site": self.site_name, "lines": new})
            return True

        if backlog:
            send(backlog)
        task = asyncio.create_task(follow(tail, send, stop))
        task.add_done_callback(lambda t: self._forget(job_id, t))
        self.pushes[job_id] = _Push(connection, stop, task)

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
