"""The mark a job process and everything it starts carry and cannot shed: two lowered hard limits (Linux).

Job code can leave its session, clear its environment and, with ``SIGKILL``, remove both its
own job process and the daemon above it (they run as its user): then nothing above what it
started is left to end it, and it is reparented to PID 1. What it cannot do, unless it runs
as root, is raise a hard resource limit. So each job process sets ``RLIMIT_CORE`` to 0 (as it
always did) and ``RLIMIT_RTTIME`` (real-time CPU without blocking, which only real-time
scheduled tasks meet, and those need privileges) to about an hour (``MARK_RTTIME_US``, a little
more with a tag, below); every process it starts inherits both and can only lower them. A process
whose hard core limit is 0 and real-time one at most ``MARK_RTTIME_US + TAG_SPAN`` is a job's; if
it is a child of PID 1 it is a leftover whose job process and daemon are
gone, and a daemon kills it, with all below it, at start and at each sweep (``OrphanSweeper``).

Which daemon: the one of its workspace. The mark carries a tag of the daemon's workspace ``T``
(``workspace_tag``, 1 to ``TAG_SPAN - 1``) twice, in opposite directions: the real-time limit is
``MARK_RTTIME_US + TAG_SPAN - T`` and the hard ``RLIMIT_MSGQUEUE`` is ``T``. (Above the untagged
mark: a daemon of a version before tags, which takes only a limit of at most ``MARK_RTTIME_US`` for
a mark, ends no tagged leftover.) Job code can only lower limits:
lowering the first raises the tag it reads as, which the second would have to follow upwards, and
lowering the second lowers it, which the first would have to follow upwards. So a mark job code
touched no longer adds up, and a leftover reads as its own daemon's or as one whose owner cannot be
told, never as another workspace's. A daemon ends the leftovers of its own workspace and those whose
owner cannot be told (a mark tampered with, one of a version before tags, one set where the message
queue limit was already lower than the tag): any daemon of the user does, as before, so that no job
code escapes every sweep by changing its mark, while a daemon never ends an intact leftover of
another workspace (a newcomer's demo server ending a test's processes, session 10, user item 13).

A child of PID 1 only: a live job process is its daemon's child (or a test runner's that runs a
server inside itself), never PID 1's, unless PID 1 is the daemon (a container), whose own
sweep then has it; PID 1 whose command line names the console is left alone. Where orphans go
to another reaper (``systemd --user``), leftovers are not found. Reading another process's
limits needs what killing it needs (``prlimit``: the same user, or CAP_SYS_RESOURCE); a process of
the same user that ``prlimit`` may not read (it runs a set-group-ID program) is read in
``/proc/PID/limits``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
from pathlib import Path

try:
    import resource
except ImportError:  # not POSIX
    resource = None  # type: ignore[assignment]

#: The real-time CPU limit a job process sets on itself (1 hour, in microseconds): its mark.
MARK_RTTIME_US = 3600 * 1_000_000
_RTTIME = getattr(resource, "RLIMIT_RTTIME", None)


def supported() -> bool:
    return sys.platform.startswith("linux") and _RTTIME is not None and hasattr(resource, "prlimit")


#: Workspace tags are 1 to this, less one (0: none). Below the usual hard message-queue limit (819200 bytes).
TAG_SPAN = 1 << 19


def workspace_tag(workspace: str | Path) -> int:
    """The tag of a daemon's workspace (its resolved path) that its jobs' marks carry: 1 to ``TAG_SPAN - 1``."""
    digest = hashlib.sha256(os.path.realpath(workspace).encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % (TAG_SPAN - 1)


def mark_self(tag: int = 0) -> int | None:
    """Set this job process's mark, carrying the workspace ``tag`` of its daemon (0: none; see the module's
    text): soft = hard real-time limit ``MARK_RTTIME_US + TAG_SPAN - tag`` (``MARK_RTTIME_US`` untagged; never
    above what it has), hard message
    queue limit ``tag``. The real-time value set, or None where the system has no such limit. Where the
    message queue limit is below ``tag`` already the mark goes untagged (any daemon's sweep then)."""
    if not supported():
        return None
    if not 0 <= tag < TAG_SPAN:
        tag = 0
    try:
        if tag:
            soft, hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
            if hard == resource.RLIM_INFINITY or hard >= tag:
                resource.setrlimit(resource.RLIMIT_MSGQUEUE, (min(soft, tag), tag))
            else:
                tag = 0
        _, hard = resource.getrlimit(_RTTIME)
        wanted = MARK_RTTIME_US + TAG_SPAN - tag if tag else MARK_RTTIME_US
        value = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(_RTTIME, (value, value))
    except (ValueError, OSError):
        return None
    return value


#: The rows of ``/proc/PID/limits`` that hold the mark (as the kernel names them).
_LIMIT_ROWS = {"Max realtime timeout": "rttime", "Max core file size": "core", "Max msgqueue size": "msgqueue"}


def _same_user(pid: int) -> bool:
    """Whether ``pid``'s real, effective and saved user IDs are all this process's real one
    (``/proc/PID/status``): a process ``kill`` may end, and none that changed user (a set-user-ID program)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return set(line.split()[1:4]) == {str(os.getuid())}
    except OSError:
        pass
    return False


def _proc_limits(pid: int) -> dict[str, int] | None:
    """The hard limits that make the mark, read from ``/proc/PID/limits`` (the kernel shows them
    to anyone: no ptrace check); None if gone or unreadable."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                for row, key in _LIMIT_ROWS.items():
                    if line.startswith(row):
                        hard = line[len(row):].split()[1]
                        found[key] = resource.RLIM_INFINITY if hard == "unlimited" else int(hard)
    except (OSError, ValueError, IndexError):
        return None
    return found if len(found) == len(_LIMIT_ROWS) else None


def _hard_limits(pid: int) -> tuple[int, int, int] | None:
    """``pid``'s hard (real-time CPU, core, message queue) limits, or None (gone, or not this user's).

    ``prlimit`` needs ptrace-like rights, which a process of our user running a set-group-ID
    program (``ssh-agent``, ``chage``: its saved group differs from its real one) denies us,
    while ``kill`` still works on it; job code could hide a leftover that way (security tester,
    session 9, item 7). Such a process of our own user is read in ``/proc/PID/limits`` instead."""
    try:
        return (resource.prlimit(pid, _RTTIME)[1], resource.prlimit(pid, resource.RLIMIT_CORE)[1],
                resource.prlimit(pid, resource.RLIMIT_MSGQUEUE)[1])
    except PermissionError:
        pass
    except (OSError, ValueError):  # gone
        return None
    if not _same_user(pid):
        return None
    limits = _proc_limits(pid)
    return None if limits is None else (limits["rttime"], limits["core"], limits["msgqueue"])


def _owner(limits: tuple[int, int, int]) -> int | None:
    """The workspace tag hard limits read as: 0 for no job's mark, the tag for an intact tagged mark,
    None for a job's mark whose owner cannot be told (tampered with, or untagged)."""
    rttime, core, msgqueue = limits
    if rttime == resource.RLIM_INFINITY or rttime > MARK_RTTIME_US + TAG_SPAN or core != 0:
        return 0
    tag = MARK_RTTIME_US + TAG_SPAN - rttime
    return tag if 0 < tag < TAG_SPAN and msgqueue == tag else None


def marked(pid: int) -> bool:
    """Whether process ``pid`` carries a job's mark, tagged or not (its real-time and core hard limits at most a
    job process's)."""
    limits = _hard_limits(pid)
    return limits is not None and _owner(limits) != 0


def owner(pid: int) -> int | None:
    """The workspace tag of a marked process's daemon (``workspace_tag``); None when it cannot be told
    (its mark tampered with, or untagged); 0 when it carries no mark (or is gone, or not this user's)."""
    limits = _hard_limits(pid)
    return 0 if limits is None else _owner(limits)


def _pid1_is_a_daemon() -> bool:
    try:
        with open("/proc/1/cmdline", "rb") as f:
            return b"console" in f.read()
    except OSError:
        return True  # not known: leave PID 1's children alone


def leftover_roots(parents: dict[int, tuple[int, bool]], tag: int = 0) -> list[tuple[int, bool]]:
    """The marked children of PID 1 (``parents``: pid -> (parent pid, running), as adoption reads
    them) that a daemon of workspace ``tag`` ends: each the top of a job's leftovers, with whether it
    is its own workspace's (else its owner cannot be told); none where PID 1 is this process or a daemon."""
    if not supported() or os.getpid() == 1 or _pid1_is_a_daemon():
        return []
    found = []
    for pid, (parent, running) in parents.items():
        if parent == 1 and running:
            whose = owner(pid)
            if whose is None or (whose and whose == tag):
                found.append((pid, whose is not None))
    return found


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
