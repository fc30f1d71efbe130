"""A coroutine run at once up to its first wait, then as a task (what Python 3.12's eager tasks do, on 3.11).

Owns only that; what runs is the caller's (``early.py`` starts a command from Enter's handler).

Why: a task's first step runs when the event loop next gets to it. Started from Enter's handler,
that is after prompt_toolkit has finished with the key (history written, its application told to
leave, the loop's other callbacks): 0.4 ms, measured with timestamps in the console on FLARE,
before the request even left. Run eagerly, the request leaves from the handler itself, and that
work overlaps the round trip instead of preceding it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start_now(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Run ``coro`` until it first waits, here; the rest runs as a task. Call it with a loop running.

    Returns a future of its result: already done when ``coro`` ended (or raised) without waiting.
    Cancelling it cancels what ``coro`` waits for, and ``coro`` sees ``CancelledError`` there, as
    with a task.
    """
    loop = asyncio.get_running_loop()
    # One context for the whole run, as a task has: what ``coro`` sets (console.wire.requesting.USER_COMMAND)
    # stays its own, and is the same in its first step as in the rest.
    context = contextvars.copy_context()
    try:
        waited = context.run(coro.send, None)
    except StopIteration as stop:
        done: asyncio.Future[T] = loop.create_future()
        done.set_result(stop.value)
        return done
    except asyncio.CancelledError:
        done = loop.create_future()
        done.cancel()
        return done
    except Exception as exc:
        done = loop.create_future()
        done.set_exception(exc)
        return done
    return loop.create_task(_go_on(coro, waited), context=context)


async def _go_on(coro: Coroutine[Any, Any, T], waited: Any) -> T:
    """Drive ``coro`` on from where it yielded ``waited`` (a future, or None for a bare yield)."""
    while True:
        error: BaseException | None = None
        try:
            if waited is None:
                await asyncio.sleep(0)
            else:
                # Handed over as to a task: ``coro`` marked it as its wait, this task now waits on it.
                waited._asyncio_future_blocking = False
                await waited
        except asyncio.CancelledError as cancel:
            if waited is None or not waited.cancelled():  # this task cancelled once ``waited`` was done
                error = cancel
        except Exception:  # noqa: S110  (``coro`` reads the future's own error from it when resumed)
            pass
        try:
            waited = coro.throw(error) if error is not None else coro.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
