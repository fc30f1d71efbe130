"""Completion's names of the server's and sites' folders: fetched in the background, kept a few seconds.

Typing never waits on the network (SPEC section 7): ``RemoteFolders.names`` answers at once from a
small cache of recent folders; a folder not in it (or kept longer than ``FRESH_FOR``) is asked for
in the background (``Backend.folder_names``: the engine's own ``ls``) with a deadline of ``DEADLINE``
seconds, and ``on_ready`` is called when its names arrive, so that the prompt can offer them then.
A target that is gone or refuses (no right, a path outside its folder) gives no names for
``FRESH_FOR`` seconds, never an error line: completion is a convenience, the command itself says why.
One folder of a target is asked at a time, and a target that passed the deadline rests for
``REST_AFTER_DEADLINE`` seconds: completion never piles requests on a frozen site.

Owns the cache and the fetches; what a name looks like in the line is ``console.shell.completion``'s.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from console.within import within

#: Seconds a folder's names are used without asking again (a job writes new files as it runs).
FRESH_FOR = 5.0
#: Seconds names older than ``FRESH_FOR`` are still shown while fresher ones are asked for (no
#: menu that vanishes and comes back while the folder is asked for again).
SHOWN_FOR = 60.0
#: Seconds a folder's listing may take before completion gives up on it.
DEADLINE = 2.0
#: Seconds a target whose listing passed the deadline is not asked again: our server waits up to 10 s
#: for a site's answer (``console.server.targets``) holding one of the user's two large-answer slots
#: (``console.wire.budget``), so a frozen site never holds both, nor one the user's own ``cat`` needs long.
REST_AFTER_DEADLINE = 12.0
#: Folders kept (the most recently used).
KEPT_FOLDERS = 16
#: Names kept of one folder, the first in sorted order: more than the engine's ``ls`` answer holds
#: (1 MiB, ``target_commands``: 200,000 names of 4 characters), so a matching name is never hidden by
#: the cap (30,000 files: ``big/f2`` Tab offers ``f2...``); ``Listing.cut`` says when it cut one all the same.
MAX_NAMES_KEPT = 250_000
#: Names sorted by one C-level sort: each holds the GIL (and the loop's keys) a few ms at most.
SORTED_AT_ONCE = 10_000
#: Entries one menu shows at most.
MAX_REMOTE_COMPLETIONS = 200

#: ``lister(target, folder)``: the names in a folder (``Backend.folder_names``).
Lister = Callable[[str, str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Listing:
    """One folder's names, sorted, folders ending in ``/``: ``hidden`` those starting with a dot."""

    visible: list[str]
    hidden: list[str]
    fetched: float  # time.monotonic()
    cut: bool = False  # names after the first MAX_NAMES_KEPT were left out

    @classmethod
    def of(cls, names: list[str], fetched: float) -> Listing:
        """Run on a thread: one C-level sort of a huge list would hold the GIL (and the loop's keys) for
        tens of ms, so a listing already sorted (ours mostly is) is only checked, and a larger one is
        sorted in parts of ``SORTED_AT_ONCE`` merged by ``heapq.merge``, a Python loop that lets the
        loop run between its steps."""
        if all(a < b for a, b in zip(names, names[1:], strict=False)):
            ordered = names
        elif len(names) <= SORTED_AT_ONCE:
            ordered = sorted(names)
        else:
            parts = [sorted(names[at:at + SORTED_AT_ONCE]) for at in range(0, len(names), SORTED_AT_ONCE)]
            ordered = list(itertools.islice(heapq.merge(*parts), MAX_NAMES_KEPT))
        kept = ordered[:MAX_NAMES_KEPT]
        return cls([n for n in kept if not n.startswith(".")], [n for n in kept if n.startswith(".")], fetched,
                   cut=len(names) > MAX_NAMES_KEPT)

    def matching(self, prefix: str, most: int = MAX_REMOTE_COMPLETIONS) -> list[str]:
        """The first ``most`` names starting with ``prefix``; hidden names only for a prefix starting
        with a dot, as bash's completion and ``ls`` without ``-a``."""
        names = self.hidden if prefix.startswith(".") else self.visible
        start = bisect.bisect_left(names, prefix)  # sorted: those starting with it come together from here
        return [name for name in names[start:start + most] if name.startswith(prefix)]

    def more_than(self, prefix: str, shown: int) -> str | None:
        """What a menu of the first ``shown`` names matching ``prefix`` leaves out, as its last entry's
        meta says it (``"1,800 more: type more"``); None when it shows them all."""
        names = self.hidden if prefix.startswith(".") else self.visible
        start = bisect.bisect_left(names, prefix)
        end = bisect.bisect_left(names, prefix + "\U0010ffff", lo=start)  # past the last starting with it
        if end - start > shown:
            return f"{end - start - shown:,} more: type more"
        if self.cut and end == len(names):  # the names after the kept ones may match too
            return f"folder holds more than {MAX_NAMES_KEPT:,} names: not all offered"
        return None


class RemoteFolders:
    """``names(target, folder)``: the folder's ``Listing`` if known, and a fetch started when it is not
    (or no longer) fresh. ``may_ask()`` says whether to ask at all now (connected); ``on_ready()`` is
    called on the loop after a fetch brought names."""

    def __init__(self, lister: Lister, may_ask: Callable[[], bool] = lambda: True,
                 on_ready: Callable[[], None] = lambda: None, deadline: float = DEADLINE) -> None:
        self._lister = lister
        self._may_ask = may_ask
        self.on_ready = on_ready
        self._deadline = deadline
        self._kept: OrderedDict[tuple[str, str], Listing] = OrderedDict()
        self._asking: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._resting: dict[str, float] = {}  # target -> time.monotonic() until which it is not asked

    def names(self, target: str, folder: str) -> Listing | None:
        """What is known of ``folder`` (relative to ``target``'s folder, "" for that folder) now; None
        when nothing (yet). Called on every keystroke: no I/O here."""
        key = (target, folder)
        listing = self._kept.get(key)
        now = time.monotonic()
        if listing is not None:
            self._kept.move_to_end(key)
        if listing is None or now - listing.fetched >= FRESH_FOR:
            self._ask(key)
        return listing if listing is not None and now - listing.fetched < SHOWN_FOR else None

    def _ask(self, key: tuple[str, str]) -> None:
        """Start asking for ``key``'s folder: one folder of a target at a time (the one typed when that
        answer comes is asked next, ``on_ready``), none of a target resting after a deadline passed."""
        target = key[0]
        if any(asking[0] == target for asking in self._asking) or not self._may_ask() \
                or time.monotonic() < self._resting.get(target, 0.0):
            return
        try:
            task = asyncio.get_running_loop().create_task(self._fetch(key))
        except RuntimeError:  # no loop (completion asked outside the prompt): nothing to ask with
            return
        self._asking[key] = task
        task.add_done_callback(lambda done: self._asking.pop(key) if self._asking.get(key) is done else None)

    async def _fetch(self, key: tuple[str, str]) -> None:
        names: list[str] = []
        try:
            names = await within(self._lister(*key), self._deadline)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self._resting[key[0]] = time.monotonic() + REST_AFTER_DEADLINE
        except Exception:  # gone, refused: no names for a while, and no word about it
            pass
        # Sorting 100,000 names takes tens of ms: not on the loop, where keys are read.
        self._kept[key] = await asyncio.to_thread(Listing.of, names, time.monotonic())
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_FOLDERS:
            self._kept.popitem(last=False)
        self._asking.pop(key, None)  # before on_ready: the folder typed meanwhile may be asked for now
        with contextlib.suppress(Exception):  # the prompt went away meanwhile
            self.on_ready()  # also after none: the line that waited for them waits no more

    def close(self) -> None:
        """Stop the fetches under way (the shell is leaving)."""
        for task in list(self._asking.values()):
            task.cancel()
