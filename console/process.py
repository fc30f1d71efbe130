"""What every long-running part process (server, site) shares: its log and facts about itself."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def setup_logging(workspace: Path, *, name: str = "console") -> None:
    """Log to stderr and to ``log.txt`` in the participant's folder."""
    fmt = logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    root = logging.getLogger(name)
    root.setLevel(logging.INFO)
    root.handlers.clear()
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(workspace / "log.txt")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


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
        await asyncio.wait_for(exited(process), grace)
        return True
    except TimeoutError:
        process.kill()
        await exited(process)
        return False
