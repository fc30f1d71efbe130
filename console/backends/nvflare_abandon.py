"""A FLARE login given up on: its connection attempt stopped, so that nothing waits for it afterwards.

FLARE 2.9's Session connects on a thread pool of its own (``conn_manager``'s ``concurrent.futures``
executor), whose connector runs the driver's ``connect`` to its end: against a port that takes the
connection and never answers, aiohttp's TLS handshake waits out its 30 s socket timeout. FLARE's
``close`` stops the connector but waits for that connect (``executor.shutdown(wait=True)``), and
Python's exit joins every executor thread (``concurrent.futures.thread._python_exit``): a script whose
login timed out after 2 s, or that closed a Session whose server had stopped answering, ended 30 s
later. A library must not end its caller's process early (the console's own ``quick_exit`` does that
for the ``flare-console`` program only), so the attempt itself is ended: each connector of the Session's
cell that has no connection is marked stopped (its retry loop ends) and the driver's connect under way on
FLARE's asyncio loop is cancelled (``CancelledError`` ends that executor task); FLARE's ``close`` then
returns at once and its threads end. A connector with a connection is left alone (its logout still goes).

Must not: import nvflare at import time, or touch anything but the given Session's own connectors.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from typing import Any

log = logging.getLogger("console.backends.nvflare")

#: FLARE Sessions made on each thread that asked to see them (``made_here``): {thread ident: [sessions]}.
_watching: dict[int, list[Any]] = {}
_WATCH = threading.Lock()


@functools.cache
def _see_sessions_made() -> None:
    """Let ``made_here`` see the Sessions FLARE's ``new_secure_session`` makes (once per process)."""
    try:
        from nvflare.fuel.flare_api.flare_api import Session
    except ImportError:
        return
    original = Session.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        with _WATCH:
            made = _watching.get(threading.get_ident())
        if made is not None:
            made.append(self)
        original(self, *args, **kwargs)

    Session.__init__ = init


@contextlib.contextmanager
def made_here(made: list[Any]) -> Any:
    """While the block runs, every FLARE Session made on this thread is appended to ``made``."""
    _see_sessions_made()
    with _WATCH:
        _watching[threading.get_ident()] = made
    try:
        yield made
    finally:
        with _WATCH:
            _watching.pop(threading.get_ident(), None)


def _unconnected_connectors(session: Any) -> list[Any]:
    """The Session cell's connectors without a connection ([] before its cell exists, or on a FLARE
    release that keeps them elsewhere: then nothing is stopped and FLARE's own waits stay)."""
    cell = getattr(getattr(session, "api", None), "cell", None)
    manager = getattr(getattr(getattr(cell, "core_cell", None), "communicator", None), "conn_manager", None)
    connectors = getattr(manager, "connectors", None)
    if not isinstance(connectors, dict):
        return []
    return [c for c in list(connectors.values())
            if not getattr(getattr(c, "driver", None), "connections", True)]


def stop_connecting(session: Any) -> int:
    """End the connection attempts of FLARE ``session`` that have not connected (see the module); how many
    connectors were stopped. Safe from any thread, any number of times."""
    stopping = _unconnected_connectors(session)
    for connector in stopping:
        with contextlib.suppress(AttributeError):
            connector.stopped.set()
        driver = connector.driver
        loop = getattr(getattr(driver, "aio_context", None), "loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing runs on it
                loop.call_soon_threadsafe(_cancel_connects, loop, driver)
    return len(stopping)


def _cancel_connects(loop: asyncio.AbstractEventLoop, driver: Any) -> None:
    """On FLARE's loop: cancel the tasks running ``driver``'s connect (a coroutine of a method of it)."""
    for task in asyncio.all_tasks(loop):
        frame = getattr(task.get_coro(), "cr_frame", None)
        if frame is not None and frame.f_locals.get("self") is driver:
            log.debug("FLARE login given up: cancelling its connect to %s", getattr(driver, "connector", "?"))
            task.cancel()


#: Seconds between the stopper's looks, and how long it keeps looking for the attempt of a login given up.
STOPPER_PACE = 0.2
STOPPER_SPAN = 120.0


def stop_when_made(made: list[Any], done: threading.Event) -> None:
    """Stop the connection attempts of the Sessions in ``made`` (a login given up on, still running on its
    thread) now and as they start, until ``done`` is set: on a daemon thread, so nobody waits for it."""

    def stopper() -> None:
        waited = 0.0
        while waited < STOPPER_SPAN:
            for session in list(made):
                stop_connecting(session)
            if done.wait(STOPPER_PACE):
                return
            waited += STOPPER_PACE

    threading.Thread(target=stopper, name="flare-login-stopper", daemon=True).start()
