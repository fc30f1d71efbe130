"""A second FLARE Session on a worker thread of its own: the shared job poll's (``nvflare_poll``).

FLARE's Session takes one call at a time, and the backend runs the user's calls one after
another on its worker. The poll's calls go here instead, so that neither waits for the other:
the poll asks back to back as a job ends, and FLARE's ``show_stats`` can take up to a second
while a workflow finalizes (measured on FLARE 2.9's POC; FLARE waits up to 5 s for a job
process that does not answer).

Its login (one more FLARE login, about 0.35 s) is made ahead by ``warm_up``, which the backend
calls once the interactive console is up and the user's Session has been idle a second, so that
the first followed job is checked as quickly as later ones; otherwise (a batch) at the first call.
FLARE's server ends a session idle for 30 minutes (FLARE 2.9's ``SessionManager`` idle_timeout): a
call that finds its Session ended that way logs in again and is asked again (the poll's calls only
read), and so does one after a dropped connection.

Owns that Session and its worker only; whether FLARE is reachable is the backend's to say.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from console.api import errors
from console.backends.nvflare_worker import FlareWorker
from console.within import within


class SideSession:
    """``call(func, args)`` runs ``func(session, args)`` on this Session's own worker.

    ``login(None)`` makes a FLARE Session (the backend's login); ``translate`` turns FLARE's
    exceptions into ours. Raises as the backend's calls do (``NoConnection`` when the link is
    down, after which the next call logs in again; ``SessionClosed`` once closed).
    """

    def __init__(self, login: Callable[[Any], Any], translate: Callable[[BaseException], BaseException],
                 name: str) -> None:
        self._login = login
        self._worker = FlareWorker(name, translate)
        self._session: Any = None
        self._lock: asyncio.Lock | None = None
        self._warming: asyncio.Task[None] | None = None
        self._closed = False
        #: FLARE logins made so far (the cost this Session puts on FLARE's server beyond its calls).
        self.logins = 0

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    def warm_up(self) -> None:
        """Log in in the background now (once; nothing when logged in or closed); a failure is left
        for the first call, which logs in again and says why."""
        if self._closed or self._session is not None or self._warming is not None:
            return
        self._warming = asyncio.get_running_loop().create_task(self._warm())

    async def _warm(self) -> None:
        with contextlib.suppress(Exception):
            await self._logged_in()

    async def call(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any]) -> Any:
        if self._closed:
            raise errors.SessionClosed("session closed")
        session = await self._logged_in()
        try:
            return await self._worker.run(func, session, args)
        except errors.SessionClosed:
            if self._closed:
                raise
            # FLARE's server ended the Session (idle for 30 minutes): a new one, asked again once.
            self._drop(session)
            return await self._worker.run(func, await self._logged_in(), args)
        except errors.NoConnection:
            self._drop(session)  # the next call logs in again
            raise

    def _drop(self, session: Any) -> None:
        if self._session is session:
            self._session = None
            self._worker.submit(_close_quietly, session)

    async def _logged_in(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # several monitors' first checks (and a warm-up) log in once
            if self._session is None:
                self.logins += 1
                self._session = await self._worker.run(self._login, None)
            return self._session

    async def close(self, timeout: float) -> None:
        self._closed = True
        if self._lock is not None and self._lock.locked():  # a login under way: its Session is closed too
            with contextlib.suppress(Exception):
                await within(self._lock.acquire(), timeout)
                self._lock.release()
        if self._warming is not None:
            self._warming.cancel()
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await within(self._worker.run(session.close), timeout)
        self._worker.shutdown()


def _close_quietly(session: Any) -> None:
    with contextlib.suppress(Exception):
        session.close()
