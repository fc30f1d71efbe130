"""Every process a job starts, found and ended: the job's children, grandchildren and ``setsid`` escapees.

A job process is started in its own session with an environment marker,
``FLARE_CONSOLE_JOB=<job_id>:<participant>``, that every process it starts inherits.
Killing the process group catches ordinary children; a child that called ``setsid`` (or
double-forked into another group) is found by scanning ``/proc/<pid>/environ`` for the
marker, which needs no cgroups and no privileges (only our own processes are readable).
Code that wipes its own environment escapes this; nothing short of a cgroup catches that.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

MARKER_VAR = "FLARE_CONSOLE_JOB"
#: How long ``kill_job_processes`` keeps sweeping for processes forked while it kills.
SWEEP_SECONDS = 4.0


def job_marker(job_id: str, participant: str) -> str:
    return f"{job_id}:{participant}"


def job_env(marker: str) -> dict[str, str]:
    """The environment for a job process: ours plus the job's marker."""
    env = dict(os.environ)
    env[MARKER_VAR] = marker
    return env


def _markers() -> dict[int, str]:
    """pid -> job marker, for every live process (not zombies: their environ reads empty) with one."""
    prefix = f"{MARKER_VAR}=".encode()
    found = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                found[int(entry.name)] = item[len(prefix):].decode(errors="replace")
    return found


def marked_pids(marker: str) -> list[int]:
    """Live processes carrying ``marker``."""
    return [pid for pid, found in _markers().items() if found == marker]


def job_processes(job_id: str) -> dict[int, str]:
    """pid -> participant (``server``, a site), for every live process of the job on this machine."""
    prefix = f"{job_id}:"
    return {pid: found[len(prefix):] for pid, found in _markers().items() if found.startswith(prefix)}


def kill_job_processes(marker: str, group: int | None = None, sweep: float = SWEEP_SECONDS) -> int:
    """SIGKILL the process group ``group`` and every process carrying ``marker``; returns how many
    marked processes were found. Sweeps until none is left (a fork bomb gets ``sweep`` seconds)."""
    if group is not None:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    seen: set[int] = set()
    deadline = time.monotonic() + sweep
    while pids := marked_pids(marker):
        for pid in pids:
            seen.add(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return len(seen)


async def reap_job_processes(marker: str, group: int | None = None) -> int:
    return await asyncio.to_thread(kill_job_processes, marker, group)
