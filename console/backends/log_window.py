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
* a window that holds a byte that is not UTF-8, which FLARE's shell can never pass, is the largest
  that can be had (``place(..., largest=True)``): windows never reach back past it again (``floor``),
  the lines written before that byte may come from the log's start (``before_unreadable``), and the
  line holding it is skipped, said so (``UNREADABLE``): neither ends a follow nor stops it advancing.
  Finding that window (and asking again a window that cut a character) is ``log_catch_up``'s.

``end`` is known from the first look when the log fits in ``FIRST_WINDOW`` (a starting job's
log always does), or when the log did not grow while its first window was fetched (its size is
looked at again after it, and the window fetched again if it grew, ``log_catch_up.TRIES`` times at most), else
from the first poll that found the log unchanged (``settle``). Until then a window is placed by its
text alone, and a log of identical lines gives no place to tell new lines by: known from the first
look, they are placed by position. Owns no calls at all: ``log_catch_up`` fetches and looks at a log
for one poll through the calls ``console.backends.nvflare_logs`` makes.
"""

from __future__ import annotations

import enum
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
#: The largest window asked for: a log that outgrew it between two polls has lines skipped.
MAX_WINDOW = 1 << 20

MISSED = "[... some log lines were missed: the log grew faster than it was polled ...]"
UNREADABLE = "[... some log lines were skipped: they hold bytes that are not UTF-8, which FLARE's shell cannot pass ...]"
REWRITTEN = "[... the log was rewritten: following it again from its start ...]"


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
    floor: int = 0  # no window starts before this log position: a byte before it FLARE's shell cannot pass
    largest: bool = False  # the window being placed is the largest that can be had (``place``)
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
            self.seen, self.end, self.pending, self.size, self.floor = b"", 0, b"", 0, 0
            notices.append(REWRITTEN)
        if not self.started:
            want = self.first_window
        elif self.end is not None and size + self.slack <= self.whole_below:
            want = size + self.slack  # the whole log: placed exactly, no second look at its size
        elif self.end is not None:
            want = size - self.end + len(self.seen) + self.slack
        else:
            want = size - self.size + len(self.seen) + len(self.pending) + self.slack
        if self.floor:  # never back to a byte FLARE's shell cannot pass (the log at least ``size`` long)
            want = min(want, size - self.floor)
        return max(min(want, self.max_window), 1), notices

    def settle(self, size: int) -> None:
        """The log is still ``size`` bytes, as at the last look: the last fetch ended exactly there."""
        if self.started and self.end is None and size == self.size:
            self.end = size - len(self.pending)

    def place(self, window: bytes, asked: int, low: int, high: int | None = None, lines: int = 0,
              force: bool = False, largest: bool = False) -> tuple[Placed, list[str]]:
        """The complete new lines in ``window`` (the log's last bytes, ``asked`` were asked for).

        ``low``: the log's size before the fetch; ``high``: after it, when looked at (needed
        for a full window when ``end`` is known, or for the first one: ``Placed.LOOK``). The first
        look gives the last ``lines`` lines (none for 0). ``force`` settles an ambiguity on the place
        that assumes the least growth during the fetch. ``largest``: no larger window can be had (it
        would reach back to a byte FLARE's shell cannot pass): what it does not reach is skipped."""
        self.largest = largest
        whole = len(window) < asked
        if not self.started:
            return self._first(window, whole, asked, lines, low, high, force)
        if not self.seen and self.end is None:  # lost (a first window without one line break)
            return Placed.NEW, self._skip_to(window, whole)
        if self.end is not None and whole:
            start = self.end - len(self.seen)
            if start >= 0 and window[start:self.end + len(self.pending)] == self.seen + self.pending:
                return Placed.NEW, self._advance(window[self.end:])
            self.seen, self.end, self.pending, self.floor = b"", 0, b"", 0
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
                self.seen, self.end, self.pending, self.floor = b"", 0, b"", 0
                return Placed.NEW, [REWRITTEN, *self._advance(window)]
            return self._larger(window, whole, asked)
        if len(found) > 1 and self.end is not None and not force:
            return Placed.AMBIGUOUS, []
        if whole and self.end is None:
            self.end = found[0]
        return Placed.NEW, self._advance(window[found[0]:])

    def before_unreadable(self, start: bytes | None) -> list[str]:
        """The complete lines after the delivered end in ``start`` (the log's first bytes, up to a byte FLARE's
        shell cannot pass), delivered; none unless it continues what was delivered."""
        if start is None or self.end is None or len(start) <= self.end:
            return []
        new = start[self.end:]
        if start[self.end - len(self.seen):self.end] != self.seen or not (
                new.startswith(self.pending) or self.pending.startswith(new)):
            return []
        return self._advance(new[:new.rfind(b"\n") + 1])

    def finish(self) -> list[str]:
        """The unfinished last line, once the log has ended."""
        last, self.pending = self.pending, b""
        if self.end is not None:
            self.end += len(last)
        self.seen = self._keep(self.seen + last)
        return [last.decode("utf-8", "replace").removesuffix("\r")] if last else []

    def first_stored(self, text: str, lines: int) -> list[str]:
        """The first look at a log that is only had whole from a store (``text``; FLARE's server removes a job's
        workspace when the job ends): its last ``lines`` lines, as a first window's; ``place_stored`` of the same
        text later gives nothing more (a follow that resumes it)."""
        window = text.encode("utf-8", "replace")
        self.largest = False
        return self._first(window, True, len(window) + 1, lines, len(window), None, False)[1]

    def place_stored(self, text: str) -> list[str] | None:
        """The lines of ``text`` (a whole stored log) past what was delivered, and the last one;
        None when it does not hold what was delivered (then it is not the log that was followed)."""
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
            return None
        self.end = found[0]
        return self._advance(window[found[0]:]) + self.finish()

    def _first(self, window: bytes, whole: bool, asked: int, lines: int, low: int, high: int | None,
               force: bool) -> tuple[Placed, list[str]]:
        skip = 0 if whole else window.find(b"\n") + 1  # a full window starts inside a line
        cut = window.rfind(b"\n") + 1
        complete = _lines(window[skip:cut]) if cut > skip else []
        if not whole and asked < self.max_window and not self.largest and (cut <= skip or len(complete) < lines):
            return Placed.LARGER, []
        if not whole and high is None:
            return Placed.LOOK, []  # unchanged during the fetch: the window ends at that size exactly
        if not whole and high != low and not force:
            return Placed.AMBIGUOUS, []  # grown: where it ends is not known; fetched again
        self.started = True
        self.seen, self.pending = self._keep(window[:cut]), window[cut:]
        self.end = cut if whole else low - len(window) + cut if high == low else None
        shown = complete[-lines:] if lines > 0 else []
        return Placed.NEW, [UNREADABLE, *shown] if self.largest and len(complete) < lines else shown

    def _larger(self, window: bytes, whole: bool, asked: int) -> tuple[Placed, list[str]]:
        if asked < self.max_window and not self.largest:
            return Placed.LARGER, []
        return Placed.NEW, self._skip_to(window, whole)

    def _skip_to(self, window: bytes, whole: bool) -> list[str]:
        """Carry on from the first line that starts in ``window``: what came before it is lost."""
        skip = 0 if whole else window.find(b"\n") + 1
        self.seen, self.end, self.pending = window[:skip][-self.overlap:], (skip if whole else None), b""
        return [UNREADABLE if self.largest else MISSED, *self._advance(window[skip:])]

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


__all__ = ["FIRST_WINDOW", "LINE_KEEP", "MAX_WINDOW", "WHOLE_BELOW", "MISSED", "OVERLAP", "REWRITTEN", "SLACK",
           "UNREADABLE", "LogCursor", "Placed"]
