"""Getting the shell's connection back: a lost connection is said once, then reopened with backoff.

``Reconnector`` hears the backend's connection state (``Backend.add_state_listener``): when it goes
down while the backend is still open, one line says so and a background task reconnects, waiting
0.2 s, then twice as long after each failure, at most 5 s, until it is back (then one line says so
and completion data is refreshed) or the backend is closed. After this console's own ``shutdown
server|all`` the line says so instead, with how to leave and what starts the server again. The
toolbar shows it meanwhile (``reconnecting``). Must not run commands or decide what a lost connection does to one in flight:
that is ``console.shell.execute``'s and the backend's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from console.api.errors import NoConnection
from console.backends.base import Backend
from console.invocation import console_command

#: Seconds before the first attempt, and the most between two.
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


class ShutDown(Protocol):
    #: This console shut the server down and the server has not come back since.
    shut_down_server: bool


class Reconnector:
    """``emit(text, style)`` prints a line above the prompt; ``refresh()`` starts a completion refresh;
    ``redraw()`` redraws the prompt (its toolbar) when it is on screen."""

    def __init__(self, backend: Backend, emit: Callable[[str, str], None], refresh: Callable[[], None],
                 redraw: Callable[[], None], shut_down: ShutDown | None = None, demo: bool = False) -> None:
        """``shut_down``: whether this console shut the server down (the executor); ``demo``: the console of
        ``flare-console demo`` (what starts the server again differs)."""
        self._backend = backend
        self._shut_down = shut_down
        self._demo = demo
        self._emit = emit
        self._refresh = refresh
        self._redraw = redraw
        self._task: asyncio.Task[None] | None = None

    @property
    def reconnecting(self) -> bool:
        return self._task is not None and not self._task.done()

    def shut_down_note(self) -> str | None:
        """After this console's ``shutdown server|all``, what the connection's loss means: why, how to leave,
        what brings the server back (the console reconnects then); None when it did not shut it down."""
        if self._shut_down is None or not self._shut_down.shut_down_server:
            return None
        again = (f"after bye, `{console_command()} demo` starts it again" if self._demo
                 else "start it again (startup/start.sh in the server's kit) and this console reconnects")
        return f"the server was shut down by you: leave with `bye`, or {again}"

    def on_state(self, up: bool) -> None:
        """The backend's state listener: ``up`` is whether it is connected now."""
        if up and self._shut_down is not None:
            self._shut_down.shut_down_server = False  # started again: a later loss is a loss
        if not up and not self._backend.closed and not self.reconnecting:
            why = self.shut_down_note()
            self._emit(why or "connection to the server lost; reconnecting...", "class:status.aborted" if why else "class:error")
            self._task = asyncio.get_running_loop().create_task(self._reconnect())
        self._redraw()

    async def _reconnect(self) -> None:
        delay = FIRST_DELAY
        while not self._backend.closed:
            try:
                await self._backend.connect()
                self._emit("reconnected to the server", "class:status.completed")
                self._refresh()
                return
            except NoConnection:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    def stop(self) -> None:
        """Stop trying (the shell is ending)."""
        if self._task is not None:
            self._task.cancel()
