"""The mark a job process and everything it starts carry and cannot shed: two lowered hard limits (Linux).

Job code can leave its session, clear its environment and, with ``SIGKILL``, remove both its
own job process and the daemon above it (they run as its user): then nothing above what it
started is left to end it, and it is reparented to PID 1. What it cannot do, unless it runs
as root, is raise a hard resource limit. So each job process sets ``RLIMIT_CORE`` to 0 (as it
always did) and ``RLIMIT_RTTIME`` (real-time CPU without blocking, which only real-time
scheduled tasks meet, and those need privileges) to ``MARK_RTTIME_US``; every process it
starts inherits both and can only lower them. A process whose hard limits are both at most
those is a job's; if it is a child of PID 1 it is a leftover whose job process and daemon are
gone, and every daemon kills it, with all below it, at start and at each sweep
(``OrphanSweeper``): so what such a job started ends as soon as any daemon of that user runs.

A child of PID 1 only: a live job process is its daemon's child (or a test runner's that runs a
server inside itself), never PID 1's, unless PID 1 is the daemon (a container), whose own
sweep then has it; PID 1 whose command line names the console is left alone. Where orphans go
to another reaper (``systemd --user``), leftovers are not found. Reading another process's
limits needs what killing it needs (``prlimit``: the same user, or CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

try:
    import resource
except ImportError:  # not POSIX
    resource = None  # type: ignore[assignment]

#: The real-time CPU limit a job process sets on itself (1 hour, in microseconds): its mark.
MARK_RTTIME_US = 3600 * 1_000_000
_RTTIME = getattr(resource, "RLIMIT_RTTIME", None)


def supported() -> bool:
    return sys.platform.startswith("linux") and _RTTIME is not None and hasattr(resource, "prlimit")


def mark_self() -> int | None:
    """Set this job process's mark (soft = hard = ``MARK_RTTIME_US``, never above what it has);
    the value set, or None where the system has no such limit."""
    if not supported():
        return None
    try:
        _, hard = resource.getrlimit(_RTTIME)
        value = MARK_RTTIME_US if hard == resource.RLIM_INFINITY else min(hard, MARK_RTTIME_US)
        resource.setrlimit(_RTTIME, (value, value))
    except (ValueError, OSError):
        return None
    return value


def _hard(pid: int, which: int) -> int | None:
    try:
        return resource.prlimit(pid, which)[1]
    except (OSError, ValueError):  # gone, or not ours
        return None


def marked(pid: int) -> bool:
    """Whether process ``pid`` carries a job's mark (both hard limits at most the job process's)."""
    rttime = _hard(pid, _RTTIME)
    if rttime is None or rttime == resource.RLIM_INFINITY or rttime > MARK_RTTIME_US:
        return False
    return _hard(pid, resource.RLIMIT_CORE) == 0


def _pid1_is_a_daemon() -> bool:
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return b"console" in f.read()
    except OSError:
        return True  # not known: leave PID 1's children alone


def leftover_roots(parents: dict[int, tuple[int, bool]]) -> list[int]:
    """The marked children of PID 1 (``parents``: pid -> (parent pid, running), as adoption reads
    them), each the top of a job's leftovers; none where PID 1 is this process or a daemon."""
    if not supported() or os.getpid() == 1 or _pid1_is_a_daemon():
        return []
    return [pid for pid, (parent, running) in parents.items() if parent == 1 and running and marked(pid)]


def kill_tree(root: int, below: list[int]) -> int:
    """SIGKILL ``root``'s process group, ``root`` and ``below`` (its descendants); how many processes
    were signalled. The group catches one that keeps changing its pid (``clone(CLONE_PARENT)``),
    and holds job processes only: it lies in a session a job process made. PID 1 reaps them."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        group = os.getpgid(root)
        if group > 1 and group != os.getpgrp():
            os.killpg(group, signal.SIGKILL)
    killed = 0
    for pid in (root, *below):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
