"""A blocking caller's hand-over to the sync ``Session``'s event loop, and the waits it does there.

Owns: running one coroutine on the session's loop for a caller in another thread (``LoopCall``),
waking callers that wait for something the loop hears of (``Wakeup``), and what a Ctrl-C does to
both: KeyboardInterrupt in the caller at once, and the call cancelled on the loop (a download
stops on the server too, not only the wait for it). Must not: know the commands or the wire.

Why not ``asyncio.run_coroutine_threadsafe(...).result()`` and ``threading.Condition.wait``:
CPython (3.11) runs a SIGINT's handler only in the main thread, between two bytecodes; the
signal itself only wakes the thread the kernel gave it to. So

- a SIGINT given to another thread (any of the script's own that does not block it), or one
  that comes while the main thread goes to sleep, after its last check for pending signals and
  before it blocks (under load it waits there for the GIL), is noted but not acted on until the
  main thread wakes: in an untimed wait, when the call ends by itself, or never (a script held in
  a download for good);
- a KeyboardInterrupt raised between two steps of ``Condition.wait`` (after it released its
  lock, before the ``try`` that takes it back) makes the ``with`` around it release the lock
  again: ``RuntimeError: cannot release un-acquired lock`` in place of the KeyboardInterrupt,
  and nothing is cancelled;
- one raised inside ``run_coroutine_threadsafe`` once it scheduled the coroutine loses the
  future: the coroutine runs on with nobody to cancel it.

So the caller holds its ``LoopCall`` before anything is scheduled, and waits on a plain lock (one
acquire, nothing to restore) in slices of ``WAIT_SLICE``: a signal is acted on as soon as it comes
(the sleep ends with EINTR), or at the latest when the slice ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from _thread import LockType
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from console.wire.exceptions import SessionClosed

T = TypeVar("T")

#: Longest the main thread sleeps at once in a wait (seconds): the latest a Ctrl-C that came just as
#: it went to sleep is acted on. (Other threads never get a KeyboardInterrupt: they sleep untimed.)
WAIT_SLICE = 0.05


def _slice(left: float | None) -> float:
    """How long to sleep next: ``left`` (None: no end), cut to ``WAIT_SLICE`` in the main thread;
    -1 (a lock's "no timeout") for an endless sleep elsewhere."""
    if threading.current_thread() is threading.main_thread():
        return WAIT_SLICE if left is None else min(WAIT_SLICE, left)
    return -1 if left is None else left


class LoopCall(Generic[T]):
    """``coro`` run on ``loop`` for a caller in another thread: ``start``, then ``wait`` (its result,
    or its exception raised); ``cancel`` stops it on the loop, also before it started."""

    def __init__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> None:
        self._loop = loop
        self._coro = coro
        self._task: asyncio.Task[T] | None = None
        self._dropped = False  # cancelled before it started (read and set on the loop only)
        self._outcome: tuple[bool, Any] | None = None
        self._finished = threading.Lock()  # held until the outcome is set: released once, by the loop
        self._finished.acquire()

    @property
    def done(self) -> bool:
        return self._outcome is not None

    def start(self) -> None:
        """Schedule it on the loop; SessionClosed if the loop is closed."""
        try:
            self._loop.call_soon_threadsafe(self._begin)
        except RuntimeError:  # the loop is closed: its session too
            self._coro.close()
            raise SessionClosed("session closed") from None

    def wait(self, timeout: float | None = None) -> T:
        """Its result, or its exception raised (``concurrent.futures.CancelledError`` if it was
        cancelled); TimeoutError if it did not finish within ``timeout`` seconds. A Ctrl-C in this
        thread raises KeyboardInterrupt at once, the call going on until ``cancel``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"the call did not finish within {timeout:g} s")
            if self._finished.acquire(timeout=_slice(left)):
                break
        assert self._outcome is not None
        ok, value = self._outcome
        if ok:
            return value
        raise value

    def cancel(self) -> None:
        """Cancel it on the loop (a no-op once it finished or if the loop is closed)."""
        try:
            self._loop.call_soon_threadsafe(self._stop)
        except RuntimeError:  # the loop is closed: ``abandon`` said why
            pass

    def abandon(self, error: BaseException) -> None:
        """Finish it with ``error`` unless it finished: for a loop that stopped under it (the session
        closed). Not on the loop: from the closing thread once the loop no longer runs."""
        if self._task is None and not self._dropped:  # never begun: nothing will await it now
            self._dropped = True
            self._coro.close()
        self._finish(False, error)

    # -- on the loop ---------------------------------------------------------------------

    def _begin(self) -> None:
        if self._dropped:
            return
        self._task = self._loop.create_task(self._coro)
        self._task.add_done_callback(self._ended)

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        elif not self._dropped:  # not begun yet: it never will
            self._dropped = True
            self._coro.close()
            self._finish(False, concurrent.futures.CancelledError())

    def _ended(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self._finish(False, concurrent.futures.CancelledError())
        elif (error := task.exception()) is not None:
            self._finish(False, error)
        else:
            self._finish(True, task.result())

    def _finish(self, ok: bool, value: Any) -> None:
        with _FINISHING:  # the loop and a closing thread may both finish it: the first one counts
            if self._outcome is not None:
                return
            self._outcome = (ok, value)
        self._finished.release()


_FINISHING = threading.Lock()


class Wakeup:
    """Wakes the threads waiting in ``wait`` when ``ring`` is called (from any thread, the loop's
    included): each waiter sleeps on a plain lock of its own, which ``ring`` releases."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._sleepers: set[LockType] = set()

    def ring(self) -> None:
        with self._guard:
            for sleeper in self._sleepers:
                if sleeper.locked():  # (only ``ring`` releases it, under the guard: never twice)
                    sleeper.release()

    def wait(self, ready: Callable[[], bool], seconds: float) -> None:
        """Until ``ready()`` or ``seconds`` passed; ``ready`` is asked first and after each ring.
        A Ctrl-C in this thread raises KeyboardInterrupt at once (see the module's docstring)."""
        deadline = time.monotonic() + seconds
        sleeper = threading.Lock()
        sleeper.acquire()
        with self._guard:
            self._sleepers.add(sleeper)
        try:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                sleeper.acquire(timeout=_slice(left))
        finally:
            with self._guard:
                self._sleepers.discard(sleeper)
