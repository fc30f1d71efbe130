"""Where a window fetched from the end of a growing log continues what was delivered: no I/O.

NVIDIA FLARE's shell gives two views of a job's ``log.txt``: its size (``ls -l``) and its last
K bytes (``tail -c K``), each one round trip, and the log grows between them. A ``LogCursor``
remembers what was delivered of one log: its last ``OVERLAP`` bytes, reaching back to the start
of the last delivered line (``seen``, always ending at a line break), its exact length when known
(``end``) and the unfinished line after it (``pending``). ``LogCursor.place`` finds ``seen``
followed by ``pending`` in a new window (the log only grows, so both are in it, in that order) and
hands out the complete lines after it, each line of the log exactly once and in order:

* a window shorter than asked is the whole log, so the delivered end sits at ``end`` exactly
  (a log under ``WHOLE_BELOW`` bytes is asked for whole: no second look at its size);
* a full window may start anywhere: with ``end`` known, the size looked at after the fetch
  (``Placed.LOOK``) says whether the window surely reaches back past ``seen``, and the
  delivered end is where ``seen`` occurs with the window's end between the sizes before and
  after the fetch (``Placed.AMBIGUOUS`` when several places fit: fetch again); with ``end``
  unknown, where ``seen`` occurs last (the least growth) of the places a whole log's window
  allows between the sizes looked at before and after the last placed fetch. Lines whose tails
  repeat (two lines ending in the same characters, as a window cut inside a character makes
  ``seen`` start mid-line) are told apart by their starts (a FLARE log line's time stamp), which
  ``seen`` holds, and by ``pending``;
* a window that does not reach back to ``seen`` asks for a larger one (``Placed.LARGER``)
  instead of guessing; only past ``MAX_WINDOW`` bytes are lines skipped, and said so;
* a log that shrank or no longer holds what was delivered was rewritten: followed anew from
  its start, and said so;
* a window that starts or ends inside a multi-byte character (FLARE decodes it strictly and
  fails the call: ``CutCharacter``) is asked again a byte larger; a poll that keeps failing
  delivers nothing and the next asks again: a cut character never ends a follow.

``end`` is known from the first look when the log fits in ``FIRST_WINDOW`` (a starting job's
log always does), else from the first poll that found the log unchanged (``settle``). Owns no
FLARE calls: ``console.backends.nvflare_logs`` makes them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Bytes of the delivered log kept to find where a new window continues it.
OVERLAP = 2048
#: Bytes of the last delivered line kept beyond ``OVERLAP`` so that ``seen`` holds the line's start.
LINE_KEEP = 16 * 1024
#: Bytes asked beyond what the sizes say, for what the log grows by during the fetch itself.
SLACK = 4096
#: A log up to this long is fetched whole at each poll: one call less than placing a part of it.
WHOLE_BELOW = 32 * 1024
#: Bytes of the first look (the last ``-n`` lines are taken from it; asked again larger if short).
FIRST_WINDOW = 64 * 1024
#: Fetches for one poll before an ambiguity is settled on the least growth (a too small
#: window is asked again four times larger, up to ``MAX_WINDOW``).
TRIES = 8
#: The largest window asked for: a log that outgrew it between two polls has lines skipped.
MAX_WINDOW = 1 << 20

#: Windows asked again, each a byte larger, when one cut a multi-byte character, before the poll
#: gives up (nothing delivered, nothing lost: the next poll asks again).
CUT_TRIES = 8

MISSED = "[... some log lines were missed: the log grew faster than it was polled ...]"
REWRITTEN = "[... the log was rewritten: following it again from its start ...]"


class CutCharacter(Exception):
    """A window could not be had because it starts or ends inside a multi-byte UTF-8 character:
    FLARE's shell decodes ``tail -c`` output strictly and fails the call (``Fetch`` raises it).
    A window a byte larger starts a byte earlier, on the character's first byte at most 3 bytes on;
    an end cut by a write under way is whole once the write is."""


class Placed(enum.Enum):
    NEW = "new"  # lines (maybe none) were placed and the cursor moved past them
    LARGER = "larger"  # the window does not reach back to what was delivered: fetch a larger one
    LOOK = "look"  # the log's size after the fetch is needed: place the same window again with it
    AMBIGUOUS = "ambiguous"  # what was delivered occurs at several possible places: fetch again


def _lines(data: bytes) -> list[str]:
    """Complete lines of ``data`` (which ends at a line break), as text; a CR before LF is dropped."""
    return [line.removesuffix("\r") for line in data.decode("utf-8", "replace").split("\n")[:-1]]


def _occurrences(window: bytes, seen: bytes, pending: bytes = b"") -> list[int]:
    """Where in ``window`` each occurrence of ``seen`` followed by ``pending`` has ``seen`` end,
    last first."""
    found, stop, anchor = [], len(window), seen + pending
    while (at := window.rfind(anchor, 0, stop)) >= 0:
        found.append(at + len(seen))
        stop = at + len(anchor) - 1
    return found


@dataclass
class LogCursor:
    """What was delivered of one log (see the module docstring); starts before the first look."""

    seen: bytes = b""
    end: int | None = None
    pending: bytes = b""
    size: int = -1  # the log's size at the last look; -1: never looked
    started: bool = False
    overlap: int = OVERLAP
    slack: int = SLACK
    first_window: int = FIRST_WINDOW
    whole_below: int = WHOLE_BELOW
    max_window: int = MAX_WINDOW

    def ask(self, size: int) -> tuple[int, list[str]]:
        """Bytes to fetch from the end of the log, now ``size`` bytes long, and notices to show first.

        A log shorter than what was delivered was rewritten: the cursor starts again (the
        notice says so) and the whole new log is asked for."""
        notices: list[str] = []
        known = self.end if self.end is not None else self.size - len(self.pending)
        if self.started and size < known:
            self.seen, self.end, self.pending, self.size = b"", 0, b"", 0
            notices.append(REWRITTEN)
        if not self.started:
            want = self.first_window
        elif self.end is not None and size + self.slack <= self.whole_below:
            want = size + self.slack  # the whole log: placed exactly, no second look at its size
        elif self.end is not None:
            want = size - self.end + len(self.seen) + self.slack
        else:
            want = size - self.size + len(self.seen) + len(self.pending) + self.slack
        return min(max(want, 1), self.max_window), notices

    def settle(self, size: int) -> None:
        """The log is still ``size`` bytes, as at the last look: the last fetch ended exactly there."""
        if self.started and self.end is None and size == self.size:
            self.end = size - len(self.pending)

    def place(self, window: bytes, asked: int, low: int, high: int | None = None, lines: int = 0,
              force: bool = False) -> tuple[Placed, list[str]]:
        """The complete new lines in ``window`` (the log's last bytes, ``asked`` were asked for).

        ``low``: the log's size before the fetch; ``high``: after it, when looked at (needed
        for a full window when ``end`` is known: ``Placed.LOOK``). The first look gives the
        last ``lines`` lines (none for 0). ``force`` settles an ambiguity on the place that
        assumes the least growth during the fetch."""
        whole = len(window) < asked
        if not self.started:
            return self._first(window, whole, asked, lines)
        if not self.seen and self.end is None:  # lost (a first window without one line break)
            return Placed.NEW, self._skip_to(window, whole)
        if self.end is not None and whole:
            start = self.end - len(self.seen)
            if start >= 0 and window[start:self.end + len(self.pending)] == self.seen + self.pending:
                return Placed.NEW, self._advance(window[self.end:])
            self.seen, self.end, self.pending = b"", 0, b""
            return Placed.NEW, [REWRITTEN, *self._advance(window)]
        if not self.seen:  # nothing delivered yet and the start is not in the window
            return self._larger(window, whole, asked)
        if self.end is not None and high is None:
            return Placed.LOOK, []
        found = _occurrences(window, self.seen, self.pending)
        if self.end is None and whole:
            # the window is the whole log: the last placed fetch ended (at seen + pending) when the
            # log was between the size looked at before it and the size looked at before this one
            found = [at for at in found if self.size <= at + len(self.pending) <= low]
        if self.end is not None and high is not None:
            if asked < high - self.end + len(self.seen):  # it may start after the delivered end
                return self._larger(window, whole, asked)
            # the window is the log's bytes up to T = end + asked - at, fetched between low and high
            found = [at for at in found if low <= self.end + asked - at <= high]
        if not found:
            if whole:
                self.seen, self.end, self.pending = b"", 0, b""
                return Placed.NEW, [REWRITTEN, *self._advance(window)]
            return self._larger(window, whole, asked)
        if len(found) > 1 and self.end is not None and not force:
            return Placed.AMBIGUOUS, []
        if whole and self.end is None:
            self.end = found[0]
        return Placed.NEW, self._advance(window[found[0]:])

    def finish(self) -> list[str]:
        """The unfinished last line, once the log has ended."""
        last, self.pending = self.pending, b""
        if self.end is not None:
            self.end += len(last)
        self.seen = self._keep(self.seen + last)
        return [last.decode("utf-8", "replace").removesuffix("\r")] if last else []

    def place_stored(self, text: str) -> list[str]:
        """The lines of ``text`` (a whole stored log) past what was delivered, and the last one;
        none when it does not hold what was delivered (then it is not the log that was followed)."""
        window = text.encode("utf-8", "replace")
        if not self.seen:
            found = [self.end] if self.end is not None and self.end <= len(window) and \
                window[self.end:].startswith(self.pending) else []
        elif self.end is not None and window[max(self.end - len(self.seen), 0):self.end + len(self.pending)] == \
                self.seen + self.pending:
            found = [self.end]
        else:
            found = _occurrences(window, self.seen, self.pending)
        if not found:
            return []
        self.end = found[0]
        return self._advance(window[found[0]:]) + self.finish()

    def _first(self, window: bytes, whole: bool, asked: int, lines: int) -> tuple[Placed, list[str]]:
        skip = 0 if whole else window.find(b"\n") + 1  # a full window starts inside a line
        cut = window.rfind(b"\n") + 1
        complete = _lines(window[skip:cut]) if cut > skip else []
        if not whole and asked < self.max_window and (cut <= skip or len(complete) < lines):
            return Placed.LARGER, []
        self.started = True
        self.seen, self.pending = self._keep(window[:cut]), window[cut:]
        self.end = cut if whole else None
        return Placed.NEW, complete[-lines:] if lines > 0 else []

    def _larger(self, window: bytes, whole: bool, asked: int) -> tuple[Placed, list[str]]:
        if asked < self.max_window:
            return Placed.LARGER, []
        return Placed.NEW, self._skip_to(window, whole)

    def _skip_to(self, window: bytes, whole: bool) -> list[str]:
        """Carry on from the first line that starts in ``window``: what came before it is lost."""
        skip = 0 if whole else window.find(b"\n") + 1
        self.seen, self.end, self.pending = window[:skip][-self.overlap:], (skip if whole else None), b""
        return [MISSED, *self._advance(window[skip:])]

    def _advance(self, new: bytes) -> list[str]:
        """Deliver the complete lines of ``new`` (the log right after the delivered end)."""
        cut = new.rfind(b"\n") + 1
        complete, self.pending = new[:cut], new[cut:]
        self.seen = self._keep(self.seen + complete)
        if self.end is not None:
            self.end += cut
        return _lines(complete)

    def _keep(self, delivered: bytes) -> bytes:
        """What of ``delivered`` (the log up to the delivered end) is kept as ``seen``: its last
        ``overlap`` bytes, reaching back to the start of its last line (up to ``LINE_KEEP`` bytes
        more), so that lines with the same tail, or ``seen`` starting inside a character, are
        still told apart by the start of the line (all of ``delivered`` when it holds no start)."""
        start = delivered.rfind(b"\n", 0, len(delivered) - 1) + 1
        return delivered[-max(self.overlap, min(len(delivered) - start, self.overlap + LINE_KEEP)):]


#: The log's last N bytes (``tail -c N``), or None when the log is gone; raises CutCharacter when
#: the window cuts a multi-byte character.
Fetch = Callable[[int], Awaitable["bytes | None"]]
#: The log's size (``ls -l``), or None when it is gone.
Look = Callable[[], Awaitable["int | None"]]


async def catch_up(cursor: LogCursor, size: int, fetch: Fetch, look: Look, lines: int = 0) -> list[str] | None:
    """The lines written since the last poll of a log now ``size`` bytes long (looked at just
    before), notices first; the first poll gives the last ``lines`` lines. None when the log
    vanished meanwhile (nothing delivered: the next poll tries again). A window that cuts a
    character is asked again a byte larger, ``CUT_TRIES`` times at most; then the poll delivers
    nothing and leaves the cursor as it was, so a cut character never ends a follow."""
    if cursor.started and size == cursor.size:
        cursor.settle(size)
        return []
    asked, notices = cursor.ask(size)
    low = size  # the log was at least this long at every later fetch
    attempt = cuts = 0
    while True:  # ends: LARGER only below max_window, AMBIGUOUS settled at the last try (fetched again before)
        attempt += 1
        before = low
        try:
            window = await fetch(asked)
        except CutCharacter:
            cuts += 1
            if cuts >= CUT_TRIES:
                return []
            asked += 1
            continue
        if window is None:
            return None
        placed, new = cursor.place(window, asked, before, lines=lines)
        if placed is Placed.LOOK:
            high = await look()
            if high is None:
                return None
            placed, new = cursor.place(window, asked, before, high, lines, force=attempt >= TRIES)
            low = high
        if placed is Placed.NEW:
            cursor.size = before  # at most what the window holds: an unchanged size later means exactly that
            return notices + new
        if placed is Placed.LARGER:
            asked = min(asked * 4, cursor.max_window)


__all__ = ["CUT_TRIES", "FIRST_WINDOW", "LINE_KEEP", "MAX_WINDOW", "WHOLE_BELOW", "MISSED", "OVERLAP", "REWRITTEN", "SLACK",
           "CutCharacter", "Fetch", "LogCursor", "Look", "Placed", "catch_up"]
