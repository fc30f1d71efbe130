"""Terminal resizes (SIGWINCH) for what the shell draws itself, outside a prompt_toolkit application (``watch``).

Owns only the signal's handler while such a view runs; prompt_toolkit's applications (the prompt,
``top``, ``plot``) handle resizes themselves. POSIX only; elsewhere a view is drawn again at its
next round, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def on_resize(callback: Callable[[], None]) -> Iterator[None]:
    """While the block runs, ``callback()`` is called on the loop at each resize of the terminal."""
    loop = asyncio.get_running_loop()
    winch = getattr(signal, "SIGWINCH", None)
    try:
        if winch is not None:
            loop.add_signal_handler(winch, callback)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, no signals here
        winch = None
    try:
        yield
    finally:
        if winch is not None:
            with contextlib.suppress(Exception):  # the loop may be closing
                loop.remove_signal_handler(winch)
