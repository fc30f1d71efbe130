"""A foreground command held up by a server that answers nothing: one line says so, and how to stop waiting.

Without it a person sees nothing at all for as long as the command's deadline (a minute) when the
server stopped, or while the connection is being reopened. The line comes once the command has
waited ``NOTE_AFTER_SECONDS`` and the backend says the server is silent (``Backend.silent_for``: a
heartbeat unanswered past ``console.wire.heartbeat.NOTICE_SECONDS``, the toolbar's "no answer for N s")
or the connection is down; a command that is merely slow on a server that answers its heartbeats gets
none, and none comes while the shell waits for the user (a question's answer): the wait is theirs. Owns the line only: noticing the silence is the backend's,
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


async def _note(backend: Backend, emit: Callable[[str, str], None], asking: Callable[[], bool]) -> None:
    await asyncio.sleep(NOTE_AFTER_SECONDS)
    # Not ``Backend.silent``: that is true for a moment after every routine heartbeat (sent, its answer
    # not back yet), so a look at it could catch a server that is fine (session 12).
    while not (backend.silent_for is not None or not backend.connected) or backend.closed or asking():
        await asyncio.sleep(LOOK_SECONDS)
    emit(WORDS, "class:status.queued")


@contextlib.contextmanager
def noted_wait(backend: Backend, emit: Callable[[str, str], None], wanted: bool = True,
               asking: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """While the block runs (a foreground command awaited), say once when it waits on a silent server
    (``wanted`` False: never); not while ``asking()``, the shell waiting for the user's answer."""
    if not wanted:
        yield
        return
    task = asyncio.get_running_loop().create_task(_note(backend, emit, asking))
    try:
        yield
    finally:
        task.cancel()
