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
from datetime import datetime
from typing import Any

from console.api.async_session import is_final
from console.api.errors import NoAnswer, NoConnection
from console.api.spec import MonitorReturnCode
from console.backends.base import SITES_SILENT, SITES_WITHOUT_JOB, Backend
from console.commands import Engine
from console.durations import duration_seconds
from console.names import site_named
from console.shell.safe_text import visible_line
from console.within import within

#: ``emit(text, style, meta)``: a line for people, its style class, and the job meta behind it.
Emit = Callable[[str, str, "dict[str, Any] | None"], None]

#: Followed-log lines shown at most in one print above the prompt (``log_printer.LogPrinter`` per flush,
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


def job_ended(job_id: str, name: str, status: str) -> str:
    """``job ID (NAME) ended STATUS`` on one line: the job's name is the submitter's text, its line breaks
    and control characters shown as escapes (a name must not start a line of its own)."""
    return f"job {job_id} ({visible_line(name) if name else 'unnamed'}) ended {visible_line(status)}"


def not_completed(job_id: str, name: str, status: str) -> str:
    """What a batch's monitor_job or follow says (and fails with, exit 1) of a job that ended
    otherwise than FINISHED:COMPLETED, so that CI sees a failed or aborted job by the exit code."""
    return f"{job_ended(job_id, name, status)}, not {COMPLETED}; get_job_logs {job_id[:8]} shows why"


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


def not_scheduled(meta: dict[str, Any]) -> str | None:
    """Why a SUBMITTED job is not running yet, from FLARE's ``schedule_history`` (its scheduler's last try,
    "YYYY-MM-DD HH:MM:SS: connected sites (1) < min_sites (2)", "missing required site site-c9"); None when
    the meta does not say (ours, a job not tried yet, or scheduled)."""
    history = meta.get("schedule_history")
    if meta.get("status") != "SUBMITTED" or not isinstance(history, list) or not history:
        return None
    last = str(history[-1])
    reason = last.split(": ", 1)[1] if last[:4].isdigit() and ": " in last else last
    return visible_line(reason) if reason.strip() and reason.strip() != "scheduled" else None


def sites_changed(meta: dict[str, Any], before: set[str], now: set[str]) -> list[tuple[str, str]]:
    """Lines (text, style) for the job's sites that stopped answering, and those that answer again
    (flare10 item 15: a site killed during a job went unsaid)."""
    stamp, job = time.strftime("%H:%M:%S"), f"{str(meta['job_id'])[:8]}  {meta.get('name', '')}"
    lines = [(visible_line(f"{stamp}  {job}  {site_named(site)} does not answer (is it running? check_status client {site} "
                           "asks it alone)"), "class:error") for site in sorted(now - before)]
    lines += [(visible_line(f"{stamp}  {job}  {site_named(site)} answers again"), "class:status.running")
              for site in sorted(before - now)]
    return lines


#: A job's ``duration`` as its meta gives it (``str(timedelta)``, as FLARE 2.9): ``0:01:02.345678``,
#: ``2 days, 3:04:05``.
def ended_at(meta: dict[str, Any]) -> float | None:
    """When an ended job ended (epoch seconds): its ``start_time`` (ISO 8601; naive is local time, as
    FLARE) plus its ``duration`` (``console.durations``' reading of it); None when either is missing (a
    job aborted before it ran) or unreadable."""
    start, took = meta.get("start_time"), duration_seconds(meta.get("duration"))
    if not isinstance(start, str) or took is None:
        return None
    try:
        started = datetime.fromisoformat(start)
    except ValueError:
        return None
    return started.astimezone().timestamp() + took


def sites_left_the_job(meta: dict[str, Any], before: set[str], now: set[str]) -> list[tuple[str, str]]:
    """Lines (text, style) for the RUNNING job's sites that answer but no longer run it, and those that run it
    again (flare11 item 3: a site restarted without its job was reported fine while the job waited for ever)."""
    stamp, job = time.strftime("%H:%M:%S"), f"{str(meta['job_id'])[:8]}  {meta.get('name', '')}"
    lines = [(visible_line(f"{stamp}  {job}  {site_named(site)} no longer runs the job (restarted?); the job waits for it "
                           f"(abort_job {str(meta['job_id'])[:8]} ends it)"), "class:error") for site in sorted(now - before)]
    lines += [(visible_line(f"{stamp}  {job}  {site_named(site)} runs the job again"), "class:status.running")
              for site in sorted(before - now)]
    return lines


def status_line(meta: dict[str, Any], when: float | None = None) -> str:
    """``time job-id name status``, one line: the server's name and status cannot break it. An ended
    job's line is stamped with when it ended (``ended_at``; a job that ended long ago is not said to end
    now), others with ``when`` or now. A final status with ``job_errors`` says whose and where to read
    them (a completed job whose workspace archive left files out, say)."""
    if when is None and is_final(meta["status"]):
        when = ended_at(meta)
    stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
    short = str(meta["job_id"])[:8]
    line = f"{stamp}  {short}  {meta.get('name', '')}  {meta['status']}"
    waiting = not_scheduled(meta)
    if waiting:  # (flare10 item 15: a job short of sites sat SUBMITTED with no word of why)
        line += f"  (not scheduled yet: {waiting})"
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

        said: list[str | None] = [None]  # why the job waits, as last said
        silent: set[str] = set()  # the job's sites said not to answer
        without: set[str] = set()  # the job's sites said to answer without running it

        def on_meta(meta: dict[str, Any]) -> bool:
            monitor.job_id, monitor.name = meta["job_id"], meta.get("name", "")
            waiting = not_scheduled(meta)
            if meta["status"] != monitor.status or waiting != said[0]:  # a new reason to wait: a line too
                monitor.status, said[0] = meta["status"], waiting
                self.emit(status_line(meta), status_style(meta["status"]), meta)
            now = meta.get(SITES_SILENT)
            if isinstance(now, list) and not is_final(meta["status"]):
                for line, style in sites_changed(meta, silent, set(map(str, now))):
                    self.emit(line, style, None)
                silent.clear()
                silent.update(map(str, now))
            gone = meta.get(SITES_WITHOUT_JOB)
            if isinstance(gone, list) and meta["status"] == "RUNNING":
                for line, style in sites_left_the_job(meta, without, set(map(str, gone))):
                    self.emit(line, style, None)
                without.clear()
                without.update(map(str, gone))
            return True

        while True:
            remaining = 0.0
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return MonitorReturnCode.TIMEOUT
            try:
                code, meta = await self.backend.monitor_job(job_id, remaining, interval, on_meta)
            except NoAnswer:
                raise  # connected, but the server did not answer: waiting for a connection would never end
            except NoConnection:
                if deadline is None:
                    await self._wait_for_connection()
                    continue
                # A --timeout holds while the server is away too: a batch waiting on it must end.
                try:
                    await within(self._wait_for_connection(), max(deadline - time.monotonic(), 0))
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

    def the_one(self, which: str | None, watches: str | None, what: str) -> str:
        """``which`` as given, or when none was given the job ID of the one monitor of that kind (``watches``
        as ``stop``'s) that runs; ``what`` names them ("monitor", "followed log"). Raises ValueError saying why
        there is no one to take (none runs, or several: which to name)."""
        if which:
            return which
        running = [m for m in self.running() if watches is None or m.watches.startswith(watches)]
        if len(running) == 1:
            return running[0].job_id
        if not running:
            raise ValueError(f"no {what} runs; 'monitors' lists what runs in the background")
        raise ValueError(f"{len(running)} {what}s run: name one by its job ID (prefix), or 'all'; 'monitors' lists "
                         "them")

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
