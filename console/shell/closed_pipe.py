"""A batch's output whose reader went away (``flare-console -c ... | head -1``): a quiet end, as git's.

git dies of SIGPIPE there and the shell reports 141 (128 + SIGPIPE); psql stops writing too, without a
word. Python turns SIGPIPE into ``BrokenPipeError`` at the next write, wherever that is (a command's
answer, a status event, a followed log line), and then again when it flushes stdout at exit. This
module owns only that: the first failed write puts ``/dev/null`` under the stream's file descriptor
(nothing more can fail), remembers that the reader is gone and stops the batch. It never prints.
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any, TextIO

#: The exit status of a batch whose output was closed: what a shell reports for git (128 + SIGPIPE).
EXIT_CLOSED = 141


class OutputClosed(BaseException):
    """Raised in the batch's own task by the write that found its reader gone: the batch ends there. A
    BaseException, as KeyboardInterrupt: no command's ``except Exception`` takes it for that command's failure."""


def is_closed_pipe(exc: BaseException) -> bool:
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)


def silence(stream: Any) -> None:
    """``/dev/null`` under ``stream``'s file descriptor: later writes and Python's flush at exit succeed,
    unseen (as the Python docs' SIGPIPE note does)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: nothing to put away
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class GuardedOutput:
    """A text stream for a batch's output (stdout or stderr): each write reaches the reader at once
    (flushed: a closed pipe is found at the write that hit it, not at exit), and once the reader is gone
    the rest is dropped. The first write into a closed pipe raises ``OutputClosed`` in the batch's task;
    from anywhere else (a followed log's or a monitor's callback) it cancels that task instead."""

    def __init__(self, stream: TextIO, gone: ReaderGone) -> None:
        self.stream = stream
        self.gone = gone

    def write(self, text: str) -> int:
        if self.gone.closed:
            return len(text)
        try:
            written = self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            if not is_closed_pipe(exc):
                raise
            self.gone.found(self.stream)
            return len(text)
        return written

    def flush(self) -> None:
        if self.gone.closed:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            if not is_closed_pipe(exc):
                raise
            self.gone.found(self.stream)

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.stream.fileno()


class ReaderGone:
    """Whether a batch's reader went away, shared by its stdout and stderr (``2>&1 | head`` closes both)."""

    def __init__(self) -> None:
        self.closed = False
        self.task: asyncio.Task[Any] | None = None  # the batch's task, stopped when a callback finds the pipe closed

    def found(self, stream: Any) -> None:
        self.closed = True
        silence(stream)
        current = _current_task()
        if current is not None and current is self.task:
            raise OutputClosed
        if self.task is not None and not self.task.done():
            self.task.cancel()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop running
        return None
