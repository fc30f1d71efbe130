"""bye on a live NVIDIA FLARE 2.9 POC while FLARE holds a monitor's poll: the console leaves within seconds.

FLARE's calls block on a thread of ours that nothing can interrupt; leaving must not wait for them.
The POC's server is stopped (SIGSTOP: its connections stay open, nothing is answered) while a monitor
of a job that waits for ever polls it, and continued in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pexpect
import pytest

from conftest import EXAMPLES, wait_until
from jobs import short_of_sites

JOB = EXAMPLES / "hello-numpy-sag"
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")
#: Seconds bye may take with FLARE's answer held: the logouts' own bound (CLOSE_TIMEOUT, 3 s) and a
#: loaded machine's margin; unbounded, it waited for FLARE's call.
LEAVE_WITHIN = 12


def _command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return "\0" + Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return ""


def _server_pids(flare_poc) -> list[int]:
    """The POC's FLARE server process (``-m PROD/server``; not a job's runner, not a site)."""
    server = f"\0-m\0{flare_poc.poc.prod / 'server'}\0"
    return [pid for pid in flare_poc.poc.processes()
            if server in _command_line(pid) and "runner_process" not in _command_line(pid)]


def _tcp_rows() -> list[list[str]]:
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            rows += [line.split() for line in Path(table).read_text().splitlines()[1:]]
    return rows


def _held_from(pid: int) -> int:
    """Bytes ``pid`` sent over TCP that the other end has not read yet (its receive queues): what a stopped
    FLARE server holds of the console's requests."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    rows = _tcp_rows()
    ours = {row[1] for row in rows if row[9] in inodes}  # local address:port of each socket of pid
    return sum(int(row[4].split(":")[1], 16) for row in rows if row[2] in ours)


@pytest.mark.timeout(240)
def test_bye_leaves_within_seconds_while_flare_holds_a_monitors_poll(flare_poc, tmp_path: Path) -> None:
    job = flare_poc.submit(tmp_path, short_of_sites(tmp_path, JOB, flare_poc.sites[0]))
    stopped: list[int] = []
    shell = flare_poc.spawn_console(tmp_path, NO_COLOR="1")
    try:
        shell.expect(PROMPT, timeout=60)
        shell.send(f"monitor_job {job[:8]}\r")
        shell.expect("in the background", timeout=60)
        shell.expect(PROMPT, timeout=30)
        stopped = _server_pids(flare_poc)
        assert stopped, "no FLARE server process found"
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        # The monitor's poll asks every second or two while the job waits: its request now waits unread.
        wait_until(lambda: _held_from(shell.pid) > 0, 30, "the console's request to wait in the stopped server")
        start = time.monotonic()
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=LEAVE_WITHIN + 20)
        took = time.monotonic() - start
        shell.close()
        assert shell.exitstatus == 0, (shell.exitstatus, shell.signalstatus)
        assert took < LEAVE_WITHIN, f"bye took {took:.1f} s with FLARE's answer held"
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if shell.isalive():
            shell.terminate(force=True)
        flare_poc.run_console(tmp_path, "--yes", "-c", f"abort_job {job}", "-c", f"delete_job {job}")
