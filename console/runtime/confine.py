"""A job process confines itself before the job's code runs: resource limits, adoption and its mark.

Run first thing in ``server_app`` and ``site_app``: the hard limits are lowered, so the job's
code (and all it starts, which inherits them) cannot raise them again, unless it runs as
root (CAP_SYS_RESOURCE), which is why a daemon started as root says so at start. The limits
come from the daemon's ``job_process_limits`` (``console.jobdef.process_limits``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from console.jobdef.process_limits import ProcessLimits
from console.runtime.adoption import become_subreaper
from console.runtime.job_mark import mark_self

try:
    import resource
except ImportError:  # not POSIX: no limits to set
    resource = None  # type: ignore[assignment]


def default_memory_bytes() -> int | None:
    """3/4 of the machine's memory, the memory limit when none is configured."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4
    except (ValueError, OSError, AttributeError):
        return None


def _user_tasks(uid: int) -> int:
    """Processes and threads of ``uid`` now: what RLIMIT_NPROC counts against."""
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(entry / "task"))
        except OSError:  # gone meanwhile
            continue
    return count


def _lower(which: int, value: int) -> int | None:
    """Set soft and hard limit ``which`` to ``value``, never above the hard limit it has; the value
    set, or None where the system refuses it (macOS caps some limits below what Linux takes)."""
    try:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        return None
    return value


def confine(limits: ProcessLimits, mark_owner: int = 0) -> dict[str, int | None]:
    """Set this process's limits and mark it a subreaper; what was set, for the job's log.

    A limit the system lacks is skipped (``None`` in the answer)."""
    become_subreaper()
    if resource is None:
        return {}
    # Past max_file_bytes a write fails with EFBIG instead of killing the process with SIGXFSZ:
    # the job's code sees an OSError naming the cause. Children inherit the ignored signal.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Core 0 is also half of the mark of a job's processes (console.runtime.job_mark), set below.
    done: dict[str, int | None] = {"core": _lower(resource.RLIMIT_CORE, 0),
                                   "file_bytes": _lower(resource.RLIMIT_FSIZE, limits.max_file_bytes),
                                   "open_files": _lower(resource.RLIMIT_NOFILE, limits.max_open_files)}
    memory = limits.max_memory_bytes or default_memory_bytes()
    done["memory_bytes"] = _lower(resource.RLIMIT_DATA, memory) if memory else None
    if limits.max_address_space_bytes:
        done["address_space_bytes"] = _lower(resource.RLIMIT_AS, limits.max_address_space_bytes)
    uid = os.getuid()
    if uid != 0 and sys.platform.startswith("linux"):  # the kernel never holds root to RLIMIT_NPROC
        done["user_tasks"] = _lower(resource.RLIMIT_NPROC, _user_tasks(uid) + limits.max_processes)
    done["rt_time_us"] = mark_self(mark_owner)
    return done
