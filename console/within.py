"""A deadline on one await that never swallows a cancel: ``within`` in place of ``asyncio.wait_for``.

Python 3.11's ``asyncio.wait_for`` returns the result when the awaited thing completes in the same
loop turn as a cancel of the awaiting task: the cancel is lost (CPython gh-86296, fixed in 3.12). A
``top`` whose poll's answer came as ``q`` cancelled it then polled on for ever, and the prompt never
came back. Not ``asyncio.timeout`` either: it cancels the task that entered it, and a command started
from Enter's handler (``console.shell.eager``) takes its first steps in no task and the rest in another.
Here the deadline cancels only the awaited thing, as ``wait_for`` does, whoever drives the coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``; after ``seconds`` (None: no deadline) it is cancelled and TimeoutError raised,
    as ``wait_for`` (its result, if it still ended with one). A cancel of the caller raises CancelledError
    always, also when the awaited thing completed (or timed out) in the same loop turn."""
    if seconds is None:
        return await awaitable
    entry = asyncio.current_task()
    before = entry.cancelling() if entry is not None else 0
    inner = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not inner.done():
            expired = True
            inner.cancel()

    def cancel_asked() -> bool:  # of the caller's task, since it entered (a task that is not the entry's: at all)
        now = asyncio.current_task()
        return now is not None and now.cancelling() > (before if now is entry else 0)

    timer = asyncio.get_running_loop().call_later(max(seconds, 0.0), expire)
    try:
        result = await inner
    except asyncio.CancelledError:
        if expired and not cancel_asked():
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
    if cancel_asked():  # the awaited task took the cancel it was handed for its own and ended
        raise asyncio.CancelledError
    return result
