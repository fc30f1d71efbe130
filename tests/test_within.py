"""``console.within``: a deadline on an await that keeps a cancel a cancel (Python 3.11's wait_for lost one)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from console.within import within

Wait = Callable[[Awaitable[Any], float | None], Awaitable[Any]]

# Ends a poller whose cancel was lost: a second cancel may be lost the same way (each poll is another
# chance for it), so the clean-up must not rely on cancelling (it hung the CI run of stop 22).
_POLLERS_END = threading.Event()


async def _cancel_as_the_answer_comes(wait: Wait) -> asyncio.Task[Any]:
    """A poller (as top's) awaiting an answer with a deadline; the answer arrives in the loop turn its
    cancel (``q``) does. Returns the poller's task, ended or not a moment later."""
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def poller() -> None:
        while not _POLLERS_END.is_set():
            await wait(asyncio.shield(answer), 5.0)
            await asyncio.sleep(0.01)  # the next poll: a lost cancel goes round here until the test ends it

    task = asyncio.create_task(poller())
    await asyncio.sleep(0)  # it waits for the answer now
    answer.set_result(1)
    task.cancel()
    await asyncio.wait([task], timeout=0.5)
    return task


@pytest.mark.timeout(10)
def test_a_cancel_that_comes_with_the_answer_ends_the_waiting_task() -> None:
    async def main() -> None:
        task = await _cancel_as_the_answer_comes(within)
        assert task.cancelled()

    asyncio.run(main())


@pytest.mark.timeout(10)
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the lost cancel is Python 3.11's wait_for (CPython gh-86296)")
def test_the_case_within_exists_for_python_3_11_wait_for_loses_that_cancel() -> None:
    async def main() -> None:
        task = await _cancel_as_the_answer_comes(asyncio.wait_for)
        try:
            assert not task.done()  # still polling: the cancel was taken for nothing
        finally:
            _POLLERS_END.set()
            await asyncio.gather(task, return_exceptions=True)
            _POLLERS_END.clear()

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_within_answers_and_times_out_as_wait_for() -> None:
    async def main() -> None:
        assert await within(asyncio.sleep(0, "done"), 1.0) == "done"
        assert await within(asyncio.sleep(0, "no deadline"), None) == "no deadline"
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await within(asyncio.Event().wait(), 0.05)
        assert asyncio.get_running_loop().time() - started < 5

    asyncio.run(main())


@pytest.mark.timeout(10)
def test_a_cancel_the_awaited_coroutine_takes_for_its_own_still_cancels_the_caller() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "kept going"
        return "never"

    async def main() -> None:
        caller = asyncio.create_task(within(stubborn(), 5.0))
        await asyncio.sleep(0.01)
        caller.cancel()
        await asyncio.wait([caller], timeout=2.0)
        assert caller.cancelled()
        assert await within(stubborn(), 0.05) == "kept going"  # its own deadline: its result, as wait_for

    asyncio.run(main())
