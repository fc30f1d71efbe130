"""A foreground command held up by a server that answers nothing: one line says so, and how to stop waiting.

Without it a person sees nothing at all for as long as the command's deadline (a minute) when the
server stopped, or while the connection is being reopened. The line comes once the command has
waited ``NOTE_AFTER_SECONDS`` and the backend says the server is silent (``Backend.silent``: a
heartbeat unanswered) or the connection is down; a command that is merely slow on a server that
answers its heartbeats gets none. Owns the line only: noticing the silence is the backend's,
reconnecting is ``reconnect.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from console.backends.base import Backend

#: Seconds a foreground command waits before its line can come.
NOTE_AFTER_SECONDS = 3.0
#: How often the backend's state is looked at after that.
LOOK_SECONDS = 0.25
WORDS = "waiting for the server... (Ctrl-C cancels)"
#: Commands that draw over the screen while they run (a line printed would break their picture).
OWN_THE_SCREEN = frozenset({"top", "watch", "plot"})


async def _note(backend: Backend, emit: Callable[[str, str], None]) -> None:
    await asyncio.sleep(NOTE_AFTER_SECONDS)
    while not (backend.silent or not backend.connected) or backend.closed:
        await asyncio.sleep(LOOK_SECONDS)
    emit(WORDS, "class:status.queued")


@contextlib.contextmanager
def noted_wait(backend: Backend, emit: Callable[[str, str], None], wanted: bool = True) -> Iterator[None]:
    """While the block runs (a foreground command awaited), say once when it waits on a silent server
    (``wanted`` False: never)."""
    if not wanted:
        yield
        return
    task = asyncio.get_running_loop().create_task(_note(backend, emit))
    try:
        yield
    finally:
        task.cancel()
