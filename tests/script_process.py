"""A Python script run in a process of its own, as a user runs one from a terminal, for tests of
what a Ctrl-C (a SIGINT to the whole process) does to it.

Its lines are read as they come, each wait with a deadline; a script that does not say what is
expected, or does not end, fails the test with what it said and, through ``faulthandler`` (the
script registers it for SIGUSR1: ``PRELUDE``), where each of its threads was.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from conftest import REPO

#: The first lines of such a script: SIGUSR1 prints every thread's stack to stderr.
PRELUDE = """
import faulthandler, signal, sys, threading, time
faulthandler.register(signal.SIGUSR1, all_threads=True)
"""


class Script:
    """``python -c code args`` with pipes; ``stop`` (always: a ``finally``) kills what is left."""

    def __init__(self, code: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        self.said: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        self._readers = [threading.Thread(target=self._read_lines, daemon=True),
                         threading.Thread(target=self._read_errors, daemon=True)]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_lines(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self._errors.append(self.process.stderr.read())

    def expect(self, start: str, timeout: float = 60) -> str:
        """The script's next line, which must start with ``start`` and come within ``timeout`` s."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.fail(f"the script did not say {start!r} within {timeout:g} s")
        if line is not None:
            self.said.append(line)
        if line is None or not line.startswith(start):
            self.fail(f"the script said {line!r} where {start!r} was expected")
        return line

    def send(self, line: str = "") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def interrupt(self) -> None:
        """A terminal's Ctrl-C: SIGINT to the process, whichever of its threads the kernel picks."""
        os.kill(self.pid, signal.SIGINT)

    def rest(self, timeout: float = 60) -> list[str]:
        """What it said until it ended (within ``timeout`` s, with exit code 0)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the script did not end within {timeout:g} s")
        self._join()
        rest = []
        while (line := self._lines.get_nowait()) is not None:
            rest.append(line)
        self.said += rest
        if self.process.returncode != 0:
            self.fail(f"the script exited with {self.process.returncode}")
        return rest

    def fail(self, why: str) -> NoReturn:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # every thread's stack to its stderr
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"{why}; it said {self.said!r}; its stderr: {''.join(self._errors)}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self._join()

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(10)
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()


def main_thread_state(pid: int) -> str:
    """The state letter of the process's main thread in /proc (S: asleep, R: running)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def asleep_twice(pid: int) -> bool:
    """Its main thread asleep twice 50 ms apart: waiting, not passing through a wait."""
    return main_thread_state(pid) == "S" and (time.sleep(0.05) or main_thread_state(pid) == "S")


def unread(pid: int) -> int:
    """Bytes that came to the process's TCP sockets that it has not read yet (``rx_queue`` in /proc/net)."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                sockets.add(target[len("socket:["):-1])
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[9] in sockets:
                    total += int(fields[4].split(":")[1], 16)
    return total
