"""Every process a job starts, found and ended: the job's children, grandchildren and ``setsid`` escapees.

A job process is started in its own session with an environment marker,
``FLARE_CONSOLE_JOB=<job_id>:<participant>``, that every process it starts inherits.
Killing the process group catches ordinary children; a child that called ``setsid`` (or
double-forked into another group) is found by scanning ``/proc/<pid>/environ`` for the
marker, which needs no cgroups and no privileges (only our own processes are readable).
Code that also wipes its own environment is caught by adoption (``console.runtime.adoption``):
on Linux the job process and the daemon are child subreapers, so whatever a job leaves
behind ends up a child of the daemon, which kills it (``SWEEPER.sweep``) right after the
marked ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from console.jobdef.process_limits import ProcessLimits
from console.liveness import read_environ
from console.process import exited
from console.runtime.adoption import SWEEP_SECONDS, SWEEPER, spawn
from console.runtime.job_output import open_log, relay_output
from console.runtime.limits import MAX_EVENT_LINE_BYTES
from console.runtime.stop_then_kill import sweep_until_gone

MARKER_VAR = "FLARE_CONSOLE_JOB"


def job_marker(job_id: str, participant: str) -> str:
    return f"{job_id}:{participant}"


def job_env(marker: str) -> dict[str, str]:
    """The environment for a job process: ours plus the job's marker."""
    env = dict(os.environ)
    env[MARKER_VAR] = marker
    return env


def _markers() -> dict[int, str]:
    """pid -> job marker, for every running process with one (a real zombie's environ reads empty;
    one whose leader thread ended is read from a thread still running, ``console.liveness``)."""
    prefix = f"{MARKER_VAR}=".encode()
    found = {}
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        for item in read_environ(int(name)).split(b"\0"):  # empty if gone meanwhile, or not ours
            if item.startswith(prefix):
                found[int(name)] = item[len(prefix):].decode(errors="replace")
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
    marked processes were killed. Each one found is stopped before it is killed, the look repeated
    until nothing new shows (``stop_then_kill``: a process forking its next generation and exiting
    cannot outrun it); a fork bomb gets ``sweep`` seconds."""
    if group is not None:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(sweep_until_gone(lambda: marked_pids(marker), sweep, 0.02))


def _reap(marker: str, group: int | None) -> int:
    return kill_job_processes(marker, group) + SWEEPER.sweep()


async def reap_job_processes(marker: str, group: int | None = None) -> int:
    """``kill_job_processes``, then the daemon's sweep of what it adopted (the job's escapees);
    how many processes were killed."""
    return await asyncio.to_thread(_reap, marker, group)


#: Seconds a job's event reader may go on after its process exited (a last line in the pipe).
READER_DRAIN_SECONDS = 1.0


async def start_job_process(module: str, args: list[str], workspace: Path, marker: str,
                            limits: ProcessLimits) -> tuple[asyncio.subprocess.Process, asyncio.Task[None]]:
    """Start ``python -m module args`` as a job process in ``workspace``: its own session, the job's
    marker, ``limits`` (it sets them on itself), its stdout/stderr relayed to ``log.txt`` within
    the log budget. Returns the process and the relay's task (done when the output ends)."""
    log_fd = open_log(workspace / "log.txt")
    try:
        process = await spawn(
            sys.executable, "-m", module, *args, "--limits", limits.to_json(), "--output-relayed",
            "--mark-owner", str(SWEEPER.owner),
            cwd=workspace, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=job_env(marker), start_new_session=True,
            limit=MAX_EVENT_LINE_BYTES + 1,
        )
    except BaseException:
        os.close(log_fd)
        raise
    assert process.stderr is not None
    return process, asyncio.create_task(relay_output(process.stderr, log_fd, limits.max_log_bytes))


async def job_process_ended(process: asyncio.subprocess.Process, marker: str, reader: asyncio.Task[None],
                            what: str, log: logging.Logger, output: asyncio.Task[None] | None = None) -> int:
    """Wait for a job's process to exit, end every process it left behind, its event reader and
    the relay of its output to its log.

    Waits on the exit code, not on the pipes (a grandchild holding them must not keep the job
    open); the reader and the relay get ``READER_DRAIN_SECONDS`` for what is still in the pipes,
    then are cancelled. Returns the exit code.
    """
    code = await exited(process)
    killed = await reap_job_processes(marker, process.pid)
    if killed:
        log.info("%s: %d process(es) left behind were killed", what, killed)
    readers = {reader} if output is None else {reader, output}
    _, pending = await asyncio.wait(readers, timeout=READER_DRAIN_SECONDS)
    for task in pending:
        task.cancel()
    if output is not None:  # cancelled, it still writes what it dropped
        await asyncio.gather(output, return_exceptions=True)
    return code
