"""The thread a FLARE Session's blocking calls run on, off the console's event loop.

Owns handing a call to that thread and its outcome back to the loop: FLARE's exceptions turned
into ours (the caller's ``translate``), a cancel of a call not yet started, and the words for one
that had started (``CancelTooLate``). Which calls are made, and on which Session, stays the
backend's (``nvflare.py``) and the poll's (``nvflare_side.py``).

Why a call's start is waited for: the user's command is handed over from Enter's handler, while
the loop still has prompt_toolkit's work to do (history, putting the prompt away: about 1 ms of
Python). Holding the GIL meanwhile, the loop kept the thread from starting FLARE's call for
0.64 ms (median; timestamps on both threads, FLARE 2.9 POC, 2 cores). So the loop waits, its GIL
released, until the thread has started (about 0.1 ms), at most ``START_WAIT``: the request goes
out first and that work overlaps FLARE's answer. When the thread is still busy with an earlier
call, nothing is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from console.api import errors

#: Longest the loop waits for the thread to start a call (s); the GIL's own switch interval.
START_WAIT = 0.005


class FlareWorker:
    """One thread for one FLARE Session (FLARE's Session takes one call at a time)."""

    def __init__(self, name: str, translate: Callable[[BaseException], BaseException]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._translate = translate
        self._last: Future[Any] | None = None
        self._shut = False

    async def run(self, func: Callable[..., Any], *args: Any, goes_on: str | None = None,
                  then: Callable[[Any], None] | None = None) -> Any:
        """``func(*args)`` on the thread; FLARE's exceptions come back as ours. ``then(result)``, when
        given, runs on the thread as soon as ``func`` returned (an error in it is its own: ignored).

        A cancel stops a call still queued. One already running on the thread cannot be stopped:
        for ``goes_on`` (the name of a command that changes something) it is awaited and
        CancelTooLate says it went on, with its result, rather than a "cancelled" that is untrue.
        Raises SessionClosed for a call still queued when the thread was shut down.
        """
        try:
            future = self._start(functools.partial(_call_then, functools.partial(func, *args), then))
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                if future.cancel() or goes_on is None:  # not started yet, or only a question: stopped
                    raise
                await _went_on(goes_on, future)
        except errors.CancelTooLate:
            raise
        except RuntimeError as exc:
            if self._shut:  # shut down under a call that was still queued
                raise errors.SessionClosed("session closed") from None
            raise self._translate(exc) from exc
        except Exception as exc:
            raise self._translate(exc) from exc

    def _start(self, call: Callable[[], Any]) -> Future[Any]:
        idle = self._last is None or self._last.done()  # calls run in order: the last one done, all are
        started = threading.Event()

        def run() -> Any:
            started.set()
            return call()

        future = self._pool.submit(run)
        self._last = future
        if idle:
            started.wait(START_WAIT)  # (see the module's docstring)
        return future

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        """``func(*args)`` on the thread, its outcome ignored (closing a Session that is dropped)."""
        if not self._shut:
            self._last = self._pool.submit(func, *args)

    def shutdown(self) -> None:
        """Stop taking calls; queued ones end with SessionClosed, a running one runs to its end."""
        self._shut = True
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call_then(call: Callable[[], Any], then: Callable[[Any], None] | None) -> Any:
    result = call()
    if then is not None:
        with contextlib.suppress(Exception):  # (what it would have done is done by the caller then)
            then(result)
    return result


async def _went_on(command: str, future: Future[Any]) -> None:
    """Raise CancelTooLate once the running call ``future`` ends (its result in it), or at once
    on a second cancel; a call that failed anyway raises its own error. Said at once to whoever
    listens (``tell_too_late``: the interactive shell gives the prompt back meanwhile), in the
    words our own server's client uses ("the cancel came after ...")."""
    verb = command.removesuffix("_job").replace("_", " ")
    reason = f"the cancel came after FLARE's {verb} had started, and FLARE cannot stop it"
    errors.tell_too_late(command, reason)
    try:
        result = await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        raise errors.CancelTooLate(command, f"{reason} (its outcome was not awaited)") from None
    raise errors.CancelTooLate(command, reason, "done" if result is None else result)  # (delete_job: None)
