"""One poll of a followed log on FLARE: the fetches and looks a ``LogCursor`` needs until a window is placed.

Owns the calls' order and retries (through the three calls it is given: ``Fetch``, ``tail -c N``;
``Look``, ``ls -l``; ``Head``, ``head -c N``; made by ``console.backends.nvflare_logs``): a larger
window (``Placed.LARGER``), a second look at the size (``Placed.LOOK``), fetching again
(``Placed.AMBIGUOUS``, settled on the least growth at ``TRIES``), and the windows FLARE's
shell cannot give. A window that starts or ends inside a multi-byte character (FLARE decodes it
strictly and fails the call: ``CutCharacter``) is asked again a byte larger; when ``CUT_TRIES`` such
windows failed, either the log ends inside a character being written (the last few bytes cannot be
had either: the poll delivers nothing and the next asks again) or the window holds a byte that is
not UTF-8: the largest window that can be had is found by halving while the log keeps its size
(``_readable_window``) and the lines written before that byte are read from the log's start
(``head -c``, when the delivered end is known and the log's start up to there is at most
``HEAD_LIMIT``). Must not decide where a window continues what was delivered (``log_window`` does)
nor make FLARE calls itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from console.backends.log_window import LogCursor, Placed

#: Fetches for one poll before an ambiguity is settled on the least growth (a too small
#: window is asked again four times larger, up to ``log_window.MAX_WINDOW``).
TRIES = 8
#: Windows asked again, each a byte larger, when one cut a multi-byte character, before the poll
#: gives up (nothing delivered, nothing lost: the next poll asks again).
CUT_TRIES = 8
#: The most of a log's start read (``head -c``) for the lines written before a byte FLARE cannot pass
#: (``tail -c`` cannot have them: any window reaching back to them holds that byte).
HEAD_LIMIT = 4 << 20


class CutCharacter(Exception):
    """A window could not be had because it starts or ends inside a multi-byte UTF-8 character, or
    holds a byte that is not UTF-8: FLARE's shell decodes ``tail -c`` output strictly and fails the call
    (``Fetch`` raises it). A window a byte larger starts a byte earlier, on the character's first byte
    at most 3 bytes on; an end cut by a write under way is whole once the write is; a byte that is not
    UTF-8 stays in every window reaching back to it."""


#: The log's last N bytes (``tail -c N``), or None when the log is gone; raises CutCharacter when
#: the window cuts a multi-byte character.
Fetch = Callable[[int], Awaitable["bytes | None"]]
#: The log's size (``ls -l``), or None when it is gone.
Look = Callable[[], Awaitable["int | None"]]
#: The log's first N bytes (``head -c N``), as ``Fetch``.
Head = Callable[[int], Awaitable["bytes | None"]]


async def _head_before(cursor: LogCursor, head: Head, before: int) -> bytes | None:
    """The log's first bytes up to ``before`` (a byte FLARE cannot pass is at or after it), a few bytes
    fewer when a character is cut; None when they cannot be had or are not worth reading."""
    if cursor.end is None or not cursor.end < before <= HEAD_LIMIT:
        return None
    for count in range(before, max(before - 4, cursor.end), -1):
        try:
            return await head(count)
        except CutCharacter:  # a character cut at the end, or another such byte before: nothing more
            continue
    return None


class _Gone(Exception):
    """The log vanished while its largest readable window was looked for."""


async def _readable_window(fetch: Fetch, look: Look, asked: int) -> tuple[int, bytes, int, bool] | None:
    """After ``CUT_TRIES`` failed windows: looked at while the log stays the same size throughout (so that
    no write under way cut a window's end meanwhile), the window of about ``asked`` bytes (a start inside
    a character: 1-3 bytes more), or, when the log holds a byte FLARE's shell cannot pass, the largest
    window that can be had (halving between what could and could not be had, each try also 1-3 bytes
    shorter). Returns (its size, its bytes, the log's size, whether it stops short at such a byte);
    None when the log grew meanwhile or ends inside a character: not known, the next poll asks again.
    Raises ``_Gone`` when the log vanished."""

    async def near(sizes: range) -> tuple[int, bytes] | None:
        for tried in sizes:
            if tried < 1:
                break
            try:
                window = await fetch(tried)
            except CutCharacter:
                continue
            if window is None:
                raise _Gone()
            return tried, window
        return None

    size = await look()
    if size is None:
        raise _Gone()
    best = await near(range(min(4, asked), 0, -1))  # the log's last character
    whole = None if best is None else await near(range(asked, asked + 4))
    if best is None or whole is not None:
        found = None if whole is None else (*whole, size, False)
    else:
        good, bad = best[0], asked  # a window of ``good`` bytes was had; of ``bad``, not
        while bad - good > 4:
            mid = (good + bad + 1) // 2
            got = await near(range(mid, max(mid - 4, good), -1))
            if got is None:
                bad = max(mid - 3, good + 1)
            else:
                best, good = got, got[0]
        best = await near(range(bad - 1, good, -1)) or best  # one by one: a byte more may be a line's start
        found = (*best, size, True)
    if found is None or await look() != size:
        return None
    return found


async def catch_up(cursor: LogCursor, size: int, fetch: Fetch, look: Look, lines: int = 0,
                   head: Head | None = None) -> list[str] | None:
    """The lines written since the last poll of a log now ``size`` bytes long (looked at just
    before), notices first; the first poll gives the last ``lines`` lines. None when the log
    vanished meanwhile (nothing delivered: the next poll tries again). A window that cuts a
    character is asked again a byte larger, ``CUT_TRIES`` times at most; then the largest window
    that can be had is placed (a byte that is not UTF-8 is left behind for good: ``floor``), or,
    when not even the log's last bytes can be had, the poll delivers nothing and leaves the cursor
    as it was: neither a cut character nor a byte FLARE cannot pass ends a follow or stalls it. ``head``
    reads the lines written before such a byte from the log's start (``HEAD_LIMIT``)."""
    if cursor.started and size == cursor.size:
        cursor.settle(size)
        return []
    asked, notices = cursor.ask(size)
    low = size  # the log was at least this long at every later fetch
    attempt = cuts = 0
    largest = False
    while True:  # ends: LARGER only below max_window, AMBIGUOUS settled at the last try (fetched again before)
        attempt += 1
        before = low
        try:
            window = await fetch(asked)
        except CutCharacter:
            cuts += 1
            if cuts < CUT_TRIES:
                asked += 1
                continue
            try:
                readable = await _readable_window(fetch, look, asked)
            except _Gone:
                return None
            if readable is None:
                return []
            asked, window, before, largest = readable
            low = before  # the window ends there exactly: the log's size throughout
            cuts = 0
            if largest:
                cursor.floor = max(cursor.floor, before - asked)  # the window starts right after such a byte
                if head is not None:  # the byte (a sequence of 3 at most) starts at ``before - asked - 3`` or later
                    notices += cursor.before_unreadable(await _head_before(cursor, head, before - asked - 3))
        if window is None:
            return None
        largest = largest or (cursor.floor > 0 and asked >= before - cursor.floor)
        placed, new = cursor.place(window, asked, before, lines=lines, largest=largest)
        if placed is Placed.LOOK:
            high = await look()
            if high is None:
                return None
            placed, new = cursor.place(window, asked, before, high, lines, force=attempt >= TRIES, largest=largest)
            low = high
        if placed is Placed.NEW:
            cursor.size = before  # at most what the window holds: an unchanged size later means exactly that
            return notices + new
        if placed is Placed.LARGER:
            asked = min(asked * 4, cursor.max_window, max(low - cursor.floor, 1) if cursor.floor else cursor.max_window)
