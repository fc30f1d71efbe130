"""Following a growing log file by byte offset, as ``tail -f`` does: only new bytes are read.

Shared by the server (its job processes' logs) and sites (theirs): each reads its own
files and pushes the new lines on; nothing here touches the network. A reader that falls
far behind (a job writing faster than anyone can read) skips ahead and says how much it
skipped, so memory and the links stay bounded.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from console.within import within

#: Bytes handed on per read at most; a log growing faster is read in several reads. Each read
#: becomes one pushed event, whose JSON (escapes included, up to 6 characters a byte) must stay
#: far below the 1 MiB frame header limit.
CHUNK_BYTES = 64 * 1024
#: A reader further behind than this skips to the newest bytes, with a line saying so.
MAX_BEHIND_BYTES = 4 * 1024 * 1024
#: A line longer than this is cut (a job printing a model as text must not make one huge event).
MAX_LINE_CHARS = 4000
#: Seconds between two looks at a file (the push latency of a log line is at most this).
POLL_SECONDS = 0.1


@dataclass
class LogTail:
    """Reads the lines added to ``path`` since the last ``read``; the file may not exist yet."""

    path: Path
    offset: int = 0
    owner: str = "log"  # whose log it is (a site, "server"): named in the line saying it cannot be read
    _partial: bytes = field(default=b"", repr=False)
    _problem: str | None = field(default=None, repr=False)  # why the log exists but is not read
    _told: str | None = field(default=None, repr=False)  # the problem ``take_problem`` handed on

    @classmethod
    def from_last_lines(cls, path: Path, lines: int, owner: str = "log") -> tuple[LogTail, list[str]]:
        """A tail at the end of ``path`` and its last ``lines`` lines (as ``tail -n``)."""
        tail = cls(path, owner=owner)
        try:
            f = open_log(path)
        except OSError as exc:
            tail._problem = unreadable(owner, exc)
            return tail, []
        with f:
            size = os.fstat(f.fileno()).st_size
            if lines <= 0:
                tail.offset = size
                return tail, []
            start = max(size - CHUNK_BYTES, 0)
            f.seek(start)
            data = f.read(size - start)
        tail.offset = start + len(data)
        if data and not data.endswith(b"\n"):  # an unfinished last line is completed by later reads
            cut = data.rfind(b"\n") + 1
            tail._partial, data = data[cut:], data[:cut]
        text = data.decode("utf-8", "replace").splitlines()
        if start > 0 and text:
            text = text[1:]  # the first line read from mid-file is only part of one
        return tail, [_cut(line) for line in text[-lines:]]

    @property
    def delivered(self) -> int:
        """Bytes of the file up to the end of the last line ``read`` handed on (resume from here)."""
        return self.offset - len(self._partial)

    def read(self, final: bool = False) -> list[str]:
        """The complete lines written since the last read, at most ``CHUNK_BYTES`` of them (read
        again for more); ``final`` also hands on an unfinished last line once all is read.

        A file that shrank (rotated, truncated) is read again from its start. A file that cannot
        be read (replaced by a link, say) gives nothing: ``take_problem`` says why."""
        try:
            f = open_log(self.path)
        except OSError as exc:
            self._problem = unreadable(self.owner, exc)
            return self._flush() if final else []
        self._problem = self._told = None
        with f:
            return self._read(f, final)

    def take_problem(self) -> str | None:
        """A line saying why the log is not read, once per problem (None while it reads, or does
        not exist yet)."""
        if self._problem is None or self._problem == self._told:
            return None
        self._told = self._problem
        return self._problem

    def _read(self, f: BinaryIO, final: bool) -> list[str]:
        size = os.fstat(f.fileno()).st_size
        out: list[str] = []
        if size < self.offset:
            self.offset, self._partial = 0, b""
        if size - self.offset > MAX_BEHIND_BYTES:
            skipped = size - CHUNK_BYTES - self.offset
            out.append(f"[... {skipped} bytes of log skipped: it grew faster than it could be sent ...]")
            self.offset, self._partial = size - CHUNK_BYTES, b""
        if self.offset < size:
            f.seek(self.offset)
            data = f.read(min(CHUNK_BYTES, size - self.offset))
            self.offset += len(data)
            data = self._partial + data
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            if len(self._partial) > MAX_LINE_CHARS * 4:  # a line without end: hand it on in pieces
                cut, self._partial = len(data), b""
            out += [_cut(line) for line in data[:cut].decode("utf-8", "replace").splitlines()]
        if final and self.offset >= size:
            out += self._flush()
        return out

    def _flush(self) -> list[str]:
        rest, self._partial = self._partial, b""
        return [_cut(rest.decode("utf-8", "replace"))] if rest else []


def unreadable(owner: str, exc: OSError) -> str | None:
    """The line a follower gets for a log that is there but is not read; None when it does not
    exist (yet): a job that has not written a line is no problem."""
    if exc.errno == errno.ENOENT:
        return None
    why = {errno.ELOOP: "its log.txt (or its job folder) was replaced by a link, and logs are never read "
                        "through links",
           errno.EINVAL: "its log.txt is not a regular file",
           errno.EMLINK: "its log.txt was replaced by a hard link to another file, and logs are never read "
                         "through links"}.get(exc.errno or 0, os.strerror(exc.errno or 0))
    return f"[{owner}: its log cannot be read: {why}]"


def lines_between(path: Path, start: int, end: int | None = None, final: bool = False,
                  limit: int | None = None, owner: str | None = None) -> tuple[list[str], int]:
    """The complete lines of ``path`` from byte ``start`` up to ``end`` (default: the file's end;
    ``final``: an unfinished last line too), and the offset after the last one. A ``start`` past
    the file's end (it was rewritten) reads from its start.

    ``limit``: read at most that many bytes (one bounded event; call again from the offset
    returned for the rest, until it reaches ``end``; a line longer than ``limit`` comes in
    pieces). Without it at most ``MAX_BEHIND_BYTES``: further behind, the newest, after a line
    saying what was skipped. ``owner``: a log that is there but cannot be read gives the line
    saying why (``unreadable``), at ``start``."""
    try:
        f = open_log(path)
    except OSError as exc:
        problem = unreadable(owner, exc) if owner is not None else None
        return ([problem] if problem else []), start
    with f:
        size = os.fstat(f.fileno()).st_size
        if start > size:
            start = 0
        end = size if end is None else min(end, size)
        if start >= end:
            return [], start
        out: list[str] = []
        stop = end
        if limit is not None:
            stop = min(end, start + max(limit, 1))
        elif end - start > MAX_BEHIND_BYTES:
            out.append(f"[... {end - MAX_BEHIND_BYTES - start} bytes of log skipped: too far behind to send ...]")
            start = end - MAX_BEHIND_BYTES
        f.seek(start)
        data = f.read(stop - start)
    if out:  # skipped into the middle of a line: start at the next one
        first = data.find(b"\n") + 1
        data, start = data[first:], start + first
    cut = len(data) if final and start + len(data) >= end else data.rfind(b"\n") + 1
    if cut == 0 and start + len(data) < end:  # a line longer than the limit: this piece of it
        cut = len(data)
    out += [_cut(line) for line in data[:cut].decode("utf-8", "replace").splitlines()]
    return out, start + cut


def open_log(path: Path) -> BinaryIO:
    """``path`` opened to read, never through a link: job code can replace its own log.txt (or
    its job folder) by a link to a file of the site's or the server's (a kit's key), symbolic or
    hard. Raises OSError for a link there or anything but a regular file (a FIFO would block the reader)."""
    if path.parent.is_symlink():
        raise OSError(errno.ELOOP, "the log's folder is a link", str(path))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    if info.st_nlink > 1:  # a hard link to a file elsewhere (one job code could make within its file system)
        os.close(fd)
        raise OSError(errno.EMLINK, "a hard link", str(path))
    return os.fdopen(fd, "rb")


def last_lines(path: Path, end: int, lines: int, owner: str | None = None) -> list[str]:
    """The last ``lines`` complete lines of ``path`` before byte ``end`` (within ``CHUNK_BYTES``);
    ``owner``: as in ``lines_between``."""
    if lines <= 0:
        return []
    start = max(end - CHUNK_BYTES, 0)
    got, after = lines_between(path, start, end, owner=owner)
    if got and after == start:  # the line saying why it cannot be read
        return got
    return (got[1:] if start > 0 else got)[-lines:]  # read from mid-file, the first is part of one


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [...]"


async def _until_room_or(room: Awaitable[object], stop: asyncio.Event) -> None:
    """Wait for ``room`` unless ``stop`` is set first (the rest of the log is sent at once then)."""
    waiting, stopped = asyncio.ensure_future(room), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        stopped.cancel()


async def follow(tail: LogTail, send: Callable[[list[str]], bool], stop: asyncio.Event,
                 room: Callable[[], Awaitable[object]] | None = None,
                 notice: Callable[[str], object] | None = None) -> None:
    """Hand ``send`` the new lines every ``POLL_SECONDS`` until ``stop`` is set (then the rest,
    unfinished last line included) or ``send`` returns False (nobody listens any more).
    ``room``: awaited before each further read, so that a slow receiver paces the reads (the log
    left unread meanwhile is read later, or skipped with a line saying so past MAX_BEHIND_BYTES).
    ``notice``: handed the line saying why the log cannot be read, once per problem (a line with
    no place in the log: not counted in its offsets)."""
    while True:
        while lines := tail.read():
            if not send(lines):
                return
            if room is not None and not stop.is_set():
                await _until_room_or(room(), stop)
        if notice is not None and (problem := tail.take_problem()) is not None:
            notice(problem)
        try:
            await within(stop.wait(), POLL_SECONDS)
            break
        except TimeoutError:
            pass
    while lines := tail.read(final=True):
        send(lines)
