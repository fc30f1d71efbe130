"""Noticing a peer that stopped answering: a heartbeat on a connection that has been quiet.

A server that stops (SIGSTOP, a frozen host, a cable pulled without a reset) leaves its TCP
connection open: nothing fails, requests just wait out their deadlines (60 s), and a console
would show "connected" all along. Here the requesting end watches its connection: once nothing
at all came from the peer for ``every`` seconds it sends a ``ping`` (``console.wire.features``,
``heartbeat``), and when still nothing came ``lost_after`` seconds later, the peer is taken as
gone: the connection is dropped (``Incoming.refuse``), so the requests on it fail with
``NoConnection`` naming the heartbeat, the state listeners hear it is down, and whoever
reconnects (the shell's ``Reconnector``, a background monitor) does so as after any drop.

Any frame counts as an answer (a download streaming in, an event), so a busy connection is
never pinged; a slow command on a live server is not a silent server, since the pong comes
from the server's reading loop, not from the command. Only time this process ran counts: after
the console was suspended (Ctrl-Z) or its loop held up, the peer gets a full ``lost_after``
again before it is judged.

Between the two, once a ping has gone ``NOTICE_SECONDS`` unanswered (a pong comes back within
milliseconds from a live peer), the silence is known though not yet judged: ``silent_for`` gives
its length in whole seconds, and ``on_silence`` is told each time that changes, and when the peer
answers again (None), so the console's toolbar can say "no answer for 3 s" instead of "connected".
Owns the watching only: the frames are ``incoming``'s and ``requesting``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from console.wire.exceptions import NoConnection

#: Seconds of silence on the connection before a ping; then seconds without any answer to it before
#: the peer is taken as gone (NVIDIA FLARE's console notices a stopped server in about 5 s).
EVERY_SECONDS = 2.0
LOST_AFTER_SECONDS = 4.0
#: How often the watch looks; a wake-up later than this plus ``PAUSED_SLACK`` means this process
#: did not run meanwhile (suspended, its loop held up): that time proves nothing about the peer.
STEP_SECONDS = 0.25
PAUSED_SLACK = 1.0
#: Seconds a ping goes unanswered before the silence is said (``silent_for``): a live peer's pong takes
#: milliseconds, a loaded one's well under a second.
NOTICE_SECONDS = 1.0


class Watched(Protocol):
    """The requesting end (``console.wire.requesting.Requester``)."""

    peer: str
    frames_read: int

    def send_ping(self) -> None: ...

    def refuse(self, error: Exception) -> None: ...


class Heartbeat:
    """The watch over one connection of ``link``; ``run`` until it drops (cancel it with the connection)."""

    def __init__(self, link: Watched, every: float = EVERY_SECONDS, lost_after: float = LOST_AFTER_SECONDS,
                 on_silence: Callable[[], None] = lambda: None) -> None:
        self.link = link
        self.every = every
        self.lost_after = lost_after
        #: Told (on the loop) whenever ``silent_for`` changes.
        self.on_silence = on_silence
        #: Seconds (of this process's running time) a ping has gone unanswered; 0 when none is out.
        self.unanswered = 0.0
        self._pinged = False
        self._silent_for: int | None = None

    @property
    def waiting(self) -> bool:
        """Whether a ping is out and unanswered: the peer has said nothing for ``every`` seconds and more."""
        return self._pinged

    @property
    def silent_for(self) -> int | None:
        """Whole seconds the peer has said nothing (of this process's running time), once a ping has gone
        ``NOTICE_SECONDS`` unanswered; None before that, and once anything came from it again."""
        return self._silent_for

    def _say(self, silent_for: int | None) -> None:
        if silent_for != self._silent_for:
            self._silent_for = silent_for
            self.on_silence()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        heard, quiet, last = self.link.frames_read, 0.0, loop.time()
        while True:
            await asyncio.sleep(STEP_SECONDS)
            now = loop.time()
            step, last = now - last, now
            if step > STEP_SECONDS + PAUSED_SLACK:  # we were not running: the peer's answer may be unread
                step = STEP_SECONDS
            if self.link.frames_read != heard:
                heard, quiet, self.unanswered, self._pinged = self.link.frames_read, 0.0, 0.0, False
                self._say(None)
                continue
            quiet += step
            if not self._pinged:
                if quiet >= self.every:
                    self._pinged = True
                    self.link.send_ping()
                continue
            self.unanswered += step
            if self.unanswered >= self.lost_after:
                self.link.refuse(NoConnection(
                    f"{self.link.peer} answered nothing, not even a heartbeat, for {quiet:.0f} s (stopped, or "
                    "its host or network is down)"))
                self._say(None)  # judged: the connection's loss is said from here on
                return
            if self.unanswered >= NOTICE_SECONDS:
                self._say(int(quiet))
