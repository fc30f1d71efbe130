"""Background monitors: one task per followed job, printing a line per status change.

A monitor outlives a dropped connection: it waits for the session to come back and
goes on. Lines are handed to ``emit(text, style)``; the shell prints them above the
prompt, the batch runner prints them plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from console.api.async_session import is_final
from console.api.errors import NoConnection
from console.api.spec import MonitorReturnCode
from console.backends.base import Backend
from console.commands import Engine
from console.shell.safe_text import visible_line

#: ``emit(text, style, meta)``: a line for people, its style class, and the job meta behind it.
Emit = Callable[[str, str, "dict[str, Any] | None"], None]

#: Followed-log lines shown at most in one print above the prompt (``follow.LogPrinter`` per flush,
#: and the lines held while a view covered the screen): the newest, with a line saying how many
#: were passed over. More is more than anyone reads, and each line redraws the prompt.
MAX_LOG_LINES_SHOWN = 200
#: The style of followed-log lines (``follow``): the ones passed over when there are too many.
LOG_STYLE = "class:log"


def whole_log(engine: Engine, job_id: str | None = None) -> str:
    """Where every line of a followed job's log is, for the notes that say lines were passed over.

    Not ``get_job_logs``: FLARE 2.9's and ours return the newest 5 MiB only (FLARE's job_cmds
    ``MAX_RETURNED_JOB_LOG_BYTES``), so a long log's early lines are not there. On ours,
    ``download_job`` carries the server's ``workspace/log.txt`` and each site's
    ``sites/SITE/log.txt`` once the job ended. On FLARE it carries the server's workspace (its
    ``log.txt``); a site's log stays in the site's workspace as ``JOB_ID/log.txt`` (FLARE uploads
    it only with its log streaming set up), which ``head``/``grep SITE`` read there.
    """
    job = job_id[:8] if job_id else "JOB"
    if engine is Engine.NVFLARE:
        return (f"download_job {job} has the server's whole log once the job ends; a site's stays on the site: "
                f"head SITE -n N {job_id or 'JOB_ID'}/log.txt")
    return f"download_job {job} has the whole log once the job ends"


class HeldLines:
    """Background lines kept while a full-screen or redrawing view (top, watch) covers the prompt's
    screen, to be printed above the prompt in order when it ends: otherwise they would be drawn over
    and lost from the scrollback. Status lines are all kept (a few per job); of followed-log lines
    the newest ``MAX_LOG_LINES_SHOWN``, with a count of the others, and where they all are
    (``whole_log`` on ``engine``)."""

    def __init__(self, engine: Engine = Engine.OURS) -> None:
        self.engine = engine
        self.lines: list[tuple[str, str, dict[str, Any] | None]] = []  # one per line of text
        self.logs = 0  # log lines in ``lines``
        self.passed = 0  # log lines dropped, oldest first

    def __call__(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        for line in text.split("\n"):
            self.lines.append((line, style, meta))
            self.logs += style == LOG_STYLE
        if self.logs > 2 * MAX_LOG_LINES_SHOWN:  # trimmed now and then, not at each line: memory stays bounded
            self._trim()

    def _trim(self) -> None:
        extra = self.logs - MAX_LOG_LINES_SHOWN
        if extra <= 0:
            return
        kept = []
        for entry in self.lines:
            if extra and entry[1] == LOG_STYLE:
                extra -= 1
                self.passed += 1
                self.logs -= 1
            else:
                kept.append(entry)
        self.lines = kept

    def release(self, emit: Emit, view: str) -> None:
        """Print what was held through ``emit``: consecutive lines of one style in one print."""
        self._trim()
        if self.passed:
            emit(f"[... {self.passed} log lines that came while {view} was open are passed over: only the last "
                 f"{MAX_LOG_LINES_SHOWN} follow; {whole_log(self.engine)} ...]", LOG_STYLE, None)
        start = 0
        for i in range(1, len(self.lines) + 1):
            if (i == len(self.lines) or self.lines[i][1] != self.lines[start][1]
                    or self.lines[i][2] is not None or self.lines[start][2] is not None):
                emit("\n".join(line for line, _, _ in self.lines[start:i]), self.lines[start][1], self.lines[start][2])
                start = i
        self.lines, self.logs, self.passed = [], 0, 0


COMPLETED = "FINISHED:COMPLETED"


def not_completed(job_id: str, name: str, status: str) -> str:
    """What a batch's monitor_job or follow says (and fails with, exit 1) of a job that ended
    otherwise than FINISHED:COMPLETED, so that CI sees a failed or aborted job by the exit code."""
    return f"job {job_id} ({name or 'unnamed'}) ended {status}, not {COMPLETED}; get_job_logs {job_id[:8]} shows why"


def status_style(status: str) -> str:
    """Style class of a status, for themes: ``class:status.<kind>``."""
    if status == "FINISHED:COMPLETED":
        kind = "completed"
    elif status == "FINISHED:ABORTED":
        kind = "aborted"
    elif status.startswith("FINISHED:"):
        kind = "failed"
    elif status == "RUNNING":
        kind = "running"
    else:
        kind = "queued"
    return f"class:status.{kind}"


def status_line(meta: dict[str, Any], when: float | None = None) -> str:
    """``time job-id name status``, one line: the server's name and status cannot break it. A final
    status with ``job_errors`` says whose and where to read them (a completed job whose workspace
    archive left files out, say)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
    short = str(meta["job_id"])[:8]
    line = f"{stamp}  {short}  {meta.get('name', '')}  {meta['status']}"
    errors = meta.get("job_errors")
    if is_final(meta["status"]) and isinstance(errors, dict) and errors:
        line += f"  (job_errors of {', '.join(sorted(map(str, errors)))}: get_job_meta {short})"
    return visible_line(line)


@dataclass
class Monitor:
    job_id: str
    name: str = ""
    status: str = ""
    started: float = field(default_factory=time.time)
    task: asyncio.Task[Any] | None = None
    #: What it watches: "status" (monitor_job), or "log: TARGET" (follow, console.shell.follow).
    watches: str = "status"


class MonitorManager:
    def __init__(self, backend: Backend, emit: Emit) -> None:
        self.backend = backend
        self.emit = emit
        self.monitors: dict[str, Monitor] = {}
        #: Followed-log lines name their job (``follow``): set as each follow starts, true when another
        #: job's log was followed then; it stays so until a follow starts alone.
        self.name_logs = False

    @contextlib.contextmanager
    def held(self, view: str, show: Emit | None = None) -> Iterator[HeldLines]:
        """While ``view`` (its name) covers the screen: lines are kept (and shown by ``show``, such as
        top's foot, if given), then printed through the usual ``emit`` when the block ends, however it
        ends. Monitors and follows go on meanwhile."""
        held, emit = HeldLines(self.backend.engine), self.emit

        def hold(text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
            held(text, style, meta)
            if show is not None:
                show(text, style, meta)

        self.emit = hold
        try:
            yield held
        finally:
            self.emit = emit
            held.release(emit, view)

    async def follow(self, job_id: str, timeout: float = 0.0, interval: float = 2.0,
                     monitor: Monitor | None = None) -> MonitorReturnCode:
        """Print a line at each status change until the job ends, the timeout passes or it is stopped."""
        monitor = monitor or Monitor(job_id)
        deadline = time.monotonic() + timeout if timeout else None

        def on_meta(meta: dict[str, Any]) -> bool:
            monitor.job_id, monitor.name = meta["job_id"], meta.get("name", "")
            if meta["status"] != monitor.status:
                monitor.status = meta["status"]
                self.emit(status_line(meta), status_style(meta["status"]), meta)
            return True

        while True:
            remaining = 0.0
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return MonitorReturnCode.TIMEOUT
            try:
                code, meta = await self.backend.monitor_job(job_id, remaining, interval, on_meta)
            except NoConnection:
                if deadline is None:
                    await self._wait_for_connection()
                    continue
                # A --timeout holds while the server is away too: a batch waiting on it must end.
                try:
                    await asyncio.wait_for(self._wait_for_connection(), max(deadline - time.monotonic(), 0))
                except TimeoutError:
                    return MonitorReturnCode.TIMEOUT
                continue
            if code is MonitorReturnCode.TIMEOUT and meta is not None:
                self.emit(f"{status_line(meta)}  (monitor timed out)", "class:status.queued", None)
            return code

    async def _wait_for_connection(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.backend.connect()
                return
            except NoConnection:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def start(self, job_id: str, timeout: float = 0.0, interval: float = 2.0) -> Monitor:
        monitor = Monitor(job_id)
        return self.run_background(monitor, self.follow(job_id, timeout, interval, monitor))

    def run_background(self, monitor: Monitor, work: Coroutine[Any, Any, Any]) -> Monitor:
        """Run ``work`` as a background task listed (and stopped) with the monitors."""
        monitor.task = asyncio.create_task(work)
        key = id(monitor)
        self.monitors[str(key)] = monitor

        def done(task: asyncio.Task[Any]) -> None:
            self.monitors.pop(str(key), None)
            if not task.cancelled() and task.exception() is not None:
                self.emit(visible_line(f"monitor of {monitor.job_id[:8]} stopped: {task.exception()}"),
                          "class:error", None)

        monitor.task.add_done_callback(done)
        return monitor

    def following(self, job_id: str, watches: str = "status") -> Monitor | None:
        """The monitor already watching this job's ``watches`` ("status", or "log" for any
        followed log), if any: one of each kind per job (a follow does not stop monitor_job)."""
        return next((m for m in self.monitors.values() if m.job_id == job_id and m.watches.startswith(watches)),
                    None)

    def running(self) -> list[Monitor]:
        return list(self.monitors.values())

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"job_id": m.job_id, "name": m.name, "status": m.status, "watches": m.watches,
             "since": time.strftime("%H:%M:%S", time.localtime(m.started))}
            for m in self.running()
        ]

    async def stop(self, which: str, watches: str | None = None) -> int:
        """Stop the monitors of jobs whose ID starts with ``which`` (or all), of one kind if
        ``watches`` names its start ("log"); how many stopped."""
        chosen = [m for m in self.running() if (which == "all" or m.job_id.startswith(which))
                  and (watches is None or m.watches.startswith(watches))]
        for monitor in chosen:
            assert monitor.task is not None
            monitor.task.cancel()
        await asyncio.gather(*(m.task for m in chosen if m.task), return_exceptions=True)
        return len(chosen)


__all__ = ["LOG_STYLE", "MAX_LOG_LINES_SHOWN", "HeldLines", "Monitor", "MonitorManager", "is_final", "status_line", "status_style"]
