"""The last answer put on the screen, kept as it was rendered: the same answer again is not rendered again.

Owns only that one-entry memo and its key; how an answer is rendered, and whether it is paged, stay
``answer.py``'s and ``output.py``'s.

Why: on FLARE the answer is rendered on the worker thread between FLARE's call returning and the
write of the answer and next prompt, so its rendering is part of every round trip. Live, right
after FLARE's threads handed the answer over, ``list_jobs`` with 3 jobs took 0.11 ms to render and
0.03 ms to decide on the pager (27 us in a warm loop: caches are cold after the wait), where
``fl_admin.sh`` prints within 0.07 ms of its call. An operator asks the same thing again and again
(``list_jobs`` of finished jobs, ``check_status`` while nothing changes): that answer is written as
it was. FLARE's call returned -> the answer written, median of 50 interleaved runs at one real-time
priority on FLARE's POC: 0.36 -> 0.20 ms.

The key is the outcome's ``repr`` (each field's, the result's in full) with the settings and the
screen's size: exact for the JSON-shaped answers the engines give (``1``, ``1.0`` and ``True``,
a list and a tuple, key order: all told apart), and a few microseconds for a screenful of rows. An
answer taller than the screen is paged: not kept (its repr would be long for nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rendered:
    """An answer as shown: its text (None: nothing to show) and whether it needs the pager."""

    text: str | None
    paged: bool


def answer_key(outcome: Any, rows: int, *settings: Hashable) -> tuple[Hashable, ...] | None:
    """What tells ``outcome`` shown with ``settings`` apart from any other (see above); None for one not kept."""
    result = getattr(outcome, "result", None)
    if isinstance(result, list | dict) and len(result) > rows:
        return None
    try:
        return (repr(outcome), rows, *settings)
    except Exception:  # (a value whose repr fails: rendered each time)
        return None


class LastShown:
    """The last ``Rendered`` answer by its key; callable from the loop and from FLARE's worker (the pair is
    read and replaced whole)."""

    def __init__(self) -> None:
        self._last: tuple[tuple[Hashable, ...], Rendered] | None = None

    def rendered(self, key: tuple[Hashable, ...] | None, render: Callable[[], Rendered]) -> Rendered:
        """The kept rendering for ``key``, else ``render()`` (kept for ``key`` unless it is None)."""
        last = self._last
        if key is not None and last is not None and last[0] == key:
            return last[1]
        shown = render()
        if key is not None:
            self._last = (key, shown)
        return shown
