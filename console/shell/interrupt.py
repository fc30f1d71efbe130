"""Ctrl-C in the interactive shell: one SIGINT handler for the shell's life, cancelling the command in front.

Owns SIGINT while the shell runs: a command in the foreground is cancelled; at the prompt a SIGINT
sent from outside (``kill -INT``) acts as the Ctrl-C key (a new prompt). Ctrl-C typed at the prompt
or in ``top`` is a key there, not a signal (the terminal is in raw mode). Must not touch what a
command does when cancelled: that stays the shell's.

Why one handler, not one per command: asyncio's ``add_signal_handler`` and
``remove_signal_handler`` checked the signal against ``signal.valid_signals()``, built anew each
time, and cost 0.33 ms per pair; with the prompt's own SIGINT handling that was 0.66 ms of Python
per command, on the path of every round trip (one FLARE round trip is 8-10 ms). So the prompts and
full-screen views of the shell run with ``handle_sigint=False`` and this handler stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any


class Interrupts:
    """SIGINT for the shell: ``install`` once, ``cancels(task)`` around each command, ``remove`` at the end."""

    def __init__(self, at_prompt: Callable[[], None]) -> None:
        """``at_prompt``: what a SIGINT does while no command runs (the prompt's Ctrl-C)."""
        self.at_prompt = at_prompt
        self._foreground: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> bool:
        """Handle SIGINT on the running loop; False where signals cannot be handled (not the main thread)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            return False
        self._loop = loop
        return True

    def remove(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):  # the loop may be closing
                self._loop.remove_signal_handler(signal.SIGINT)
            self._loop = None

    @contextlib.contextmanager
    def cancels(self, task: asyncio.Future[Any]) -> Iterator[None]:
        """While the block runs, SIGINT cancels ``task``."""
        outer, self._foreground = self._foreground, task
        try:
            yield
        finally:
            self._foreground = outer

    def interrupt(self) -> None:
        """What Ctrl-C does now: cancel the command in front, or the prompt's Ctrl-C."""
        self._on_sigint()

    def _on_sigint(self) -> None:
        task = self._foreground
        if task is not None and not task.done():
            task.cancel()
        else:
            self.at_prompt()
