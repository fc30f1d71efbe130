"""The terminal between prompts: type-ahead kept for the next prompt, never mixed into output.

While a command runs, prompt_toolkit has handed the terminal back in its normal (cooked,
echoing) mode: keys typed then would be echoed into the command's output, and keys
pending when a pager starts would be read by the pager as its own commands (``less``
saves a file on ``s``). So outside the prompt (while a command runs, and until the next
prompt reads the keys) echo and line editing are off (the kernel keeps the keys for the
next prompt, which reads them), and before a pager starts the pending keys are taken out
of the queue and handed back to the next prompt. Ctrl-C and Ctrl-Z during a command leave
the keys typed before them in place (NOFLSH; ``suspend``), and a Ctrl-C read with the Enter
that ran the command, while it was still a key, stops the command (``take_typed_ctrl_c``).

POSIX terminals only; elsewhere (or when stdin is no terminal) everything here does nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
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
    def keeping_typeahead_over_stops(self, prompt: Application[Any]) -> Iterator[None]:
        """While the block runs, Ctrl-Z (SIGTSTP) during a command keeps the keys typed ahead for ``prompt``
        (``suspend``); while it runs Ctrl-Z is a key there, and a SIGTSTP from outside stops as by default.

        ``signal.signal``, not the event loop's handler: a loop busy with a command's work would stop late.
        """
        def stopped(signum: int, frame: object) -> None:
            if prompt.is_running or view_running():  # the keys are its own: it reads them after fg
                os.kill(os.getpid(), signal.SIGSTOP)
            else:
                self.suspend(prompt.input)

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
            hand_typeahead_to(prompt_input)
            self._set(self._saved)
        os.kill(os.getpid(), signal.SIGSTOP)  # what SIGTSTP's default does; runs on from here after fg
        if quiet:
            self.apply()

    def _set(self, attrs: list[Any] | None) -> None:
        if self._fd is not None and attrs is not None:
            self._now = attrs
            with contextlib.suppress(termios.error):  # TCSANOW: keep what was typed so far
                termios.tcsetattr(self._fd, termios.TCSANOW, attrs)


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


def take_typed_ctrl_c(prompt_input: Input) -> bool:
    """True when a Ctrl-C came in the same read as the Enter that accepted the line (or before the
    prompt left raw mode): it is taken out of the type-ahead, the keys around it stay for the next prompt.

    Why: in raw mode Ctrl-C is a key, not a signal, and prompt_toolkit keeps the keys read after Enter
    as the next prompt's type-ahead; so a Ctrl-C sent in one burst with Enter (a few ms after it) did
    not stop the command, while one sent a little later did. Call it once the prompt has returned
    (the terminal in ``QuietInput``'s mode, where a Ctrl-C typed from then on is a signal).
    """
    keys = get_typeahead(prompt_input)
    pending = _drain(ready_only=True)
    if pending:
        keys += _parsed(pending)
    at = next((i for i, key in enumerate(keys) if key.key == Keys.ControlC), None)
    if at is not None:
        del keys[at]
    if keys:
        store_typeahead(prompt_input, keys)
    return at is not None


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
