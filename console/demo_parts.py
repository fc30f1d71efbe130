"""The demo's watch on the server and sites it started: a part that ends while the demo runs is said.

A site killed from another terminal (``kill -9``), or the server crashing, was never said: the console went
on as if the demo were whole (session 12's user). Each part has a thread waiting on its process; when one
ends before the demo stops it, one line says which part, its process ID, how it ended (exit code or
signal), where its log is, and what to do. The demo cannot start a single part again (it owns the parts
of one run: a part started by hand would outlive the demo's stop), so the line says to leave and start the
demo again: its jobs, kits and ports are kept.

Where the line goes: above the prompt once the interactive console ``subscribe``\\ s (``console.shell.app``),
on stderr before that and in a batch. Nothing is said of parts the demo stops itself (``stopping``), nor,
once the console's ``shutdown`` asked the server to stop (the console says that itself).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path


def how_it_ended(returncode: int) -> str:
    """``exit code 1``, ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class PartWatch:
    """Threads waiting on the demo's parts (``{name: (process, its kit folder)}``); ``again``: the command
    that starts this demo again."""

    def __init__(self, parts: dict[str, tuple[subprocess.Popen[bytes], Path]], again: str) -> None:
        self.parts = parts
        self.again = again
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._sink: Callable[[str], None] | None = None
        self.said: list[str] = []  # what was said (for the demo's own last words, and tests)

    def start(self) -> PartWatch:
        for name, (proc, kit) in self.parts.items():
            threading.Thread(target=self._wait, args=(name, proc, kit), name=f"demo-watch-{name}",
                             daemon=True).start()
        return self

    def subscribe(self, sink: Callable[[str], None] | None) -> None:
        """Say the lines through ``sink`` from now on (called from a watch thread: it must hand the line to
        its own loop safely); None: back to stderr."""
        with self._lock:
            self._sink = sink

    def _wait(self, name: str, proc: subprocess.Popen[bytes], kit: Path) -> None:
        code = proc.wait()
        if self.stopping.is_set():
            return
        line = self.line(name, proc.pid, code, kit)
        with self._lock:
            if self.stopping.is_set():
                return
            self.said.append(line)
            sink = self._sink
        if sink is not None:
            try:
                sink(line)
                return
            except RuntimeError:  # the console's loop is closed: it is leaving; stderr still reaches the user
                pass
        try:
            print(line, file=sys.stderr, flush=True)
        except (OSError, ValueError):  # the terminal is gone
            pass

    def line(self, name: str, pid: int, returncode: int, kit: Path) -> str:
        ended = how_it_ended(returncode)
        log = kit / "log.txt"
        if name == "server":
            return (f"demo: the server (pid {pid}) ended: {ended} (its log: {log}). The console cannot reach it and "
                    f"the sites wait for it; leave (bye) and start the demo again: {self.again} (jobs and kits are "
                    "kept)")
        return (f"demo: {name} (pid {pid}) ended: {ended} (its log: {log}). Jobs that need it wait or end as their "
                f"min_clients say; to have it back, leave (bye) and start the demo again: {self.again} (jobs and "
                "kits are kept)")
