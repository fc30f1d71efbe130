"""Getting the shell's connection back: a lost connection is said once, then reopened with backoff.

``Reconnector`` hears the backend's connection state (``Backend.add_state_listener``): when it goes
down while the backend is still open, one line says so and a background task reconnects, waiting
0.2 s, then twice as long after each failure, at most 5 s, until it is back (then one line says so
and completion data is refreshed) or the backend is closed. After this console's own ``shutdown
server|all`` the line says so instead, with how to leave and what starts the server again; on a
backend whose server answers while going down (FLARE) nothing reconnects then. The
toolbar shows it meanwhile (``reconnecting``).

After a stop the user made (Ctrl-Z, then ``fg``: ``resumed``), a connection that seems down is first
asked (one login, ``RESUME_CHECK`` s at most) before anything is said: the engine's own clocks ran on
while the console was stopped (FLARE's Session then took a 7 s pause for a dead link, and the console
said "lost ... reconnected" about a server that never went away). Only when that asking fails is the
loss said, and the reconnecting goes on as for any loss. Must not run commands or decide what a lost connection does to one in flight:
that is ``console.shell.execute``'s and the backend's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from console.api.errors import NoConnection
from console.backends.base import Backend
from console.invocation import console_command
from console.within import within

#: Seconds before the first attempt, and the most between two.
FIRST_DELAY = 0.2
MAX_DELAY = 5.0
#: Seconds after a resume (``fg``) in which a connection that seems down is asked before the loss is said,
#: and the most that asking takes.
RESUME_GRACE = 15.0
RESUME_CHECK = 5.0


class ShutDown(Protocol):
    #: This console shut the server down and the server has not come back since.
    shut_down_server: bool


class Reconnector:
    """``emit(text, style)`` prints a line above the prompt; ``refresh()`` starts a completion refresh;
    ``redraw()`` redraws the prompt (its toolbar) when it is on screen."""

    def __init__(self, backend: Backend, emit: Callable[[str, str], None], refresh: Callable[[], None],
                 redraw: Callable[[], None], shut_down: ShutDown | None = None, demo: str | bool = False) -> None:
        """``shut_down``: whether this console shut the server down (the executor); ``demo``: the console of
        ``flare-console demo``, as the words that start that demo again (``True``: ``flare-console demo``)."""
        self._backend = backend
        self._shut_down = shut_down
        self._demo = demo
        self._emit = emit
        self._refresh = refresh
        self._redraw = redraw
        self._task: asyncio.Task[None] | None = None
        self._leaving = False
        self._resumed_at: float | None = None  # the loop's time of the last resume (``resumed``)

    def resumed(self) -> None:
        """The console runs again after a stop (``fg``): a loss seen soon after is asked about first. Only
        sets a time: safe in a signal handler."""
        self._resumed_at = time.monotonic()

    def _just_resumed(self) -> bool:
        return self._resumed_at is not None and time.monotonic() - self._resumed_at < RESUME_GRACE

    @property
    def reconnecting(self) -> bool:
        return self._task is not None and not self._task.done()

    def shut_down_note(self) -> str | None:
        """After this console's ``shutdown server|all``, what the connection's loss means: why, how to leave,
        what brings the server back (the console reconnects then); None when it did not shut it down."""
        if self._shut_down is None or not self._shut_down.shut_down_server:
            return None
        return f"the server was shut down by you: leave with `bye`, or {self._again()}"

    def _again(self) -> str:
        if self._demo:
            words = self._demo if isinstance(self._demo, str) else f"{console_command()} demo"
            return f"after bye, `{words}` starts it again"
        if not self._backend.reconnects_after_own_shutdown:
            return "after bye, start it again (startup/start.sh in the server's kit) and open the console again"
        return "start it again (startup/start.sh in the server's kit) and this console reconnects"

    def on_state(self, up: bool) -> None:
        """The backend's state listener: ``up`` is whether it is connected now."""
        if up and self._shut_down is not None:
            self._shut_down.shut_down_server = False  # started again: a later loss is a loss
        if not up and not self._backend.closed and not self.reconnecting and not self._leaving:
            why = self.shut_down_note()
            if why is None and self._just_resumed():
                self._resumed_at = None  # asked once per resume
                self._task = asyncio.get_running_loop().create_task(self._ask_after_resume())
                self._redraw()
                return
            if self._backend.restarting_by_you and why is None:
                # This console's own restart: its answer says "server is restarting"; a "lost" line said before
                # it was a fault that was none (flare10 item 17). The toolbar shows "reconnecting" meanwhile.
                self._task = asyncio.get_running_loop().create_task(self._reconnect())
            else:
                self._emit(why or "connection to the server lost; reconnecting...",
                           "class:status.aborted" if why else "class:error")
                if why is None or self._backend.reconnects_after_own_shutdown:
                    self._task = asyncio.get_running_loop().create_task(self._reconnect())
        self._redraw()

    async def _ask_after_resume(self) -> None:
        """A connection that seemed down right after ``fg``: back at the first asking, nothing to say (the
        pause was the user's); else the loss is said and reconnecting goes on as for any loss."""
        try:
            await within(self._backend.connect(), RESUME_CHECK)
        except (NoConnection, TimeoutError):
            if self._backend.closed or self._leaving:
                return
            self._emit("connection to the server lost; reconnecting...", "class:error")
            await self._reconnect()
            return
        self._refresh()

    async def _reconnect(self) -> None:
        delay = FIRST_DELAY
        while not self._backend.closed and not self._leaving:
            try:
                await self._backend.connect()
                restarted, self._backend.restarting_by_you = self._backend.restarting_by_you, False
                self._emit("reconnected to the restarted server" if restarted else "reconnected to the server",
                           "class:status.completed")
                self._refresh()
                return
            except NoConnection:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    def leaving(self) -> None:
        """The console is ending (a signal, ``endings.on_ending``): the connection's drop on the way out is no
        loss to tell or repair. Only sets a flag: safe in a signal handler."""
        self._leaving = True

    def stop(self) -> None:
        """Stop trying (the shell is ending)."""
        self._leaving = True
        if self._task is not None:
            self._task.cancel()
