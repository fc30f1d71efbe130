"""How the console ends on a signal: never killed half-way, the terminal and a demo's parts always put back.

Owns SIGQUIT, SIGTERM and SIGHUP while the console (or a demo around it) runs; SIGINT stays with the
shell (``console.shell.interrupt``), the batch (asyncio's runner) and a pager or pipeline
(``console.shell.output.ctrl_c_for_the_child``). Must not touch what a command does when cancelled.

- Ctrl-\\ (SIGQUIT) acts as Ctrl-C: it is turned into a SIGINT to this process, so whoever owns Ctrl-C
  just then acts on it (the command in front is cancelled, a batch stops, a demo that is starting stops
  its parts; with a pipeline in front it is the pipeline's, which the terminal signalled itself, as at
  bash). Its default ended the console with a core dump, leaving the terminal in the shell's mode (no
  echo, no line editing) and a demo's server and sites running. At the prompt and in ``top`` the
  terminal is in raw mode: Ctrl-\\ is a key there, and ignored.
- SIGTERM and SIGHUP (the terminal closed) end the console as ``bye`` does, with SystemExit(128 + the
  signal's number, as a shell's exit status): every ``finally`` runs (the prompt leaves raw mode, the
  session closes, a demo stops its server and sites), then the terminal's mode from the start is set
  again. A second signal while that runs is ignored: it must not cut the stopping short.
- A child the console starts gets the signals' defaults (exec resets caught signals): these are
  Python-level handlers, never SIG_IGN.

POSIX only; where a signal does not exist, or off the main thread, nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

try:
    import termios
except ImportError:  # Windows
    termios = None  # type: ignore[assignment]

#: The signals that end the console cleanly.
ENDING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)
_QUIT = getattr(signal, "SIGQUIT", None)


class _Ending:
    def __init__(self) -> None:
        self.started = False

    def end(self, signum: int, frame: Any) -> None:
        if self.started:  # already leaving: let the stopping finish
            return
        self.started = True
        raise SystemExit(128 + signum)


def _as_ctrl_c(signum: int, frame: Any) -> None:
    os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def signals_end_cleanly() -> Iterator[None]:
    """While the block runs, SIGQUIT acts as SIGINT and SIGTERM/SIGHUP raise SystemExit(128 + n) once;
    on the way out the terminal's mode from the start is set again and the earlier handlers are back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ending = _Ending()
    handlers = {sig: ending.end for sig in ENDING}
    if _QUIT is not None:
        handlers[_QUIT] = _as_ctrl_c
    before: dict[int, Any] = {}
    for sig, handler in handlers.items():
        with contextlib.suppress(OSError, ValueError):
            before[sig] = signal.signal(sig, handler)
    terminal = _terminal_mode()
    try:
        yield
    finally:
        if terminal is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(terminal[0], termios.TCSADRAIN, terminal[1])
        for sig, handler in before.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _terminal_mode() -> tuple[int, list[Any]] | None:
    if termios is None:
        return None
    try:
        fd = sys.stdin.fileno()
        return (fd, termios.tcgetattr(fd)) if os.isatty(fd) else None
    except (AttributeError, ValueError, OSError, termios.error):
        return None
