"""What every long-running part process (server, site) shares: its log and facts about itself."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import logging.handlers
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from console.log_floods import FloodSummary
from console.within import within

#: ``log.txt`` is rotated past this size to ``log.txt.1`` (``.1`` to ``.2``, ...), keeping this many:
#: at most 60 MiB of a participant's log in all.
LOG_MAX_BYTES = 10 << 20
LOG_BACKUPS = 5


def setup_logging(workspace: Path, *, name: str = "console", flood_seconds: float = 10.0) -> None:
    """Log ``name``'s lines and asyncio's to stderr and to ``log.txt`` in the participant's folder,
    rotated by size (``LOG_MAX_BYTES``, ``LOG_BACKUPS``); a flood of one per-connection line kind is
    summed up once per ``flood_seconds`` (``console.log_floods``; the server: its
    ``refusal_log_seconds``). Called again (a restart in the same process), it replaces what it set."""
    fmt = logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    targets: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(workspace / "log.txt", maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS)]
    for target in targets:
        target.setFormatter(fmt)
    summing = FloodSummary(targets, flood_seconds)
    root = logging.getLogger(name)
    root.setLevel(logging.INFO)
    # asyncio's lines (a write to a closed socket, a peer's SSL error) went to Python's last-resort
    # handler: stderr only, one line each. They are the participant's log too.
    library = logging.getLogger("asyncio")
    library.propagate = False
    for logger in (root, library):
        for old in list(logger.handlers):
            logger.removeHandler(old)
            if isinstance(old, FloodSummary):
                old.close()
                for target in old.targets:
                    target.close()
        logger.addHandler(summing)


def root_warning(part: str, key: str) -> str | None:
    """What a daemon (``part``: server, site) started as root says once at start; None if it is not
    root. Job code (the ``byoc`` right) runs with the daemon's rights: as root it reads ``key``,
    rewrites the policy and every job, and lifts its own job_process_limits."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    return (f"this {part} runs as root: the code of every job allowed custom code (the 'byoc' right) runs as root "
            f"with this {part}'s rights: it can read {key}, change local/authorization.json and every job's "
            "files, and lift its own job_process_limits. Run the "
            f"{part} as an unprivileged user of its own (docs/protocol.md, \"What a job's code can reach\")")


#: glibc's mallopt parameters (malloc.h) and the values we set.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap, not from a fresh mmap: a model streams as 1 MiB
#: frames, and TLS and file reads allocate buffers of that size for every chunk.
MMAP_THRESHOLD_BYTES = 16 << 20
#: Free memory kept at the top of the heap for the next chunk instead of being given back.
TRIM_THRESHOLD_BYTES = 64 << 20


def tune_allocator() -> bool:
    """Let glibc's malloc reuse the megabyte buffers of a model's chunks; whether it could (glibc only).

    By default glibc serves a block over 128 KiB with a fresh ``mmap`` and, once its dynamic
    threshold has risen, gives the top of the heap back after each free: every 1 MiB chunk of a
    model (the file read, the frame, OpenSSL's record buffers, the decrypted bytes) then costs
    256 page faults of zeroed memory, more than the AES-GCM of the chunk itself (measured: a TLS
    stream of 1 MiB frames took 2.0 ms of CPU per MiB to send, 0.9 ms with these settings).
    What a process holds is unchanged (the buffers are freed and reused); at most
    ``TRIM_THRESHOLD_BYTES`` of free heap stays resident after a burst."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                    and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, ValueError, AttributeError):  # not glibc (musl, macOS): its own allocator
        return False


def memory_total_mib() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError, AttributeError):
        return None


def memory_rss_mib() -> float | None:
    """Resident memory of this process now, MiB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20), 1)
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (job processes), seconds:
    two readings give a CPU share (``top`` shows it as %)."""
    t = os.times()
    return round(t.user + t.system + t.children_user + t.children_system, 2)


def process_info(start_time: float) -> dict[str, Any]:
    from console import __version__

    return {
        "version": __version__, "memory_total_mib": memory_total_mib(), "memory_rss_mib": memory_rss_mib(),
        "cpu_seconds": cpu_seconds(),
        "python": sys.version.split()[0], "platform": platform.platform(), "hostname": platform.node(),
        "cpu_count": os.cpu_count(), "pid": os.getpid(), "uptime_seconds": round(time.time() - start_time, 1),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


async def exited(process: asyncio.subprocess.Process, poll: float = 0.05) -> int:
    """The exit code, as soon as the process has exited.

    ``Process.wait()`` (Python 3.11) also waits until every pipe to the process is closed, and a
    process it started (a grandchild, a fork) can hold one open forever; the return code is
    known at once, so it is polled."""
    while process.returncode is None:
        await asyncio.sleep(poll)
    return process.returncode


async def stop_child(process: asyncio.subprocess.Process, line: bytes, grace: float) -> bool:
    """Ask a job child to stop with ``line`` on its stdin; kill it after ``grace`` seconds.

    True if it stopped by itself."""
    if process.returncode is not None:
        return True
    try:
        assert process.stdin is not None
        process.stdin.write(line)
        await process.stdin.drain()
    except (ConnectionError, OSError):
        pass
    try:
        await within(exited(process), grace)
        return True
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it exited just now, between the wait and the kill
            process.kill()
        await exited(process)
        return False
