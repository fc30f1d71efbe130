"""The answer to a request cancelled after it could no longer be stopped.

A request that changes something (``acts``), once sent, or an upload whose end has gone, is done by
the peer whatever this side does next; a big answer whose head said "ok" is the answer to a command
already done. A cancel then (Ctrl-C, a caller going away) does not make them untrue: the answer is
awaited and raised as ``CancelTooLate`` carrying it, or saying it is unknown when a second cancel or
the timeout comes first. The listener of ``console.wire.exceptions.tell_too_late`` hears it at once
(the interactive shell gives the prompt back meanwhile).

Used by ``console.wire.requesting`` for its requests; must not send or read frames itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from console.wire.answers import Pending
from console.wire.errors import RemoteError
from console.wire.exceptions import CancelTooLate, exception_for, tell_too_late
from console.within import within

#: Why a cancel while a done command's big answer streams in cannot stop it (``CancelTooLate.reason``).
ANSWERED = "the cancel came after the server had done it (its answer was still coming)"


async def late_answer(cmd: str, pending: Pending, timeout: float, reason: str,
                      rest: Callable[[Any], Coroutine[Any, Any, Any]] | None = None) -> NoReturn:
    """The answer to a request cancelled too late to stop it; CancelTooLate carries it (its
    ``data``, or for a big JSON answer streamed after its head, what ``rest(head frame)`` reads of it)
    or, when a second cancel or ``timeout`` (seconds) comes first, says it is unknown.
    An answer that is an error raises that error (the FLARE API's exception for it)."""
    tell_too_late(cmd, reason)  # at once: the interactive shell gives the prompt back meanwhile
    try:
        frame = await within(asyncio.shield(pending.future), timeout)
    except (asyncio.CancelledError, TimeoutError):
        raise CancelTooLate(cmd, reason) from None
    if not frame.header.get("ok"):
        raise exception_for(RemoteError.from_wire(frame.header.get("error")))  # it failed anyway: say why
    if not (frame.header.get("json") and rest is not None):
        raise CancelTooLate(cmd, reason, frame.header.get("data"))
    # The head came after the cancel and the answer streams in behind it (CI under load: a clone's big
    # meta came as None): read whole, as when the cancel comes while it streams (acted_answer).
    await _too_late_once_read(cmd, reason, asyncio.ensure_future(rest(frame)))


async def acted_answer(cmd: str, reading: Coroutine[Any, Any, Any]) -> Any:
    """A big answer (streamed JSON, being read by ``reading``) to a command the server has done (its
    head said ok): read whole whatever happens; a cancel while it streams in raises CancelTooLate with
    it (a second cancel: without it), never a "cancelled" for a change that was made, whatever the
    answer's size."""
    task = asyncio.ensure_future(reading)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        pass
    tell_too_late(cmd, ANSWERED)  # at once: the interactive shell gives the prompt back meanwhile
    await _too_late_once_read(cmd, ANSWERED, task)


async def _too_late_once_read(cmd: str, reason: str, reading: asyncio.Future[Any]) -> NoReturn:
    """CancelTooLate carrying the rest of a done command's answer, which ``reading`` reads (shielded: the
    cancel that came already does not stop it); a cancel while it is read gives up on it (``reading`` is
    cancelled) and the CancelTooLate says the answer is unknown. Both late_answer and acted_answer end so."""
    try:
        result = reading.result() if reading.done() else await asyncio.shield(reading)  # (read as the cancel came)
    except asyncio.CancelledError:
        reading.cancel()
        raise CancelTooLate(cmd, reason) from None
    raise CancelTooLate(cmd, reason, result)
