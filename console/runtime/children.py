"""The processes below one, read from the kernel's own lists of children (Linux).

A sweep that reads every ``/proc/PID/stat`` to learn who is whose parent takes milliseconds; a
process that forks its next generation and exits at once lives less than that, so such a scan
lists a generation that is gone by the time it is read and misses the next one (security tester,
session 11, item 3). ``/proc/PID/task/TID/children`` (``CONFIG_PROC_CHILDREN``, in every usual
distribution's kernel) is the kernel's list of one thread's children, read in one call: a
subreaper reading its own sees the hopper's current generation, since each one is reparented to
it as its parent exits. The kernel says the list is exact only for stopped processes: the sweeps
stop what they find and look again (``console.runtime.stop_then_kill``).

Where the files are missing (another kernel configuration, a process not readable) the callers
fall back to their scan of ``/proc``.
"""

from __future__ import annotations

import os

#: Whether this kernel keeps the children files.
AVAILABLE = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def children(pid: int) -> list[int] | None:
    """The children of process ``pid`` now (those of each of its threads); [] if it is gone; None
    where the kernel keeps no such list or it cannot be read (use the scan of ``/proc`` instead)."""
    if not AVAILABLE:
        return None
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found += [int(child) for child in f.read().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        except (OSError, ValueError):
            return None
    return found


def below(pid: int) -> list[int] | None:
    """Every process below ``pid`` (children, their children, ...), zombies included; None where a
    list could not be read (use the scan of ``/proc`` instead)."""
    found: list[int] = []
    todo = children(pid)
    if todo is None:
        return None
    while todo:
        child = todo.pop()
        found.append(child)
        more = children(child)
        if more is None:
            return None
        todo += more
    return found
