"""A sweep that converges: stop everything it finds, look again until nothing new shows, then kill.

Killing what one ``/proc`` snapshot shows loses to a process that forks its next generation and
exits (``setsid``, ``fork``, ``exit``, no sleep) faster than the next snapshot is read: each look
finds a generation that is already gone, and its child outlives the sweep (security tester,
session 11, item 3; caught 3 times of 3 under load). A stopped process cannot fork, so every
process a look finds is sent ``SIGSTOP`` first; a child it forked before the stop shows in the next
look and is stopped in turn. A process stopped once is not stopped for good: a sibling still
running can ``SIGCONT`` it (security tester, session 11 final, item 3: siblings continuing each other
forked after the last look), so every look stops again each process it stopped not in state ``T``.
Once ``QUIET_LOOKS`` looks in a row find nothing new and every one it stopped still stopped, all of
them are ``SIGKILL``ed (a stopped process needs no ``SIGCONT`` for that). Bounded: a deadline and a
cap on looks, then whatever was found is killed all the same.

Owns only that loop; what counts as a process to end is the caller's ``look``
(``console.runtime.adoption``, ``console.runtime.procs``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable

#: Looks at most in one sweep (each a read of /proc: a few ms for a few hundred processes).
MAX_LOOKS = 500
#: Looks in a row that find nothing new before the sweep kills: a look can miss a generation caught
#: between its parent's exit and its reparenting (the kernel's children lists are exact only for
#: stopped processes), not this many in a row. Three was too few on a loaded machine: 3 of 12 runs
#: of ``test_fork_hoppers`` beside three busy cores let a hopper through (session 12).
QUIET_LOOKS = 10


def _started(pid: int) -> bytes | None:
    """When ``pid`` started (``/proc/PID/stat`` field 22, in clock ticks): tells a pid reused by another
    process apart; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _state(pid: int) -> bytes | None:
    """The process's state letter (``/proc/PID/stat`` field 3: ``T`` stopped, ``t`` traced, ``R``,
    ``S`` ...); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:][:1]


def _reaped(pid: int) -> bool:
    """Whether ``pid`` was a zombie child of this process, now reaped. A hopper's generations end as
    zombies of the subreaper that sweeps them (a job process, a daemon): thousands a second, each
    then read by every look (the kernel's children lists keep zombies), until the looks were too slow
    to see the live generation (3 of 12 under load, session 12). Only a zombie is reaped, so no exit
    status a caller waits for is taken from a process that still runs; a sweep ends what it finds."""
    if _state(pid) != b"Z":
        return False
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # another process's child: its parent reaps it
        return False


def _running(pid: int) -> bool:
    """Whether ``pid`` lives and is not stopped (a zombie or a dead one cannot fork nor continue others)."""
    return _state(pid) not in (None, b"T", b"t", b"Z", b"X")


def stop_then_kill(look: Callable[[], Iterable[int] | None], seconds: float, looks: int = MAX_LOOKS) -> set[int]:
    """``SIGSTOP`` every process ``look()`` returns and look again, until ``QUIET_LOOKS`` looks in a row
    return none that is new and find every one it stopped still stopped (or ``seconds`` or ``looks`` run
    out), then ``SIGKILL`` every one stopped that is still the process it was; the pids killed.

    ``look`` returns the pids to end now, or None for a look that does not count (the caller was
    starting a child of its own meanwhile: nothing of that look is stopped; tried again shortly). Looks
    follow each other at once: a pause is what a hopper needs to outrun them."""
    stopped: dict[int, bytes] = {}
    seen: set[int] = set()  # stopped, or not ours to stop (another user's, a set-user-ID program): not new again
    deadline = time.monotonic() + seconds
    quiet = 0
    for _ in range(looks):
        found = look()
        if found is not None:
            new = [pid for pid in found if pid not in seen]
            # Continued by a sibling since it was stopped (and still the process stopped): stop it again,
            # found by this look or not (a look can miss one).
            woken = [pid for pid, started in stopped.items() if _running(pid) and _started(pid) == started]
            quiet = 0 if new or woken else quiet + 1
            if quiet >= QUIET_LOOKS:
                break
            seen.update(new)
            new = [pid for pid in new if not _reaped(pid)]
            for pid in woken:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
            for pid in new:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
                    if (started := _started(pid)) is not None:  # else gone before it stopped
                        stopped[pid] = started
        if time.monotonic() > deadline:
            break
        if found is None:
            time.sleep(0.01)
    killed: set[int] = set()
    for pid, started in stopped.items():
        if _started(pid) != started:
            continue  # gone, its pid taken by another process since
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
    return killed


def _nothing_left(look: Callable[[], Iterable[int] | None], looks: int = QUIET_LOOKS) -> bool:
    """Whether ``looks`` looks in a row find no process that still runs (a zombie only waits to be
    reaped; a stopped one cannot fork): the check after a sweep, which one look cannot make, as it
    can miss a generation in transit (``QUIET_LOOKS``). A look that returns None finds something."""
    for _ in range(looks):
        found = look()
        if found is None or any(_running(pid) for pid in found):
            return False
    return True


def sweep_until_gone(look: Callable[[], Iterable[int] | None], seconds: float, pause: float) -> set[int]:
    """``stop_then_kill`` again and again (``pause`` s apart) until ``QUIET_LOOKS`` looks in a row find
    nothing running, or ``seconds`` are up: the pids killed. A job process's end (``adoption``) and the
    daemon's end of a job (``procs``) both sweep so."""
    deadline = time.monotonic() + seconds
    killed: set[int] = set()
    while (left := deadline - time.monotonic()) > 0:
        killed |= stop_then_kill(look, left)
        if _nothing_left(look):
            break
        time.sleep(pause)
    return killed
