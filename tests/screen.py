"""What the user sees in a pty: a child's output run through a terminal emulator (pyte)."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

import pexpect
import pyte


class Screen:
    """What the user sees in the pty: the console's output run through a terminal emulator (pyte),
    since a full-screen view redraws only the characters that changed."""

    def __init__(self, child: pexpect.spawn, rows: int, cols: int) -> None:
        self.child = child
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)

    def pump(self, wait: float = 0.05) -> None:
        while True:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=wait))
            except pexpect.TIMEOUT:
                return
            wait = 0.0

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            found = re.search(pattern, self.text)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on the screen after {timeout} s:\n{self.text}")


    def wait_gone(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text in self.text:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on the screen after {timeout} s:\n{self.text}")
            self.pump()


class TmuxScreen(pyte.HistoryScreen):
    """A terminal with a scrollback as tmux keeps it, which pyte alone does not: the alternate
    screen (private mode 1049: what a full-screen view draws there never reaches the scrollback,
    and leaving it brings the main screen back as it was), and ``scroll-on-clear`` (tmux's
    default: a cleared main screen moves to the scrollback)."""

    ALTERNATE = 1049 << 5  # pyte shifts private modes

    def __init__(self, columns: int, lines: int, history: int = 5000) -> None:
        super().__init__(columns, lines, history=history)
        self.saved: tuple[Any, Any] | None = None  # the main screen and cursor while the alternate one shows

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and 1049 in modes and self.saved is None:
            self.saved = (copy.deepcopy(self.buffer), copy.copy(self.cursor))
            self.buffer.clear()
            self.dirty.update(range(self.lines))
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and 1049 in modes and self.saved is not None:
            buffer, cursor = self.saved
            self.saved = None
            self.buffer.clear()
            self.buffer.update(buffer)
            self.cursor = cursor
            self.dirty.update(range(self.lines))
        super().reset_mode(*modes, **kwargs)

    def index(self) -> None:
        if self.saved is not None:  # the alternate screen has no scrollback
            pyte.Screen.index(self)
        else:
            super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 2 and self.saved is None:
            rows = [self.buffer[y] for y in range(self.lines)]
            text = ["".join(row[x].data for x in range(self.columns)).rstrip() for row in rows]
            used = max((y for y, line in enumerate(text) if line), default=-1)
            for y in range(used + 1):
                self.history.top.append(copy.deepcopy(rows[y]))
        super().erase_in_display(how, *args, **kwargs)

    def transcript(self) -> str:
        """The scrollback and the screen, as the user can scroll through them."""
        scrolled = ["".join(row[x].data for x in range(self.columns)).rstrip() for row in self.history.top]
        return "\n".join([*scrolled, *(line.rstrip() for line in self.display)])


def tmux_screen(child: pexpect.spawn, rows: int, cols: int) -> Screen:
    screen = Screen(child, rows, cols)
    screen.screen = TmuxScreen(cols, rows)
    screen.stream = pyte.Stream(screen.screen)
    return screen
