"""Work prompt_toolkit does again at every drawing and every prompt that the shell's prompt lets it skip.

Owns two speed-ups of the shell's one ``PromptSession`` application; what is drawn, when, and which
signals are handled stay prompt_toolkit's and asyncio's.

Why: between Enter and the next prompt on FLARE (a round trip of 8-10 ms, ``fl_admin.sh`` taking
about as long), the shell's main thread used 2.0-2.4 ms of CPU where ``fl_admin.sh``'s used 1.6 ms
with its whole call to FLARE included (per-thread CPU from ``/proc/PID/task/*/schedstat``, 40
``check_status server`` each, FLARE 2.9 POC). That thread holds the GIL which FLARE's own threads
need to send the request and read the answer, so its CPU in that window is latency. Two of its
costs do nothing for this prompt:

- **Invalidate events.** After each drawing (each key typed, and the final one at Enter), the
  application walks the whole layout to list its controls, detaches its handler from every
  control's invalidate events and attaches it again. For a layout whose controls have not changed
  (``key_lookup.LayoutShape``) the events are the same ones, already attached: the walk is skipped
  until the application detaches them at its end (its list is then a new one).
- **Valid signals.** prompt_toolkit adds and removes its SIGWINCH handler at every prompt, and
  asyncio checks the signal against ``signal.valid_signals()``, which builds a set of some 64
  ``Signals`` members at each call: 0.1-0.2 ms, twice per command. The set a process may handle does
  not change while it runs, so it is computed once.

Measured together (same harness, alternated with the code before): the main thread's CPU from
Enter to the next prompt 2.38 -> 1.81 ms.
"""

from __future__ import annotations

import signal
from typing import Any

from prompt_toolkit.application import Application

from console.shell.key_lookup import LayoutShape, shape_of


def skip_repeated_work(app: Application[Any]) -> None:
    """Give ``app`` (the shell's prompt) both speed-ups; where prompt_toolkit's internals differ from
    the ones this was written against (3.0.4x-3.0.5x), that part is left as it is."""
    _gather_invalidate_events_once_per_shape(app)
    _valid_signals_once()


def _gather_invalidate_events_once_per_shape(app: Application[Any]) -> None:
    update = getattr(app, "_update_invalidate_events", None)
    if update is None or not isinstance(getattr(app, "_invalidate_events", None), list):
        return
    gathered: list[Any] = []  # the list ``update`` made last: still attached while it is the app's own
    shape: LayoutShape | None = None

    def once_per_shape() -> None:
        nonlocal gathered, shape
        layout = app.layout
        if (shape is not None and app._invalidate_events is gathered  # type: ignore[attr-defined]
                and shape.holds(layout.container)):
            return
        update()
        gathered = app._invalidate_events  # type: ignore[attr-defined]
        new = shape_of(layout)
        shape = new if new.controls is not None else None  # a layout that may change: gathered each time

    app._update_invalidate_events = once_per_shape  # type: ignore[method-assign]


def _valid_signals_once() -> None:
    original = signal.valid_signals
    if getattr(original, "computed_once", False):
        return
    valid = frozenset(original())

    def valid_signals() -> frozenset[signal.Signals]:
        return valid

    valid_signals.computed_once = True  # type: ignore[attr-defined]
    valid_signals.__doc__ = original.__doc__
    signal.valid_signals = valid_signals  # type: ignore[assignment]
