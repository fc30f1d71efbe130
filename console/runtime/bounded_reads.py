"""Bounded reads of one open file: its first lines or bytes, its last, its lines one by one.

Owns only how much of a file is read: memory stays bounded whatever the file's size (head stops
early, tail scans backwards from the end in blocks, long lines are capped). Knows nothing of
paths, confinement or commands: ``target_commands`` (its commands and get_job_logs) hands it an
open file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

_BLOCK = 1 << 16
# No more than this much of one line is looked at: a log with no newlines must not fill memory.
_MAX_LINE = 1 << 20


def head(src: BinaryIO, lines: int | None, count_bytes: int | None, limit: int) -> bytes:
    """The first ``count_bytes`` bytes, else the first ``lines`` lines (10), at most ``limit`` + 1 bytes."""
    # One byte past the limit is enough for the caller to see that output was cut.
    if count_bytes is not None:
        return src.read(min(count_bytes, limit + 1))
    kept: list[bytes] = []
    total = 0
    for _ in range(10 if lines is None else lines):
        line = src.readline(limit + 1 - total)
        if not line:
            break
        kept.append(line)
        total += len(line)
        if total > limit:
            break
    return b"".join(kept)


def tail(src: BinaryIO, lines: int | None, count_bytes: int | None, limit: int) -> bytes:
    """The last ``count_bytes`` bytes, else the last ``lines`` lines (10), at most ``limit`` + 1 bytes."""
    size = os.fstat(src.fileno()).st_size
    if count_bytes is not None:
        start = max(size - count_bytes, 0)
    else:
        start = start_of_last_lines(src, size, 10 if lines is None else lines)
    src.seek(start)
    # Bounded by the size seen at the start: a log still being written does not make us read on.
    return src.read(min(size - start, limit + 1))


def start_of_last_lines(src: BinaryIO, size: int, wanted: int) -> int:
    """Offset where the last ``wanted`` lines begin, found by reading blocks backwards."""
    if wanted <= 0:
        return size
    seen = 0
    position = size
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        src.seek(position)
        block = src.read(step)
        end = len(block)
        if position + step == size and block.endswith(b"\n"):
            end -= 1  # the file's final newline ends the last line; it does not start an empty one
        while (newline := block.rfind(b"\n", 0, end)) >= 0:
            seen += 1
            if seen == wanted:
                return position + newline + 1
            end = newline
    return 0


def capped_lines(src: BinaryIO) -> Iterator[bytes]:
    """``src``'s lines from where it stands, each cut to its first 1 MiB."""
    while line := src.readline(_MAX_LINE):
        if not line.endswith(b"\n"):
            # Drop the rest of an over-long line so that later line numbers stay right.
            while (rest := src.readline(_MAX_LINE)) and not rest.endswith(b"\n"):
                pass
        yield line


__all__ = ["capped_lines", "head", "start_of_last_lines", "tail"]
