"""No job process escapes: job processes and the daemons that start them adopt orphans (Linux).

A process whose parent exits is reparented to its nearest ancestor marked a *child
subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux 3.4+, no privileges needed), else to
PID 1. Every job process marks itself one before the job's code runs, so what the job
starts (a double fork, ``setsid``, an empty environment) stays below it while the job runs;
the daemon (server, site) marks itself one too, so once a job process is gone, everything it
left behind becomes a direct child of the daemon. The daemon knows which of its children it
started (``spawn``): any other child is a leftover, and ``OrphanSweeper.sweep`` kills it
with all of its descendants and reaps it. It sweeps at each job's end and every
``SWEEP_INTERVAL_SECONDS``; each sweep stops what it finds and looks again before it kills
(``console.runtime.stop_then_kill``), so a process that forks and exits at once cannot outrun it. It reaps only the pids it kills, never ``waitpid(-1)``: the
children it started belong to asyncio's child watcher.

A job's code that SIGKILLs its job process and the daemon leaves what it started under PID 1;
that is found by the mark every job process sets (``console.runtime.job_mark``) and killed by
the sweep of a daemon of the job's workspace (of any daemon, if the job's code changed the mark),
the first one at its start. Only a process leaving the tree by other means
(asking systemd, cron or sshd to start it) escapes; a job running as the daemon's own user can
do that, and worse (docs/protocol.md).
Elsewhere than Linux nothing is adopted, and sweeping does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from typing import Any

from console.liveness import running, stat_fields
from console.runtime import children, job_mark
from console.runtime.stop_then_kill import stop_then_kill, sweep_until_gone

log = logging.getLogger("console.runtime.adoption")

_PR_SET_CHILD_SUBREAPER = 36
#: What a daemon says at start, with and without adoption.
ADOPTING = "job processes left behind by their jobs are adopted (child subreaper) and ended"
NOT_ADOPTING = ("this system cannot adopt orphans (Linux only): a job's process that leaves its session and "
                "clears its environment outlives the job")
#: How often the daemon looks for children it did not start.
SWEEP_INTERVAL_SECONDS = 2.0
#: How long one sweep (of the marked processes, of the adopted ones) goes on while it keeps
#: finding processes: a fork bomb gets this long.
SWEEP_SECONDS = 4.0


def become_subreaper() -> bool:
    """Mark this process a child subreaper; whether it is one now (False off Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, tuple[int, bool]]:
    """pid -> (parent pid, whether it still runs) for every process now (about 5 ms for 150
    processes: plain reads, since the daemon sweeps every few seconds). A process whose leader
    thread ended while other threads go on shows ``Z`` but runs (``console.liveness``)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = stat_fields(f"/proc/{name}/stat")
        if stat is not None:  # else gone meanwhile
            found[int(name)] = (stat[1], running(int(name), stat[0]))
    return found


def descendants(pid: int, parents: dict[int, tuple[int, bool]] | None = None) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...)."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, (parent, _) in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _below(pid: int, parents: dict[int, tuple[int, bool]] | None = None) -> list[int]:
    """Every process below ``pid`` now, zombies included: from the kernel's children lists (fast enough
    to see a process that forks and exits at once, ``console.runtime.children``), else from ``parents``
    (read now if not given)."""
    found = children.below(pid)
    return descendants(pid, parents) if found is None else found


def end_descendants(seconds: float = 2.0) -> int:
    """SIGKILL every live process below this one until none is left (at most ``seconds``); how
    many were killed. A job process calls it as it ends: what its job started goes with it,
    also when the daemon that would sweep them is gone. Each pass stops what it finds before it
    kills (``stop_then_kill``): a process forking its next generation and exiting cannot outrun it."""
    me = os.getpid()
    return len(sweep_until_gone(lambda: _below(me), seconds, 0.01))


class OrphanSweeper:
    """The daemon's side: which children it started, and the end of every other one."""

    def __init__(self) -> None:
        self.enabled = False
        #: The workspace tag of this daemon (``job_mark.workspace_tag``, 0 until the daemon sets it): its
        #: job processes' marks carry it, and its sweeps end leftovers under PID 1 that carry it.
        self.owner = 0
        self._ours: dict[int, asyncio.subprocess.Process] = {}
        # A child being created is not yet known as ours: no sweep kills one meanwhile.
        self._spawning = 0
        self._spawns = 0

    def enable(self) -> bool:
        """Adopt orphans from now on (a daemon's main calls it once); whether this system allows it.

        Never in a process that starts children it does not register with ``spawn`` (a test
        runner embedding a server): the sweep would end them."""
        self.enabled = become_subreaper()
        return self.enabled

    async def spawn(self, *args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        """``asyncio.create_subprocess_exec``, the child registered as the daemon's own."""
        self._spawning += 1
        self._spawns += 1
        self._forget_ended()
        try:
            process = await asyncio.create_subprocess_exec(*args, **kwargs)
            self._ours[process.pid] = process
        finally:
            self._spawning -= 1
        return process

    def _is_ours(self, pid: int) -> bool:
        process = self._ours.get(pid)
        return process is not None and process.returncode is None

    def _look(self, strays: set[int], leftovers: dict[int, bool], groups: set[int], cleared: set[int]) -> list[int] | None:
        """Every process a sweep ends now: what a job left under PID 1 (``job_mark``) and each child of
        this process it did not start, each with all below it. Adds the strays (the children to reap) to
        ``strays``, the leftovers' tops to ``leftovers`` (pid -> whether it is this workspace's), their
        process groups to ``groups``, and the children of PID 1 that are no job's to ``cleared`` (not
        judged again in this sweep). None if a child was being started meanwhile (a look that does not
        count). Its own children are read last: between that read and the stop, as little time as can be."""
        spawns, busy = self._spawns, self._spawning
        me = os.getpid()
        orphans = children.children(1)
        parents = _parents() if orphans is None else None  # no children lists: the scan of /proc
        if parents is not None:
            orphans = [pid for pid, (parent, _) in parents.items() if parent == 1]
        # What a job left under PID 1 (its job process and daemon killed by the job's own code): this
        # workspace's jobs', and those whose workspace cannot be told (job_mark).
        under_init = {pid: (1, running(pid)) for pid in orphans or [] if pid not in cleared}
        found = []
        for root, own in job_mark.leftover_roots(under_init, self.owner):
            leftovers[root] = own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                groups.add(os.getpgid(root))
            found += [root, *_below(root, parents)]
        cleared.update(pid for pid in under_init if pid not in leftovers)
        mine = children.children(me) if parents is None else None
        if mine is None:
            parents = _parents() if parents is None else parents
            mine = [pid for pid, (parent, _) in parents.items() if parent == me]
        if busy or self._spawning or self._spawns != spawns:
            return None
        for stray in [pid for pid in mine if not self._is_ours(pid)]:
            strays.add(stray)
            found += [stray, *_below(stray, parents)]
        return found

    def sweep_once(self, seconds: float = SWEEP_SECONDS) -> tuple[int, int] | None:
        """Kill every child of this process it did not start, with all below it, and what a job left
        under PID 1, and reap the dead children: ``(processes killed, such children and leftovers
        found)``; None if a child was being started meanwhile (try again). Each process found is
        stopped first and the look repeated until it finds nothing new (``stop_then_kill``, at most
        ``seconds``): a job's process that forks its next generation and exits cannot outrun it."""
        if not self.enabled:
            return 0, 0
        strays: set[int] = set()
        leftovers: dict[int, bool] = {}
        groups: set[int] = set()
        cleared: set[int] = set()
        looked = False

        def look() -> list[int] | None:
            nonlocal looked
            found = self._look(strays, leftovers, groups, cleared)
            looked = looked or found is not None
            return found

        killed = len(stop_then_kill(look, seconds))
        if not looked:
            return None
        # A leftover's group catches one that keeps changing its pid (clone(CLONE_PARENT)); such a
        # group lies in a session a job process made (job_mark.kill_tree).
        for group in groups:
            if group > 1 and group != os.getpgrp():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
        for stray in strays:  # only these are our children: their descendants come to us as they die
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stray, os.WNOHANG)
        if own := sum(leftovers.values()):
            log.warning("%d process(es) a job of this workspace left under PID 1 (its job process and daemon gone) "
                        "were killed", own)
        if untold := len(leftovers) - own:
            log.warning("%d process(es) a job left under PID 1 whose workspace cannot be told (its mark changed, "
                        "or set by an older version) were killed", untold)
        return killed, len(strays) + len(leftovers)

    def _forget_ended(self) -> None:
        """Drop the children that have ended; on the loop only (a sweep's thread just reads)."""
        for pid in [pid for pid, process in self._ours.items() if process.returncode is not None]:
            del self._ours[pid]

    def sweep(self, seconds: float = SWEEP_SECONDS) -> int:
        """``sweep_once`` until no such child is left, for at most ``seconds``; processes killed."""
        total, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.sweep_once()
            if found is not None:
                total += found[0]
                if not found[1]:
                    break
            time.sleep(0.02)
        return total

    async def run(self, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        """Sweep at once (what a killed daemon's jobs left), then every ``interval`` seconds until cancelled."""
        while True:
            found = await asyncio.to_thread(self.sweep)
            if found:
                log.warning("%d process(es) this daemon did not start (left behind by a job) were killed", found)
            await asyncio.sleep(interval)


#: The one sweeper of this process; ``spawn`` is how the daemon starts every child.
SWEEPER = OrphanSweeper()
spawn = SWEEPER.spawn
