"""A job's output to its ``log.txt``, within a budget: kept by the daemon, not by the job.

A job process's stdout and stderr (its prints, its logger's lines, whatever the processes it
starts write there) are one pipe to the daemon, which appends what arrives to the job's
``log.txt`` until ``max_log_bytes`` are written (``job_process_limits``). Past that, the
output is read and dropped (the job never blocks on a full pipe), one line says so at
once, and one more when the output ends says how many bytes and lines were dropped. The job
cannot lift the budget: it is the daemon's count. The daemon opens ``log.txt`` before the
job's code runs and never by a link (O_NOFOLLOW), so replacing the file later does not
point the daemon's writes elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

CHUNK_BYTES = 64 << 10
PREFIX = "flare-console: "


def open_log(path: Path) -> int:
    """The job's log.txt, opened for appending (for the daemon's user only: console.private_files);
    OSError if it is a link."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _stamp(text: str) -> bytes:
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} - {PREFIX}{text}\n".encode()


async def relay_output(stream: asyncio.StreamReader, log_fd: int, budget: int) -> None:
    """Append what ``stream`` carries to ``log_fd`` within ``budget`` bytes, until it ends; closes
    ``log_fd``. Cancelled (the job is over and a leftover still holds the pipe), it still writes
    the count of what was dropped."""
    written = dropped = dropped_lines = 0
    full, line_open = False, False  # past the budget; the last byte written ended no line

    def write(data: bytes) -> None:
        nonlocal full
        try:
            os.write(log_fd, data)
        except OSError:  # a full disk: the output is still read (the job must not block), not kept
            full = True

    try:
        while chunk := await stream.read(CHUNK_BYTES):
            if not full and len(chunk) <= budget - written:
                write(chunk)
                written += len(chunk)
                line_open = not chunk.endswith(b"\n")
                continue
            if not full:  # whole lines up to the budget, then what happens to the rest, once
                full = True
                head = chunk[:budget - written]
                kept = head[:head.rfind(b"\n") + 1]
                if kept:
                    write(kept)
                    written += len(kept)
                    line_open = False
                chunk = chunk[len(kept):]
                write((b"\n" if line_open else b"") + _stamp(
                    f"this job's output reached its log budget of {budget} bytes (max_log_bytes in "
                    "job_process_limits); what it writes from now on is dropped, and counted when it ends"))
            dropped += len(chunk)
            dropped_lines += chunk.count(b"\n")
    finally:
        if full:
            write(_stamp(f"{dropped} bytes ({dropped_lines} lines) of this job's output were dropped "
                                    f"beyond its log budget of {budget} bytes"))
        os.close(log_fd)
