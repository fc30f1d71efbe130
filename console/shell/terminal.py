"""The terminal between prompts: type-ahead kept for the next prompt, never mixed into output.

While a command runs, prompt_toolkit has handed the terminal back in its normal (cooked,
echoing) mode: keys typed then would be echoed into the command's output, and keys
pending when a pager starts would be read by the pager as its own commands (``less``
saves a file on ``s``). So outside the prompt (while a command runs, and until the next
prompt reads the keys) echo and line editing are off (the kernel keeps the keys for the
next prompt, which reads them), and before a pager starts the pending keys are taken out
of the queue and handed back to the next prompt. Ctrl-C and Ctrl-Z during a command leave
the keys typed before them in place (NOFLSH; ``suspend``), and a Ctrl-C read with the Enter
that ran the command, while it was still a key, stops the command, and a Ctrl-Z read so stops the
console at once (``take_typed_stops``).

POSIX terminals only; elsewhere (or when stdin is no terminal) everything here does nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.application.current import get_app_or_none
from prompt_toolkit.filters import Condition
from prompt_toolkit.input import Input
from prompt_toolkit.input.typeahead import get_typeahead, store_typeahead
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyBindings, KeyPress
from prompt_toolkit.keys import Keys
from prompt_toolkit.utils import suspend_to_background_supported

from console.shell.quit_key import STOP_KEYS

try:
    import termios
except ImportError:  # Windows
    termios = None  # type: ignore[assignment]

#: Bytes of type-ahead taken from the terminal at most before a pager starts (a key held down is plenty).
_MAX_DRAIN = 64 * 1024


def _tty_fd() -> int | None:
    if termios is None:
        return None
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if os.isatty(fd) else None


class QuietInput:
    """Keys wait, untouched and unechoed, for the next prompt while the shell runs; Ctrl-C still signals.

    No echo, and no line discipline either: in the terminal's canonical mode Ctrl-D typed ahead
    would be taken as end of input, Ctrl-U and Ctrl-W would erase what was typed before them and
    Enter would arrive as a line feed, all before the prompt could read them (the prompt's line is
    printed before the prompt starts reading: ``prompt_line``). ISIG stays on, so Ctrl-C cancels a
    running command (``interrupt``). The user's own programs (a pager, ``| PIPELINE``) get the
    terminal as it was (``as_it_was``); after a stop (Ctrl-Z) and ``fg`` the shell calls ``apply``.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        self._quiet: list[Any] | None = None
        self._now: list[Any] | None = None  # the mode set last

    def __enter__(self) -> QuietInput:
        fd = _tty_fd()
        if fd is None:
            return self
        try:
            saved = termios.tcgetattr(fd)
        except termios.error:
            return self
        quiet = list(saved)
        quiet[0] &= ~termios.ICRNL
        quiet[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN)
        # Ctrl-C and Ctrl-Z would otherwise throw away every key typed ahead (the kernel flushes its
        # queue when it signals): a command's Ctrl-C stops the command, not what was typed for the next.
        quiet[3] |= termios.NOFLSH
        quiet[6] = list(quiet[6])
        quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
        self._fd, self._saved, self._quiet = fd, saved, quiet
        self.apply()
        return self

    def __exit__(self, *exc: object) -> None:
        self._set(self._saved)
        self._fd = None

    def apply(self) -> None:
        """Quiet again (after ``fg``: the terminal is as the user's shell left it)."""
        self._set(self._quiet)

    @contextlib.contextmanager
    def as_it_was(self) -> Iterator[None]:
        """The terminal as it was before the shell, for a program of the user's (echo, line editing)."""
        self._set(self._saved)
        try:
            yield
        finally:
            self._set(self._quiet)

    @contextlib.contextmanager
    def keeping_typeahead_over_stops(self, prompt: Application[Any],
                                     resumed: Callable[[], None] = lambda: None) -> Iterator[None]:
        """While the block runs, Ctrl-Z (SIGTSTP) during a command keeps the keys typed ahead for ``prompt``
        (``suspend``); while it runs Ctrl-Z is a key there, and a SIGTSTP from outside stops as by default.
        ``resumed()`` runs as the console goes on after ``fg``, before anything it waited for is handled.

        ``signal.signal``, not the event loop's handler: a loop busy with a command's work would stop late.
        """
        def stopped(signum: int, frame: object) -> None:
            if prompt.is_running or view_running():  # the keys are its own: it reads them after fg
                stop_process_group()
            else:
                self.suspend(prompt.input)
            resumed()  # (runs on from the stop here: before the loop sees what came meanwhile)

        before = None
        with contextlib.suppress(ValueError, AttributeError, OSError):  # not the main thread, or no SIGTSTP
            before = signal.signal(signal.SIGTSTP, stopped)
        try:
            yield
        finally:
            if before is not None:
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(signal.SIGTSTP, before)

    def suspend(self, prompt_input: Input) -> None:
        """Ctrl-Z (SIGTSTP) while a command runs: stop as the user asked, keeping the keys typed ahead.

        While stopped the user's shell reads the terminal and would take them as its own command line
        (the kernel no longer flushes them: NOFLSH), so they go to the next prompt's type-ahead first,
        and the terminal is left as it was before the shell; ``fg`` makes it quiet again. With a
        program of the user's in front (``as_it_was``) the keys are its own and stay where they are.
        """
        quiet = self._fd is not None and self._now is self._quiet
        if quiet:
            with _background_tty_ignored():
                # Else the user's shell has the terminal already (it stopped the parent: ``make demo``), set
                # to its own mode, and the keys are its own.
                if _in_foreground(self._fd):
                    hand_typeahead_to(prompt_input)
                    self._set(self._saved)
        stop_process_group()  # runs on from here after fg
        if quiet:
            self.apply()

    def _set(self, attrs: list[Any] | None) -> None:
        if self._fd is not None and attrs is not None:
            self._now = attrs
            with contextlib.suppress(termios.error):  # TCSANOW: keep what was typed so far
                termios.tcsetattr(self._fd, termios.TCSANOW, attrs)


def stop_process_group() -> None:
    """Stop the console's whole process group, as SIGTSTP's default would stop the console (Ctrl-Z); returns
    once continued (``fg``: SIGCONT to the group).

    The group, not the console alone: under a parent that is no shell (``make demo``, ``sh -c``) the user's
    shell waits for that parent and hears of a stop only when the parent stops. A console that stopped only
    itself (SIGSTOP) once the parent had stopped too, but later (a Ctrl-Z typed with Enter stops nobody else;
    the terminal's SIGTSTP stops the parent at once while the console first hands its keys on), was either
    never seen stopped or was stopped after the user's ``fg`` had continued the group: stopped for good,
    the terminal hung. As shells and editors (and prompt_toolkit's ``suspend_to_background``) do it.
    """
    try:
        before = signal.signal(signal.SIGTSTP, signal.SIG_DFL)  # else this handler again, not the stop
    except (ValueError, AttributeError, OSError):  # not the main thread, or no SIGTSTP (Windows)
        return
    try:
        os.kill(0, signal.SIGTSTP)
    finally:
        signal.signal(signal.SIGTSTP, before)


def _in_foreground(fd: int | None) -> bool:
    """Whether the console's process group has the terminal ``fd`` (after a Ctrl-Z the shell may have it)."""
    if fd is None:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


@contextlib.contextmanager
def _background_tty_ignored() -> Iterator[None]:
    """Reading or setting the terminal fails (EIO) or goes ahead, rather than stopping the console half-way
    (SIGTTIN, SIGTTOU) when the user's shell has taken the terminal meanwhile: stopped so, it would go on
    after ``fg`` only to stop itself then."""
    befores: list[tuple[int, Any]] = []
    try:
        for sig in (signal.SIGTTIN, signal.SIGTTOU):
            befores.append((sig, signal.signal(sig, signal.SIG_IGN)))
    except (ValueError, AttributeError, OSError):  # not the main thread, or no such signals (Windows)
        pass
    try:
        yield
    finally:
        for sig, before in befores:
            signal.signal(sig, before)


def view_running() -> bool:
    """Whether a prompt_toolkit application (the prompt, ``top``, ``plot``) has the terminal in raw mode now."""
    app = get_app_or_none()
    return app is not None and app.is_running


def add_suspend_key(bindings: KeyBindings) -> None:
    """Ctrl-Z in a full-screen view (``top``, ``plot``): stop the console, as at the prompt. prompt_toolkit
    hands the terminal back first and, after ``fg``, draws the view again (``run_in_terminal``)."""
    bindings.add("c-z", filter=Condition(suspend_to_background_supported))(
        lambda event: event.app.suspend_to_background())


def hand_typeahead_to(prompt_input: Input) -> None:
    """Keys typed but not yet read go from the terminal's queue to the next prompt, as keys (before a pager).

    Parsed as the prompt parses its input and queued as prompt_toolkit's type-ahead for it: Ctrl-W,
    arrows, Esc (vi) and Enter act at the next prompt as typed, and lines after an Enter run in turn.
    """
    keys = _parsed(_drain())
    if keys:
        store_typeahead(prompt_input, keys)


@dataclass(frozen=True)
class TypedStops:
    """What ``take_typed_stops`` found typed with the Enter: a Ctrl-C (or Ctrl-\\), a Ctrl-Z."""

    ctrl_c: bool
    ctrl_z: bool


def take_typed_stops(prompt_input: Input) -> TypedStops:
    """A Ctrl-C and a Ctrl-Z that came in the same read as the Enter that accepted the line (or before the
    prompt left raw mode), each taken out of the type-ahead; the keys around them stay for the next prompt.

    Why: in raw mode Ctrl-C and Ctrl-Z are keys, not signals, and prompt_toolkit keeps the keys read after
    Enter as the next prompt's type-ahead; so a Ctrl-C sent in one burst with Enter (a few ms after it) did
    not stop the command, while one sent a little later did, and such a Ctrl-Z stopped the console only
    once the command and its pager had ended (psql and bash stop at once). Call it once the prompt has
    returned (the terminal in ``QuietInput``'s mode, where either typed from then on is a signal).
    """
    keys = get_typeahead(prompt_input)
    pending = _drain(ready_only=True)
    if pending:
        keys += _parsed(pending)
    found = TypedStops(ctrl_c=any(key.key in STOP_KEYS for key in keys),  # Ctrl-\ acts as Ctrl-C
                       ctrl_z=any(key.key == Keys.ControlZ for key in keys))
    for taken in (next((k for k in keys if k.key in STOP_KEYS), None),
                  next((k for k in keys if k.key == Keys.ControlZ), None)):
        if taken is not None:
            keys.remove(taken)
    if keys:
        store_typeahead(prompt_input, keys)
    return found


def _parsed(data: bytes) -> list[KeyPress]:
    keys: list[KeyPress] = []
    if data:
        parser = Vt100Parser(keys.append)
        parser.feed(data.decode("utf-8", "replace"))
        parser.flush()
    return keys


def _drain(ready_only: bool = False) -> bytes:
    """The bytes waiting in the terminal's input queue (up to ``_MAX_DRAIN``). ``ready_only``: only when
    some are there already (one ``select``, no mode change: the cost of a command with nothing typed)."""
    fd = _tty_fd()
    if fd is None:
        return b""
    data = b""
    try:
        if ready_only and not select.select([fd], [], [], 0)[0]:
            return b""
        # Non-canonical already (QuietInput) or not: nothing waits for a line end with VMIN 0.
        saved = termios.tcgetattr(fd)
        raw = list(saved)
        raw[3] &= ~(termios.ICANON | termios.ECHO)
        raw[6] = list(raw[6])
        raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
        termios.tcsetattr(fd, termios.TCSANOW, raw)
        try:
            while len(data) < _MAX_DRAIN and select.select([fd], [], [], 0)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
    except (OSError, termios.error):
        pass
    return data
