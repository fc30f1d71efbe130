"""A followed log's lines as printed: ``[target] line``, paced above the prompt.

Each line is shown as ``[target] line``, or ``[job-id target] line`` while more than one job's
log is followed (two runs of one job folder log the same lines), with every terminal control
character made visible, so a log cannot move the cursor, retitle the window or write the
clipboard. Used by ``console.shell.follow``, which feeds a ``LogPrinter`` from the backend's
``follow_log``.
"""

from __future__ import annotations

import asyncio

from console.commands import Engine
from console.shell.monitors import LOG_STYLE, MAX_LOG_LINES_SHOWN, MonitorManager, whole_log
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
                 engine: Engine = Engine.OURS, events_of: str | None = None) -> None:
        self.monitors = monitors
        #: The job whose lines these are, in the meta handed with each unpaced block: a batch's --format json
        #: writes each line as an event (``{"event": "log", "job_id", "target", "line", "time"}``).
        self.events_of = events_of
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
            meta = {"event": "log", "job_id": self.events_of, "target": target, "lines": lines}
            self.monitors.emit(log_block(target, lines, self._tag_job()), LOG_STYLE, meta)
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

    def note(self, target: str, text: str) -> None:
        """The backend's word on a followed target itself (FLARE: a site that stopped answering, or answers
        again): a line of its own beside the log's, after the lines held for the next flush."""
        if self._flush is not None:
            self._flush.cancel()
            self.flush()
        self.monitors.emit(visible(f"[{target}] {text}"), "class:status.queued", None)

    def _tag_job(self) -> str | None:
        """The job ID for the tag once logs of more than one job were followed at the same time (from
        the moment the second started until no log is followed: lines of two jobs still come, or are
        still on the screen, after one of them ended), else None: one follow keeps the short ``[target]``."""
        return self.job_id if self.job_id is not None and self.monitors.name_logs else None

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self.flush()


__all__ = ["LogPrinter", "log_block"]
