"""A program of the user's that holds the terminal: their ``| PIPELINE`` (/bin/sh runs it on the console's
output, as in pgcli) or their pager.

Owns those processes while they run: what reaches them from Ctrl-\\ and from the console's ending.
Must not touch what the console writes to them or says about how they ended (``answer``, ``output``).

- Ctrl-\\ (SIGQUIT) acts there as Ctrl-C does, as everywhere in the console (``endings``). The terminal
  sends SIGQUIT to its whole foreground group: left to its default it killed /bin/sh while ``less``,
  which ignores it, went on reading the terminal under the console's next prompt. So the pipeline starts
  with SIGQUIT ignored (an ignored signal stays ignored across exec) and the console, which hears it
  too, sends its processes a SIGINT instead: each takes it as a Ctrl-C (``less`` stays until q, ``sleep``
  stops, /bin/sh then ends of it as bash does).
- SIGTERM or SIGHUP while it runs: the console leaves at once (``endings``), so the pipeline's processes
  get SIGTERM: ``less`` puts the terminal back and ends, rather than holding the console until q.

The pipeline's processes are /bin/sh and its descendants, found in /proc (Linux); elsewhere only /bin/sh.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from console.shell.endings import on_ending, on_quit_key

# A /bin/sh that ignores SIGQUIT and execs the program: it keeps it ignored, its errors as without this.
_IGNORING_QUIT = ["/bin/sh", "-c", "trap '' QUIT; exec \"$@\"", "sh"]


@dataclass(frozen=True)
class Ended:
    """How the pipeline ended: ``returncode`` as ``subprocess`` gives it (-N: killed by signal N);
    ``quit_key``: a Ctrl-\\ reached it (as a SIGINT) while it ran."""

    returncode: int
    quit_key: bool


def run_pipeline(target: str, data: bytes) -> Ended:
    """Run ``target`` by /bin/sh with ``data`` on its stdin (``run_in_front``)."""
    return run_in_front(["/bin/sh", "-c", target], data)


def run_in_front(argv: list[str], data: bytes) -> Ended:
    """Run ``argv`` with ``data`` on its stdin, the terminal as it is for its output; blocks until it ends.
    Raises OSError when /bin/sh cannot start; a program that cannot is /bin/sh's 127, as at a shell."""
    heard: list[bool] = []
    proc = subprocess.Popen([*_IGNORING_QUIT, *argv], stdin=subprocess.PIPE)

    def quit_key() -> None:
        heard.append(True)
        _signal_all(proc, signal.SIGINT)

    with proc, on_quit_key(quit_key), on_ending(lambda: _signal_all(proc, signal.SIGTERM)):
        try:
            with contextlib.suppress(BrokenPipeError):  # it ended, or stopped reading (head -1): as a shell's pipe
                proc.communicate(data)
        except BaseException:  # the console leaves (SystemExit here): told to end above, it must not stay
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
            if proc.poll() is None:
                _signal_all(proc, signal.SIGKILL)
            raise
    return Ended(proc.returncode, bool(heard))


def _signal_all(proc: subprocess.Popen[bytes], sig: int) -> None:
    """``sig`` to ``proc`` and every process under it, children first (a parent dying first could leave
    them to init, out of reach); nothing once ``proc`` was reaped (its pid may be another's by then).
    Called inside a signal handler: no locks, nothing that awaits."""
    if proc.returncode is not None:
        return
    for pid in [*reversed(_descendants(proc.pid)), proc.pid]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _descendants(root: int) -> list[int]:
    """The processes under ``root``, parents before children; [] where /proc cannot tell."""
    children: dict[int, list[int]] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            # The command's name may hold spaces and parentheses: the fields start after the last ")".
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found
