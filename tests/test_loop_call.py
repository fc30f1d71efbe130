"""console.api.loop_call: a blocking caller's hand-over to the sync Session's loop, on a real loop
in a thread of its own (the Ctrl-C cases run in scripts of their own: tests/test_download_stream.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator

import pytest

from console.api.errors import SessionClosed
from console.api.loop_call import LoopCall, Wakeup

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def test_results_and_errors_come_back(loop: asyncio.AbstractEventLoop) -> None:
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    async def fail() -> None:
        raise TimeoutError("its own timeout, not the wait's")

    call = LoopCall(loop, answer())
    call.start()
    assert call.wait() == 42
    failing = LoopCall(loop, fail())
    failing.start()
    with pytest.raises(TimeoutError, match="its own timeout"):
        failing.wait()


def test_a_wait_with_a_timeout_leaves_the_call_going(loop: asyncio.AbstractEventLoop) -> None:
    release = asyncio.Event()
    call = LoopCall(loop, release.wait())
    call.start()
    with pytest.raises(TimeoutError, match="did not finish within 0.1 s"):
        call.wait(timeout=0.1)
    loop.call_soon_threadsafe(release.set)
    assert call.wait() is True


def test_a_cancel_stops_it_on_the_loop_also_before_it_began(loop: asyncio.AbstractEventLoop) -> None:
    """Ctrl-C may come before the loop ran the call at all: the coroutine then never runs."""
    ran = threading.Event()
    hold = threading.Event()

    async def mark() -> None:
        ran.set()

    loop.call_soon_threadsafe(hold.wait, 10)  # the loop is busy: what is scheduled now waits
    early = LoopCall(loop, mark())
    early.start()
    early.cancel()
    hold.set()
    with pytest.raises(concurrent.futures.CancelledError):
        early.wait()
    assert not ran.is_set()

    began, cancelled = threading.Event(), threading.Event()

    async def until_cancelled() -> None:
        began.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    running = LoopCall(loop, until_cancelled())
    running.start()
    assert began.wait(10)
    running.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        running.wait()
    assert cancelled.is_set()  # its cleanup ran on the loop before the caller heard of it


def test_a_call_whose_loop_stopped_under_it_is_abandoned(loop: asyncio.AbstractEventLoop) -> None:
    """Session.close stops the loop: a call still waiting in another thread raises SessionClosed,
    never waits for ever; a loop already closed refuses new calls with SessionClosed."""
    call = LoopCall(loop, asyncio.Event().wait())
    call.start()
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            call.wait()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    stopped = threading.Event()
    loop.call_soon_threadsafe(lambda: (loop.stop(), stopped.set()))
    assert stopped.wait(10)
    call.abandon(SessionClosed("session closed"))
    thread.join(10)
    assert [type(exc) for exc in outcome] == [SessionClosed]
    while loop.is_running():  # (run_forever returns right after the stop)
        threading.Event().wait(0.01)
    loop.close()

    async def never() -> None:
        raise AssertionError("ran on a closed loop")

    with pytest.raises(SessionClosed):
        LoopCall(loop, never()).start()


def test_a_wakeup_wakes_every_waiter_at_once() -> None:
    wakeup = Wakeup()
    changed = threading.Event()
    woke: list[str] = []

    def waiter(name: str) -> None:
        wakeup.wait(changed.is_set, 30)
        woke.append(name)

    threads = [threading.Thread(target=waiter, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    changed.set()
    wakeup.ring()
    for thread in threads:
        thread.join(5)  # far below its 30 s: the ring woke it
    assert sorted(woke) == ["a", "b"]
    wakeup.wait(lambda: False, 0.05)  # and a wait with nothing to wake it ends at its time
