"""Placing windows of a growing log (``console.backends.log_window``, ``log_catch_up``; FLARE's follow): no FLARE.

A simulated ``log.txt`` grows by writes that land between any two of the poller's looks
(``ls -l``: its size) and fetches (``tail -c N``: its last N bytes), as on a busy FLARE site;
whatever the timing, the lines followed must be the log's lines, each exactly once, in order.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.backends.log_catch_up import CUT_TRIES, CutCharacter, catch_up
from console.backends.log_window import MISSED, REWRITTEN, UNREADABLE, LogCursor, Placed
from console.backends.nvflare_logs import is_cut_character, tail_window

# Lines that repeat (the same start-up line twice, empty lines, a long line, a CR): where the
# delivered end sits must come from positions, not from the text being unique.
REPEATING = st.sampled_from([b"a", b"bb", b"", b"Register blob CB", b"x" * 70, b"caf\xc3\xa9 \r"])


class GrowingLog:
    """A log file written by ``writes`` (byte chunks cut anywhere), some of them before each look."""

    def __init__(self, writes: list[bytes], data: st.DataObject) -> None:
        self.content = b""
        self.writes = list(writes)
        self.data = data
        self.fetched_at: list[int] = []  # the log's length at each fetch

    def write_some(self) -> None:
        for _ in range(self.data.draw(st.integers(0, 3), label="writes")):
            if self.writes:
                self.content += self.writes.pop(0)

    async def look(self) -> int:
        self.write_some()
        return len(self.content)

    async def fetch(self, size: int) -> bytes:
        self.write_some()
        self.fetched_at.append(len(self.content))
        return self.content[-size:]


def as_writes(data: st.DataObject, lines: list[bytes], end_with_break: bool) -> list[bytes]:
    """The log's bytes as writes cut at drawn places (inside lines and characters too)."""
    text = b"\n".join(lines) + (b"\n" if end_with_break and lines else b"")
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(text)), max_size=12), label="cuts")))
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


class StrictLog(GrowingLog):
    """FLARE's shell: ``tail -c`` output decoded strictly, so a window that starts or ends inside a
    multi-byte character fails the call (as the site's ``exception_occurred: UnicodeDecodeError``)."""

    cuts = 0

    async def fetch(self, size: int) -> bytes:
        window = await super().fetch(size)
        try:
            window.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.cuts += 1
            tail_window(f"exception_occurred: UnicodeDecodeError: {exc}")  # raises CutCharacter
        return window

    async def head(self, size: int) -> bytes:
        """``head -c``: the log's first bytes, decoded as strictly."""
        self.write_some()
        start = self.content[:size]
        try:
            start.decode("utf-8")
        except UnicodeDecodeError as exc:
            tail_window(f"exception_occurred: UnicodeDecodeError: {exc}")
        return start


def follow(log: GrowingLog, cursor: LogCursor, lines: int) -> tuple[list[str], int]:
    """Poll until the writes are done and the log stayed the same twice; the lines followed, and
    how many complete lines the log had at the first look (the last ``lines`` of them come first)."""

    async def run() -> tuple[list[str], int]:
        out: list[str] = []
        first = -1
        quiet = 0
        while quiet < 2:
            size = await log.look()
            new = await catch_up(cursor, size, log.fetch, log.look, lines, getattr(log, "head", None))
            assert new is not None
            if first < 0 and cursor.started:
                first = log.content[:log.fetched_at[-1]].count(b"\n")
            out += new
            quiet = quiet + 1 if not log.writes and size == len(log.content) and not new else 0
        return out + cursor.finish(), first

    return asyncio.run(run())


def expected(content: bytes, first: int, lines: int) -> list[str]:
    every = [line.decode("utf-8", "replace").removesuffix("\r") for line in content.split(b"\n")]
    if every and every[-1] == "":
        every.pop()  # the break ending the last line
    return every[max(first - lines, 0) if lines > 0 else first:]


@settings(deadline=None)
@given(data=st.data(), lines=st.lists(REPEATING, max_size=40), end_with_break=st.booleans(),
       backlog=st.integers(0, 6), overlap=st.integers(1, 40), slack=st.integers(0, 20))
def test_repeating_lines_are_followed_once_whatever_the_timing(data, lines, end_with_break, backlog, overlap,
                                                               slack) -> None:
    """With the log's length known from the first look (it fits in the first window), every line
    is placed by position: repeated lines, a tiny overlap, no slack and growth between every
    look and fetch never repeat or drop one."""
    log = GrowingLog(as_writes(data, lines, end_with_break), data)
    whole_below = data.draw(st.sampled_from([0, 64, 1 << 16]), label="whole_below")
    followed, first = follow(log, LogCursor(overlap=overlap, slack=slack, first_window=1 << 16,
                                            whole_below=whole_below), backlog)
    assert followed == expected(log.content, first, backlog)


@settings(deadline=None)
@given(data=st.data(), count=st.integers(0, 60), end_with_break=st.booleans(), backlog=st.integers(0, 6),
       first_window=st.integers(1, 64), slack=st.integers(0, 20))
def test_a_log_larger_than_the_first_window_is_followed_once(data, count, end_with_break, backlog, first_window,
                                                             slack) -> None:
    """A first window smaller than the log (its length unknown until a poll finds it unchanged):
    distinct lines, as a real log's time stamps make them, are placed by their text."""
    text = [f"{i:03d} line".encode() for i in range(count)]
    log = GrowingLog(as_writes(data, text, end_with_break), data)
    followed, first = follow(log, LogCursor(overlap=24, slack=slack, first_window=first_window), backlog)
    assert followed == expected(log.content, first, backlog)


# Characters of 2, 3 and 4 bytes: any byte count from the end may land inside one.
MULTIBYTE = st.sampled_from(["é", "日本語", "🙂", "naïve café", "x", "Ω≈ç√", ""])


@settings(deadline=None)
@given(data=st.data(), lines=st.lists(st.lists(MULTIBYTE, max_size=8).map("".join), max_size=40),
       end_with_break=st.booleans(), backlog=st.integers(0, 6), first_window=st.sampled_from([5, 17, 1 << 16]),
       slack=st.integers(0, 7))
def test_a_window_that_cuts_a_character_never_ends_the_follow(data, lines, end_with_break, backlog, first_window,
                                                              slack) -> None:
    """Windows whose first or last bytes cut a multi-byte character fail as FLARE's strict decode
    does; writes also land inside characters. The follow goes on: each line once, in order."""
    text = [f"{i:03d} {line}".encode() for i, line in enumerate(lines)]
    log = StrictLog(as_writes(data, text, end_with_break), data)
    followed, first = follow(log, LogCursor(overlap=24, slack=slack, first_window=first_window,
                                            whole_below=data.draw(st.sampled_from([0, 1 << 16]))), backlog)
    assert followed == expected(log.content, first, backlog)


class QuietStart(GrowingLog):
    """A log that does not grow while the follow's first poll runs (its first window's end is then known
    exactly, as FLARE's ``ls -l`` after the fetch shows), and grows anywhere after it."""

    def __init__(self, writes: list[bytes], data: st.DataObject, cursor: LogCursor) -> None:
        super().__init__(writes, data)
        self.cursor = cursor

    def write_some(self) -> None:
        if self.cursor.started:
            super().write_some()


@settings(deadline=None)
@given(data=st.data(), lines=st.lists(REPEATING, min_size=1, max_size=20), more=st.lists(REPEATING, max_size=60),
       backlog=st.integers(0, 6), first_window=st.integers(1, 64), start=st.integers(0, 40))
def test_identical_lines_in_a_log_larger_than_the_first_window_are_followed_once(data, lines, more, backlog,
                                                                                  first_window, start) -> None:
    """Lines that repeat (a log of one line over and over) in a log larger than the first window: placed
    by position, not by text (which gives no place to tell them by): each line once, whatever the timing
    after the first poll. Before, the follow stopped advancing while the log grew, and lost what it wrote."""
    text = b"\n".join(lines) + b"\n"
    head = text * (1 + start // max(len(text), 1))  # some of the log is there before the follow starts
    cursor = LogCursor(overlap=8, slack=0, first_window=first_window, whole_below=0)
    log = QuietStart(as_writes(data, more, True), data, cursor)
    log.content = head
    followed, first = follow(log, cursor, backlog)
    assert followed == expected(log.content, first, backlog)


def test_a_growing_log_of_one_line_over_64_kib_is_followed() -> None:
    """The case as found: one line repeated past FIRST_WINDOW, three more written before each poll."""
    line = b"2026-01-01 12:00:00 INFO the same line again\n"
    content = [line * 2000]

    async def look() -> int:
        return len(content[0])

    async def fetch(size: int) -> bytes:
        return content[0][-size:]

    async def run() -> list[int]:
        cursor = LogCursor()
        counts = [len(await catch_up(cursor, await look(), fetch, look, 3) or [])]
        for _ in range(4):
            content[0] += line * 3
            counts.append(len(await catch_up(cursor, await look(), fetch, look, 3) or []))
        return counts

    assert asyncio.run(run()) == [3, 3, 3, 3, 3]  # was [3, 0, 0, 0, 0]


#: Bytes that are not UTF-8 anywhere (FLARE's shell cannot decode a window holding one).
BAD = st.sampled_from([b"\xff", b"\xc3(", b"\xe6\x97", b"\x80\x80", b"\xf0\x9f\x99"])


@settings(deadline=None)
@given(data=st.data(), lines=st.lists(st.tuples(st.lists(MULTIBYTE, max_size=4).map("".join),
                                                st.none() | BAD), max_size=30),
       backlog=st.integers(0, 6), first_window=st.sampled_from([5, 17, 64, 1 << 16]), slack=st.integers(0, 7))
def test_a_byte_that_is_not_utf8_never_stops_the_follow(data, lines, backlog, first_window, slack) -> None:
    """Lines holding bytes that are not UTF-8: every window reaching back to one fails, as FLARE's strict
    decode does (before, each poll failed and the follow stopped advancing for good). Now what cannot be
    read is skipped, said so: the lines followed are the log's, in order, none twice, and every line
    written after the last unreadable one is followed."""
    text = [f"{i:03d} {line}".encode() + (bad or b"") for i, (line, bad) in enumerate(lines)]
    log = StrictLog(as_writes(data, text, True), data)
    cursor = LogCursor(overlap=24, slack=slack, first_window=first_window, whole_below=data.draw(
        st.sampled_from([0, 1 << 16]), label="whole_below"))
    followed, first = follow(log, cursor, backlog)
    shown = [line for line in followed if line != UNREADABLE]
    numbers = [int(line[:3]) for line in shown]
    assert numbers == sorted(set(numbers)), followed  # in order, none twice
    unreadable = [i for i, (_, bad) in enumerate(lines) if bad]
    for number, line in zip(numbers, shown, strict=True):
        assert number not in unreadable and line == text[number].decode(), followed
    last_bad = max(unreadable, default=-1)
    assert set(range(max(last_bad + 1, first), len(lines))) <= set(numbers), followed
    assert (UNREADABLE in followed) <= bool(unreadable)


def test_lines_written_before_a_byte_flare_cannot_pass_are_read_from_the_logs_start() -> None:
    """The lines between what was delivered and the line holding such a byte are in no window ``tail -c``
    can pass (each reaches back to the byte): ``head -c`` reads them; only that line is skipped."""
    content = [b"".join(f"{i:03d} line\n".encode() for i in range(3))]
    fetched: list[str] = []

    async def look() -> int:
        return len(content[0])

    async def strict(data: bytes) -> bytes:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            tail_window(f"exception_occurred: UnicodeDecodeError: {exc}")
        return data

    async def fetch(size: int) -> bytes:
        fetched.append("tail")
        return await strict(content[0][-size:])

    async def head(size: int) -> bytes:
        fetched.append("head")
        return await strict(content[0][:size])

    async def run() -> list[list[str] | None]:
        cursor = LogCursor()
        polls = [await catch_up(cursor, await look(), fetch, look, 5, head)]
        content[0] += b"003 before\n004 before\n005 holds \xff here\n006 after\n"
        polls.append(await catch_up(cursor, await look(), fetch, look, 5, head))
        content[0] += b"007 later\n"
        polls.append(await catch_up(cursor, await look(), fetch, look, 5, head))
        return polls

    polls = asyncio.run(run())
    assert polls == [["000 line", "001 line", "002 line"],
                     ["003 before", "004 before", UNREADABLE, "006 after"], ["007 later"]]
    assert fetched.count("head") == 1


class Scripted:
    """Stands for hypothesis's ``data`` in a replayed case: the draws in order, then 0."""

    def __init__(self, draws: list[int]) -> None:
        self.draws = list(draws)

    def draw(self, strategy: object, label: str | None = None) -> int:
        return self.draws.pop(0) if self.draws else 0


def replay(lines: list[str], cuts: list[int], draws: list[int], first_window: int,
           overlap: int = 24) -> tuple[list[str], list[str]]:
    """One follow of a strict log written in pieces ending at ``cuts``, ``draws[i]`` pieces landing
    before the i-th look or fetch; the lines followed (no backlog) and the lines expected."""
    text = b"\n".join(f"{i:03d} {line}".encode() for i, line in enumerate(lines))
    edges = [0, *cuts, len(text)]
    log = StrictLog([text[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a], Scripted(draws))
    followed, first = follow(log, LogCursor(overlap=overlap, slack=0, first_window=first_window, whole_below=0), 0)
    return followed, expected(log.content, first, 0)


def test_a_line_ending_like_the_delivered_one_is_not_taken_for_it() -> None:
    """Hypothesis's case: the first window ends inside line 004, whose tail is line 003's, and the log
    grew during its every fetch (so where it ends stays unknown); the whole log fetched next holds the
    delivered tail twice. Placing it at the last occurrence lost line 004: the unfinished line after it
    places it. (Found by a replayed follow before the first window's end was looked at after its fetch.)"""
    lines = ["ééé日本語日本語", "", "", "ééΩ≈ç√🙂🙂日本語", "Ω≈ç√🙂🙂日本語", ""]
    text = b"\n".join(f"{i:03d} {line}".encode() for i, line in enumerate(lines))
    first_end = text.index(b"004 ") + 6  # inside line 004
    asked = first_end - text.index(b"002") + 2
    cursor = LogCursor(overlap=24, slack=0, first_window=5, whole_below=0)
    assert cursor.place(text[first_end - asked:first_end], asked, first_end - 3, first_end, force=True) == (
        Placed.NEW, [])
    assert cursor.end is None
    cursor.size = first_end - 3
    assert cursor.place(text, len(text) + 1, len(text)) == (Placed.NEW, ["004 Ω≈ç√🙂🙂日本語"])
    assert cursor.finish() == ["005 "]


@pytest.mark.parametrize("first_cut", [5, 15])
def test_lines_with_the_same_tail_are_told_apart_by_their_starts(first_cut: int) -> None:
    """Its neighbour: the first window (not the whole log) ends at a line break, nothing unfinished
    after it, and the log grew during its fetch (from ``first_cut`` bytes), every time it was asked,
    so its length stays unknown; the lines written next end like the delivered one for more than the
    overlap: none is skipped."""
    same = "Ω≈ç√🙂🙂日本語日本語"
    lines = ["start", f"x{same}", same, f"é{same}", same, "end"]
    text = "\n".join(f"{i:03d} {line}" for i, line in enumerate(lines)).encode()
    first_two = len("\n".join(f"{i:03d} {line}" for i, line in enumerate(lines[:2])).encode()) + 1
    cursor = LogCursor(overlap=8, slack=0, first_window=45, whole_below=0)
    assert cursor.place(text[:first_two][-45:], 45, first_cut, first_two, force=True) == (Placed.NEW, [])
    assert cursor.end is None
    cursor.size = first_cut
    asked, _ = cursor.ask(len(text))
    placed, new = cursor.place(text[-asked:], asked, len(text))
    assert (placed, new + cursor.finish()) == (Placed.NEW, ["002 " + same, "003 é" + same, "004 " + same, "005 end"])


def test_a_poll_that_keeps_cutting_characters_delivers_nothing_and_the_next_goes_on() -> None:
    """Every window cut (a log of 3-byte characters, fetched as it is written): the poll gives up
    after CUT_TRIES windows, each a byte larger, and the log's last 4 to 1 bytes (a window that holds
    a byte FLARE cannot pass would have had them), and leaves the cursor; the next poll places them."""
    content = "".join(f"{i:02d} 日本語日本語\n" for i in range(30)).encode()
    asked_for: list[int] = []

    async def always_cut(size: int) -> bytes:
        asked_for.append(size)
        raise CutCharacter("exception_occurred: UnicodeDecodeError")

    async def whole(size: int) -> bytes:
        return content[-size:]

    async def look() -> int:
        return len(content)

    cursor = LogCursor(first_window=40)
    assert asyncio.run(catch_up(cursor, len(content), always_cut, look, 2)) == []
    assert asked_for[:CUT_TRIES] == list(range(asked_for[0], asked_for[0] + CUT_TRIES))
    assert asked_for[CUT_TRIES:] == [4, 3, 2, 1]  # not even the last character: the end is being written
    assert not cursor.started
    assert asyncio.run(catch_up(cursor, len(content), whole, look, 2)) == ["28 日本語日本語", "29 日本語日本語"]


def test_flare_s_undecodable_tail_is_told_from_log_text() -> None:
    """A site answers FLARE's decode failure as text, the server fails the call (secure mode names
    only the class); log lines that mention the error are log text."""
    for reply in ("exception_occurred: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xa9 in position 0",
                  "exception_occurred: <class 'UnicodeDecodeError'>"):
        with pytest.raises(CutCharacter):
            tail_window(reply)
    assert tail_window("2026 INFO caught UnicodeDecodeError in my data\n") == \
        b"2026 INFO caught UnicodeDecodeError in my data\n"
    assert tail_window("tail: cannot open 'x/log.txt' for reading: No such file or directory") is None
    assert is_cut_character(RuntimeError("Exception Occurred: UnicodeDecodeError: 'utf-8' codec can't decode"))
    assert not is_cut_character(RuntimeError("no such job"))


def test_a_rewritten_log_is_followed_again_from_its_start() -> None:
    """A log that shrank, or holds other text where the delivered end was, starts again, said so."""
    cursor = LogCursor()
    assert cursor.place(b"one\ntwo\n", cursor.ask(8)[0], 8, lines=5) == (Placed.NEW, ["one", "two"])
    cursor.size = 8
    asked, notices = cursor.ask(4)
    assert notices == [REWRITTEN]
    assert cursor.place(b"new\n", asked, 4) == (Placed.NEW, ["new"])
    cursor.size = 4
    # the same length and more, but other text before the delivered end: rewritten too
    asked, notices = cursor.ask(9)
    assert notices == []
    assert cursor.place(b"NEW\nmore\n", asked, 9) == (Placed.NEW, [REWRITTEN, "NEW", "more"])


def test_a_log_that_outgrew_the_largest_window_says_lines_were_missed() -> None:
    cursor = LogCursor(first_window=16, max_window=32, overlap=8, slack=0)
    log = b"".join(f"{i:03d}\n".encode() for i in range(4))
    asked, _ = cursor.ask(len(log))
    assert cursor.place(log[-asked:], asked, len(log), len(log), lines=1) == (Placed.NEW, ["003"])
    cursor.size = len(log)
    log += b"".join(f"{i:03d}\n".encode() for i in range(4, 40))
    asked, _ = cursor.ask(len(log))
    assert asked == 32
    placed, new = cursor.place(log[-asked:], asked, len(log), len(log))
    assert placed is Placed.NEW and new[0] == MISSED and new[1:] == [f"{i:03d}" for i in range(33, 40)]  # 032 may be cut


def test_a_stored_log_finishes_a_follow_only_when_it_holds_what_was_followed() -> None:
    cursor = LogCursor()
    assert cursor.place(b"a\nb\nc", 64 * 1024, 5, lines=5) == (Placed.NEW, ["a", "b"])
    assert cursor.place_stored("client log stream not available for this job") is None
    assert cursor.place_stored("a\nb\nc and more\nd\n") == ["c and more", "d"]
