"""Finding and stopping a POC's processes by a marker in their environment.

FLARE's ``sub_start.sh`` loops restart what dies and outlive ``nvflare poc stop``, and their
children change process group and session; the one thing every one of them keeps is the
environment it inherited. So each POC run gets a unique marker variable, and stopping means
"signal every live process carrying it" until none is left.

``start_reaper`` covers the case where the owner cannot clean up (killed, ``os._exit``, a
second Ctrl-C during the stop): a small child process in its own session waits for its stdin
to close, which happens however the owner ends, then stops the marked processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.liveness import read_environ, running

MARKER_VAR = "FLARE_CONSOLE_POC_RUN"


def marked_pids(marker: str) -> list[int]:
    """Every live process whose environment carries ``FLARE_CONSOLE_POC_RUN=marker`` (Linux ``/proc``)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        # Empty if gone meanwhile or another user's; read from a live thread if the leader ended.
        if needle in read_environ(int(name)).split(b"\0"):
            found.append(int(name))
    return [pid for pid in found if running(pid)]


def kill_marked(marker: str, grace: float = 10.0) -> list[int]:
    """SIGTERM every marked process, SIGKILL what is left after ``grace`` s; returns pids still alive."""
    pids: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        # Several passes: a sub_start.sh loop may start a new server between our scan and its death.
        for _ in range(3):
            pids = marked_pids(marker)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                    if sig == signal.SIGTERM:
                        os.kill(pid, signal.SIGCONT)  # a stopped process acts on SIGTERM only when continued
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + grace
            while pids and time.monotonic() < deadline:
                pids = [pid for pid in pids if running(pid)]
                time.sleep(0.1)
            if not marked_pids(marker):
                return []
    return marked_pids(marker)


def start_reaper(marker: str, remove: Path | None = None) -> subprocess.Popen[bytes]:
    """A watchdog that stops the marked processes (and removes ``remove``) once its stdin closes.

    Keep the returned process; ``stop_reaper`` ends it after a normal stop. If the owner dies
    first, the kernel closes the pipe and the reaper cleans up.
    """
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = {k: v for k, v in os.environ.items() if k != MARKER_VAR}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    code = "import sys; from console.poc.processes import reap; reap(*sys.argv[1:])"
    args = [sys.executable, "-c", code, marker, *([str(remove)] if remove else [])]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
                            start_new_session=True)  # a Ctrl-C to the owner's group must not reach it


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    """Close the reaper's stdin (it makes its final sweep) and wait for it."""
    if reaper.stdin is not None and not reaper.stdin.closed:
        reaper.stdin.close()
    try:
        reaper.wait(60)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def reap(marker: str, remove: str | None = None) -> None:
    """The reaper's body: wait for stdin to close, then stop the marked processes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal closing is exactly when it must work
    while sys.stdin.buffer.read(4096):
        pass
    kill_marked(marker)
    if remove:
        shutil.rmtree(remove, ignore_errors=True)
