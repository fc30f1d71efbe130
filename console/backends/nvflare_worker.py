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

A caller that will hold the loop anyway until the answer is shown (``run``'s ``then`` with a
``handed_over()``: ``early.Arrival``) does its own waiting instead, called right after the hand-over:
woken when the thread started, the loop took the GIL back while FLARE's Python prepared the request
and did its own 0.1-0.2 ms of Python then (putting the prompt away), delaying FLARE's sending thread;
done right after the hand-over, that Python overlaps the thread's wake-up and the loop is not woken
again until the answer is on the screen. Enter -> FLARE's request handed to its socket thread,
``list_jobs`` on FLARE's POC, median of 60 interleaved traced runs at one real-time priority: 2.05
-> 1.70 ms (``fl_admin.sh``: 1.69).

The thread is our own, blocked on a ``SimpleQueue`` between calls, and says it started a call by
releasing a lock made for it: handing a call over and seeing it start took 50-57 us with
``ThreadPoolExecutor.submit`` and an ``Event`` (its work item, its ``Condition``s), 25-29 us this way
(median of 300 hand-overs, two threads at one real-time priority, 2 cores). As a pool's, it is not a
daemon (``console.quick_exit`` ends the program at once when one is still in a FLARE call: a daemon
was left to Python's exit, which then waited 10 s for FLARE's own threads), and Python's exit wakes
an idle one to end, as ``concurrent.futures`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from console.api import errors

#: Longest the loop waits for the thread to start a call (s); the GIL's own switch interval.
START_WAIT = 0.005

_LIVE: weakref.WeakSet[FlareWorker] = weakref.WeakSet()  # workers whose thread runs


def _wake_at_exit() -> None:
    """Python's exit joins threads that are not daemons: the idle ones are told to end first."""
    for worker in list(_LIVE):
        worker._calls.put(None)


threading._register_atexit(_wake_at_exit)  # (as concurrent.futures.thread does: before the threads are joined)


class FlareWorker:
    """One thread for one FLARE Session (FLARE's Session takes one call at a time)."""

    def __init__(self, name: str, translate: Callable[[BaseException], BaseException]) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None  # started with the first call
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
            future = self._start(functools.partial(_call_then, functools.partial(func, *args), then),
                                 getattr(then, "handed_over", None))
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

    def _start(self, call: Callable[[], Any], handed_over: Callable[[], None] | None = None) -> Future[Any]:
        if self._shut:
            raise RuntimeError("the worker is shut down")  # (``run``: SessionClosed)
        idle = self._last is None or self._last.done()  # calls run in order: the last one done, all are
        began = threading.Lock()  # released by the thread as it begins the call
        began.acquire()
        future: Future[Any] = Future()
        self._last = future
        self._put(_Call(future, call, began))
        if handed_over is not None:
            handed_over()  # (the caller's own wait, off the GIL: see the module's docstring)
        elif idle:
            began.acquire(timeout=START_WAIT)  # (see the module's docstring)
        return future

    def _put(self, call: _Call) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name)
            self._thread.start()
            _LIVE.add(self)
        self._calls.put(call)

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            if call.began is not None:
                call.began.release()
            if not call.future.set_running_or_notify_cancel():  # cancelled while queued
                continue
            try:
                result = call.run()
            except BaseException as exc:  # (the caller's: ``run`` translates it)
                call.future.set_exception(exc)
            else:
                call.future.set_result(result)
            del call  # (nothing of a call done kept alive while the thread waits for the next)

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        """``func(*args)`` on the thread, its outcome ignored (closing a Session that is dropped)."""
        if not self._shut:
            future: Future[Any] = Future()
            self._last = future
            self._put(_Call(future, functools.partial(func, *args), None))

    def shutdown(self) -> None:
        """Stop taking calls; queued ones are cancelled (``run``: SessionClosed), a running one runs to its end."""
        self._shut = True
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                call.future.cancel()
        self._calls.put(None)  # the thread ends after the call it runs, if any


class _Call:
    """A call for the thread; ``began``, held, is released as it begins (None: nobody waits for that)."""

    __slots__ = ("began", "future", "run")

    def __init__(self, future: Future[Any], run: Callable[[], Any], began: threading.Lock | None) -> None:
        self.future = future
        self.run = run
        self.began = began


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
