"""Whether a process still runs, read from Linux ``/proc``: the one rule every sweep uses.

A process's state letter is its thread-group leader's. The leader can end alone (the raw
``SYS_exit`` syscall, not ``exit_group``) while its other threads go on: ``/proc/PID/stat``
then says ``Z`` and ``/proc/PID/environ`` and ``cmdline`` cannot be read (the leader has no
memory map left), yet the process runs. So "gone" means every task in ``/proc/PID/task`` is
a zombie, and what a process carries in its environment is read from any task still
running. Owns nothing else; imports nothing of the project.
"""

from __future__ import annotations

import os

#: States of a task that no longer runs (zombie, dead).
_ENDED = frozenset("ZX")
#: More than any environment the kernel lets a process start with (ARG_MAX, 2 MiB by default).
_ENVIRON_BYTES = 4 << 20


def _read(path: str, size: int = 4096) -> bytes:
    """Up to ``size`` bytes of ``path`` (plain reads, no Path objects: sweeps run every few seconds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts, left = [], size
        while left > 0 and (part := os.read(fd, min(left, 65536))):
            parts.append(part)
            left -= len(part)
        return b"".join(parts)
    finally:
        os.close(fd)


def stat_fields(path: str) -> tuple[str, int] | None:
    """(state letter, parent pid) from a ``/proc/.../stat`` file; None if it is gone or unreadable."""
    try:
        stat = _read(path)
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split(None, 2)  # the name may hold spaces and parentheses
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    return fields[0].decode(), int(fields[1])


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def tasks_running(pid: int) -> bool:
    """Whether any thread of process ``pid`` still runs (its leader may be a zombie)."""
    for tid in _tasks(pid):
        found = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        if found is not None and found[0] not in _ENDED:
            return True
    return False


def running(pid: int, state: str | None = None) -> bool:
    """Whether process ``pid`` still runs: its leader does, or, the leader a zombie, another thread
    does. ``state``: the leader's state letter if already read (saves one read)."""
    if state is None:
        found = stat_fields(f"/proc/{pid}/stat")
        if found is None:
            return False
        state = found[0]
    return state not in _ENDED or tasks_running(pid)


def read_environ(pid: int) -> bytes:
    """``/proc/PID/environ`` of a running process, from a live thread when its leader has ended;
    empty if it is gone or not ours. Raises nothing."""
    try:
        environ = _read(f"/proc/{pid}/environ", _ENVIRON_BYTES)
    except PermissionError:  # another user's
        return b""
    except OSError:  # gone, or its leader has ended (ESRCH)
        environ = b""
    if environ:
        return environ
    for tid in _tasks(pid):
        try:
            environ = _read(f"/proc/{pid}/task/{tid}/environ", _ENVIRON_BYTES)
        except OSError:
            continue
        if environ:
            return environ
    return b""
