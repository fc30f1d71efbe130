"""A foreground command's progress line on the terminal (download_job: bytes so far and the rate),
redrawn in place while it lasts and taken away when it ends.

Only the interactive console shows one (``Frontend.progress``); a batch's output stays the commands'
answers. The bytes come from the backend (``Backend.download_probe``); this module owns the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from prompt_toolkit.output import Output

from console.shell.client_side import Frontend
from console.shell.printing import TERMINAL
from console.shell.safe_text import visible_line

#: Seconds before the line first shows: a quick download shows none.
FIRST_AFTER = 1.0
#: Seconds between redraws.
EVERY = 0.5
#: Seconds of samples the rate is taken over (the rate now, not the average since the start).
RATE_WINDOW = 3.0


def size_text(count: int) -> str:
    """Bytes for people, decimal units as download tools show them: ``812 B``, ``45.2 MB``, ``1.50 GB``."""
    if count < 1000:
        return f"{count} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if count < scale * 1000 or unit == "TB":
            value = count / scale
            return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def progress_text(what: str, received: int, rate: float, elapsed: float) -> str:
    """``download_job 3f2a1b2c: 45.2 MB received, 6.10 MB/s, 12 s``."""
    return f"{what}: {size_text(received)} received, {size_text(int(rate))}/s, {elapsed:.0f} s"


async def _redraw(show: Callable[[str | None], None], probe: Callable[[], int], what: str) -> None:
    started = time.monotonic()
    samples: deque[tuple[float, int]] = deque([(started, probe())])
    await asyncio.sleep(FIRST_AFTER)
    while True:
        now, received = time.monotonic(), probe()
        samples.append((now, received))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        first_at, first = samples[0]
        show(progress_text(what, received, (received - first) / max(now - first_at, 1e-6), now - started))
        await asyncio.sleep(EVERY)


class ProgressRow:
    """The interactive console's progress line: on the cursor's row, redrawn in place, cut to the terminal's
    width so that it never wraps; never when the output is not a terminal."""

    def __init__(self, output: Callable[[], Output]) -> None:
        self._output = output
        self.shown = False

    def show(self, text: str | None) -> None:
        if text is None:
            self.off()
            return
        if not sys.stdout.isatty():
            return
        out = self._output()
        with TERMINAL:
            out.write_raw("\r" + visible_line(text)[:max(out.get_size().columns - 1, 1)] + "\x1b[K")
            out.flush()
        self.shown = True

    def off(self) -> None:
        """Take the line away (before anything else is printed: it goes where the line was)."""
        if self.shown:
            self.shown = False
            out = self._output()
            with TERMINAL:
                out.write_raw("\r\x1b[K")
                out.flush()


@contextlib.asynccontextmanager
async def progress_line(frontend: Frontend, probe: Callable[[], int] | None, what: str) -> AsyncIterator[None]:
    """While the block runs: ``what``'s progress line on an interactive console (none without ``probe``)."""
    if probe is None or not frontend.interactive:
        yield
        return
    task = asyncio.create_task(_redraw(frontend.progress, probe, what))
    try:
        yield
    finally:
        task.cancel()  # delivered at its next sleep: it draws no more
        frontend.progress(None)
