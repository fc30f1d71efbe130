"""``follow JOB_ID [TARGET|all] [-n N]`` and ``unfollow``: a job's log lines above the prompt.

A follow is a background task listed with the monitors (``monitors``; ``unmonitor`` stops
it too), fed by ``Backend.follow_log`` (pushed by our server, polled on FLARE). Each line is
shown as ``[target] line``, or ``[job-id target] line`` while more than one job's log is
followed (two runs of one job folder log the same lines), with every terminal control
character made visible, so a log cannot move the cursor, retitle the window or write the
clipboard. In a batch ``follow`` blocks until the job ends and, like ``monitor_job``, fails
(exit 1, the status on stderr) unless the job ended FINISHED:COMPLETED. A dropped
connection is waited out and the log followed again from where the delivered log ended
(``LogStream.resume``): lines written meanwhile come then, none twice.
"""

from __future__ import annotations

import asyncio

from console.api.async_session import is_final
from console.api.errors import NoConnection
from console.backends.base import Backend, LogStream
from console.commands import Engine
from console.shell.client_side import CommandFailed, Outcome, ShellContext, client_side
from console.shell.monitors import (
    COMPLETED,
    LOG_STYLE,
    MAX_LOG_LINES_SHOWN,
    Monitor,
    MonitorManager,
    not_completed,
    whole_log,
)
from console.shell.parse import ParsedCommand
from console.shell.safe_text import visible_line as visible  # one line each: breaks shown too


def log_block(target: str, lines: list[str], job_id: str | None = None) -> str:
    """Lines of one target as printed: ``[target] line``, or ``[job-id target] line`` (the ID's first
    8 characters) when ``job_id`` is given; one print for the whole batch."""
    prefix = f"[{visible(job_id[:8])} {visible(target)}] " if job_id else f"[{visible(target)}] "
    return "\n".join(prefix + visible(line) for line in lines)


class LogPrinter:
    """``on_lines`` for a followed log: hands the lines to the monitors' output.

    Above a prompt (``paced``) lines are printed in one block at most every
    ``FLUSH_SECONDS`` and at most ``MAX_LINES_PER_FLUSH`` of them: a log written faster than
    anyone can read would otherwise redraw the prompt thousands of times a second and make
    typing lag. The newest lines are the ones shown; a line says how many were passed over and
    where they all are (``monitors.whole_log``: not get_job_logs, which has the newest 5 MiB). In a
    batch every line is printed as it comes.
    """

    FLUSH_SECONDS = 0.1
    MAX_LINES_PER_FLUSH = MAX_LOG_LINES_SHOWN

    def __init__(self, monitors: MonitorManager, paced: bool = True, job_id: str | None = None,
                 engine: Engine = Engine.OURS) -> None:
        self.monitors = monitors
        self.engine = engine
        self.paced = paced
        self.job_id = job_id  # the followed job: named in the tag while another job's log is followed too
        self.lines = 0  # lines received
        self.skipped = 0  # lines received but not shown
        self._pending: list[tuple[str, str]] = []  # (target, line)
        self._passed = 0  # lines dropped from _pending since the last flush
        self._flush: asyncio.TimerHandle | None = None

    def __call__(self, target: str, lines: list[str]) -> None:
        if not lines:
            return
        self.lines += len(lines)
        if not self.paced:
            self.monitors.emit(log_block(target, lines, self._tag_job()), LOG_STYLE, None)
            return
        self._pending += [(target, line) for line in lines]
        overflow = len(self._pending) - self.MAX_LINES_PER_FLUSH
        if overflow > 0:  # only the newest can still be shown
            del self._pending[:overflow]
            self._passed += overflow
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self._flush = None
        pending, passed, self._pending, self._passed = self._pending, self._passed, [], 0
        self.skipped += passed
        blocks = []
        if passed:
            blocks.append(f"[... {passed} log lines passed over: more than "
                          f"{self.MAX_LINES_PER_FLUSH / self.FLUSH_SECONDS:,.0f} lines/s; "
                          f"{whole_log(self.engine, self.job_id)} ...]")
        start, job = 0, self._tag_job()
        for i in range(1, len(pending) + 1):  # consecutive lines of one target: one block
            if i == len(pending) or pending[i][0] != pending[start][0]:
                blocks.append(log_block(pending[start][0], [line for _, line in pending[start:i]], job))
                start = i
        if blocks:
            self.monitors.emit("\n".join(blocks), LOG_STYLE, None)

    def _tag_job(self) -> str | None:
        """The job ID for the tag once logs of more than one job were followed at the same time (from
        the moment the second started until no log is followed: lines of two jobs still come, or are
        still on the screen, after one of them ended), else None: one follow keeps the short ``[target]``."""
        return self.job_id if self.job_id is not None and self.monitors.name_logs else None

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self.flush()


async def _keep_following(backend: Backend, monitors: MonitorManager, stream: LogStream, target: str,
                          printer: LogPrinter) -> None:
    try:
        while True:
            await stream.done.wait()
            printer.close()
            if not isinstance(stream.error, NoConnection):
                break
            await stream.close()
            await monitors._wait_for_connection()
            stream = await backend.follow_log(stream.job_id, target, 0, printer, stream.resume)
        if stream.error is not None:
            monitors.emit(visible(f"following the log of {stream.job_id[:8]} stopped: {stream.error}"),
                          "class:error", None)
        else:
            monitors.emit(f"log of {stream.job_id[:8]} ({visible(stream.name)}) ended with the job",
                          "class:status.completed", None)
    finally:
        printer.close()
        await stream.close()


async def _require_completed(backend: Backend, job_id: str, name: str) -> None:
    """Once a followed log has ended: the job's final status (its log ends as its processes do; the
    status is written once its workspaces are in). Raises CommandFailed unless FINISHED:COMPLETED."""
    _, meta = await backend.monitor_job(job_id, 0.0, 1.0, None)
    status = (meta or {}).get("status", "")
    if status != COMPLETED:
        raise CommandFailed(not_completed(job_id, (meta or {}).get("name") or name, status))


@client_side("follow")
async def _follow(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    return await start_follow(ex, parsed.values["job_id"], parsed.values["target"] or "server",
                              parsed.values["lines"])


async def start_follow(ex: ShellContext, job_id: str, target: str, lines: int) -> Outcome:
    """Follow a job's log: in the background when interactive, else until the job ends."""
    background = ex.frontend.interactive
    tagged: str | None = None  # a batch follows one log at a time (each blocks): its tags stay short
    if ex.frontend.interactive:  # one follow per job: a new one replaces the last (the server keeps one)
        meta = await ex.backend.get_job_meta(job_id)
        tagged = meta["job_id"]
        await ex.monitors.stop(meta["job_id"], watches="log")
        # Another job's log followed: from now on both name theirs.
        ex.monitors.name_logs = any(m.watches.startswith("log") for m in ex.monitors.running())
        background = not is_final(meta.get("status"))  # an ended job's log is shown now, then the prompt
    printer = LogPrinter(ex.monitors, paced=background, job_id=tagged, engine=ex.backend.engine)
    stream = await ex.backend.follow_log(job_id, target, lines, printer)  # bad job or target: fails here
    if not background:
        try:
            await stream.done.wait()
        finally:
            await stream.close()
        if stream.error is not None:
            raise CommandFailed(f"following the log of {stream.job_id[:8]} stopped: {stream.error}")
        if not ex.frontend.interactive:  # a batch: exits as monitor_job does, by how the job ended
            await _require_completed(ex.backend, stream.job_id, stream.name)
            return Outcome()
        return Outcome(message=f"{stream.job_id[:8]} ({visible(stream.name)}) has ended: its log ends here")
    monitor = Monitor(stream.job_id, stream.name, watches=f"log: {target}")
    ex.monitors.run_background(monitor, _keep_following(ex.backend, ex.monitors, stream, target, printer))
    shown = ", ".join(stream.targets)
    return Outcome(message=f"following the log of {stream.job_id[:8]} ({visible(stream.name)}) on {shown} in the "
                           "background; 'unfollow' stops it")


@client_side("unfollow")
async def _unfollow(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    which = parsed.values["job_id"]
    stopped = await ex.monitors.stop(which, watches="log")
    if not stopped:
        what = "no log is followed" if which == "all" else f"no followed log of a job matching '{which}'"
        raise CommandFailed(f"{what}; 'monitors' lists what runs in the background")
    return Outcome(message=f"stopped following {stopped} log{'s' if stopped != 1 else ''}")


__all__ = ["LogPrinter", "log_block", "start_follow", "visible"]
