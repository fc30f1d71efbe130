"""What the user sees in a pty: a child's output run through a terminal emulator (pyte)."""

from __future__ import annotations

import re
import time

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
