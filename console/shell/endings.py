"""How the console ends on a signal: never killed half-way, the terminal and a demo's parts always put back.

Owns SIGQUIT, SIGTERM and SIGHUP while the console (or a demo around it) runs; SIGINT stays with the
shell (``console.shell.interrupt``), the batch (asyncio's runner) and a pager or pipeline
(``console.shell.output.ctrl_c_for_the_child``). Must not touch what a command does when cancelled.

- Ctrl-\\ (SIGQUIT) acts as Ctrl-C: it is turned into a SIGINT to this process, so whoever owns Ctrl-C
  just then acts on it (the command in front is cancelled, a batch stops, a demo that is starting stops
  its parts; with the user's ``| PIPELINE`` in front, its processes get the SIGINT, ``on_quit_key``).
  Its default ended the console with a core dump, leaving the terminal in the shell's mode (no
  echo, no line editing) and a demo's server and sites running. At the prompt, a question, ``top`` and
  ``plot`` the terminal is in raw mode: Ctrl-\\ is a key there, fed back as Ctrl-C (``quit_key``).
- SIGTERM and SIGHUP (the terminal closed) end the console as ``bye`` does, with SystemExit(128 + the
  signal's number, as a shell's exit status): every ``finally`` runs (the prompt leaves raw mode, the
  session closes, a demo stops its server and sites), then the terminal's mode from the start is set
  again. A second signal while that runs is ignored: it must not cut the stopping short, also where
  these handlers nest (a demo around its console: the inner block's end put back the outer's handlers,
  which took the terminal's own SIGHUP after ours for a first one and cut the demo's stop short). What the
  console must not do on that way out is told first (``on_ending``): cancelling every task drops the
  connection, which a running shell would otherwise take for a loss and start reconnecting, with a
  line saying so (``bye`` closes the session before anything hears the drop).
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
from collections.abc import Callable, Iterator
from typing import Any

try:
    import termios
except ImportError:  # Windows
    termios = None  # type: ignore[assignment]

#: The signals that end the console cleanly.
ENDING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)
_QUIT = getattr(signal, "SIGQUIT", None)


#: Called, newest first, when an ending signal comes, before SystemExit unwinds (``on_ending``).
_HOOKS: list[Callable[[], None]] = []


@contextlib.contextmanager
def on_ending(hook: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGTERM or SIGHUP calls ``hook()`` before the console unwinds: say there what
    must not happen on the way out. It runs inside a signal handler: set a flag, never await or schedule."""
    _HOOKS.append(hook)
    try:
        yield
    finally:
        _HOOKS.remove(hook)


class _Ending:
    def __init__(self) -> None:
        self.started = False  # one for the process: nested ``signals_end_cleanly`` blocks share it

    def end(self, signum: int, frame: Any) -> None:
        if self.started:  # already leaving: let the stopping finish
            return
        self.started = True
        for hook in reversed(_HOOKS):
            with contextlib.suppress(Exception):  # a hook's failure must not keep the console from ending
                hook()
        raise SystemExit(128 + signum)


_ENDING = _Ending()


def is_ending() -> bool:
    """Whether an ending signal came (the console is on its way out): a connection's drop now is no loss to
    show (top's header, like the reconnect line, says nothing of it)."""
    return _ENDING.started


#: Called, newest only, instead of the SIGINT to this process when Ctrl-\ comes (``on_quit_key``).
_QUIT_HOOKS: list[Callable[[], None]] = []


@contextlib.contextmanager
def on_quit_key(hook: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGQUIT calls ``hook()`` instead of sending this process a SIGINT: for
    processes of the console's that hold the terminal and must hear Ctrl-\\ as Ctrl-C themselves. It runs
    inside a signal handler: signal or set a flag, never await or schedule."""
    _QUIT_HOOKS.append(hook)
    try:
        yield
    finally:
        _QUIT_HOOKS.remove(hook)


def _as_ctrl_c(signum: int, frame: Any) -> None:
    if _QUIT_HOOKS:
        with contextlib.suppress(Exception):  # a failing hook must not end the console
            _QUIT_HOOKS[-1]()
        return
    os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def signals_end_cleanly() -> Iterator[None]:
    """While the block runs, SIGQUIT acts as SIGINT and SIGTERM/SIGHUP raise SystemExit(128 + n) once;
    on the way out the terminal's mode from the start is set again and the earlier handlers are back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {sig: _ENDING.end for sig in ENDING}
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
            if _ENDING.started and sig in ENDING:  # leaving: a later hangup must not kill the exit half-way
                continue
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
