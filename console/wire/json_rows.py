"""A JSON list streamed as an answer (``"json": true``), read a slice at a time: its first rows kept.

For what a keystroke waits on (completion's job list): parsing 300,000 jobs (50 MB) in one
``json.loads`` holds the event loop, and so every key echo, for seconds, and a thread would not
help (the C parser keeps the GIL). Here each row is parsed as its bytes arrive, the loop is handed
back every ``SLICE_SECONDS``, and once ``keep`` rows are in the rest of the answer is given up on
(``enough``: its frames are dropped as they come, unparsed). A row larger than ``MAX_ROW_BYTES``
is refused, so no single parse is long either. Reads what ``console.wire.json_answer.arriving``
hands on: the answer's pace and size cap hold as for any JSON answer.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from console.safe_json import UnreadableJSON, decode_at
from console.wire.exceptions import NoConnection
from console.wire.json_answer import arriving
from console.wire.pace import DEFAULT_PACE, Pace

#: Longest row taken (a job's list row is a few hundred bytes; a site's status a few KB).
MAX_ROW_BYTES = 64 << 10
#: Parsing between two returns to the event loop: well under a key echo a person notices.
SLICE_SECONDS = 0.004

_BLANKS = re.compile(r"[ \t\n\r]*")


class _At(Enum):
    START = "before the list"
    FIRST = "after '['"
    VALUE = "after ','"
    NEXT = "after a row"
    DONE = "after the list"
    OBJECT = "before the object"
    KEY = "before a key"
    COLON = "after a key"
    MEMBER = "after ':'"
    AFTER_MEMBER = "after a member"


class RowReader:
    """The rows of a JSON list fed in pieces (``feed``), parsed in slices (``step``); ``rows`` holds
    the first ``keep``. With ``under``, the list is that member of a JSON object (check_status's
    ``clients``; the object's other members are parsed whole, each within ``MAX_ROW_BYTES``; none:
    no rows). Raises NoConnection (``cmd`` named) for anything else."""

    def __init__(self, cmd: str, keep: int, under: str | None = None) -> None:
        self.cmd, self.keep, self.under = cmd, keep, under
        self.rows: list[Any] = []
        self._text, self._at = "", 0
        self._state = _At.START if under is None else _At.OBJECT
        self._key: Any = None
        self._retry_at = 0  # bytes from the value's start before parsing it again
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    @property
    def full(self) -> bool:
        """Nothing more to take: ``keep`` rows, or the list's end."""
        return len(self.rows) >= self.keep or self._state is _At.DONE

    def _refused(self, why: str) -> NoConnection:
        shape = "a JSON list of rows" if self.under is None else f"a JSON object with a list of rows in {self.under!r}"
        return NoConnection(f"the answer to {self.cmd} is not {shape} ({why})")

    def feed(self, chunk: bytes, final: bool = False) -> None:
        try:
            more = self._utf8.decode(chunk, final)
        except UnicodeDecodeError:
            raise self._refused("it is not UTF-8 text") from None
        self._text = self._text[self._at:] + more
        self._at = 0

    def _value(self, text: str, at: int, final: bool, ends: str, what: str) -> tuple[Any, int] | None:
        """The value at ``text[at]`` and where it ends, once one of ``ends`` follows it; None: more
        is needed. Refused past ``MAX_ROW_BYTES``, or when it cannot be one."""
        if not final and len(text) - at < self._retry_at:
            return None  # (tried on less: again once twice as much is in, not at every byte that trickles in)
        try:
            value, end = decode_at(text, at)
        except UnreadableJSON as exc:
            if final:
                raise self._refused(f"{what}: {exc}") from None
            if len(text) - at > MAX_ROW_BYTES:
                raise self._refused(f"{what} is over {MAX_ROW_BYTES} bytes or not JSON: {exc}") from None
            self._retry_at = min(2 * (len(text) - at), MAX_ROW_BYTES + 1)
            return None  # its end is still to come
        self._retry_at = 0
        after = _BLANKS.match(text, end).end()  # type: ignore[union-attr]  (matches the empty text too)
        if after == len(text) or text[after] not in ends:
            if final or len(text) - at > MAX_ROW_BYTES:
                raise self._refused(f"{what} is followed by {repr(text[after]) if after < len(text) else 'nothing'}")
            return None  # what ends it is still to come (a number may go on: 1|2, 1e|9)
        if end - at > MAX_ROW_BYTES:
            raise self._refused(f"{what} is over {MAX_ROW_BYTES} bytes")
        return value, end

    def step(self, until: float, clock: Callable[[], float], final: bool = False) -> bool:
        """Parse rows of what was fed until ``clock()`` passes ``until``: True when stopped for the
        time (call again), False when it needs more (or is ``full``). ``final``: nothing more comes."""
        text, at, count = self._text, self._at, 0
        try:
            while not self.full:
                at = _BLANKS.match(text, at).end()  # type: ignore[union-attr]
                if at == len(text):
                    if final:
                        raise self._refused(f"it ends {self._state.value}")
                    return False
                char, state = text[at], self._state
                if state is _At.OBJECT:
                    if char != "{":
                        raise self._refused(f"it starts with {char!r}")
                    at, self._state = at + 1, _At.KEY
                elif state in (_At.KEY, _At.AFTER_MEMBER) and char == "}":
                    at, self._state = at + 1, _At.DONE  # (no such member: no rows)
                elif state is _At.AFTER_MEMBER:
                    if char != ",":
                        raise self._refused(f"{char!r} {state.value}")
                    at, self._state = at + 1, _At.KEY
                elif state is _At.KEY:
                    key = self._value(text, at, final, ":", "a key")
                    if key is None:
                        return False
                    if not isinstance(key[0], str):
                        raise self._refused(f"a key that is no string: {key[0]!r:.40}")
                    (self._key, at), self._state = key, _At.COLON
                elif state is _At.COLON:
                    at, self._state = at + 1, _At.START if self._key == self.under else _At.MEMBER
                elif state is _At.MEMBER:
                    member = self._value(text, at, final, ",}", f"member {self._key!r:.40}")
                    if member is None:
                        return False
                    at, self._state = member[1], _At.AFTER_MEMBER
                elif state is _At.START:
                    if char != "[":
                        raise self._refused(f"the list starts with {char!r}")
                    at, self._state = at + 1, _At.FIRST
                elif state in (_At.FIRST, _At.NEXT) and char == "]":
                    at, self._state = at + 1, _At.DONE  # (an object's other members are not needed)
                elif state is _At.NEXT:
                    if char != ",":
                        raise self._refused(f"{char!r} {state.value}")
                    at, self._state = at + 1, _At.VALUE
                else:
                    row = self._value(text, at, final, ",]", f"row {len(self.rows) + 1}")
                    if row is None:
                        return False
                    self.rows.append(row[0])
                    at, self._state = row[1], _At.NEXT
                    count += 1
                    if count % 32 == 0 and clock() > until:
                        return True
            return False
        finally:
            self._at = at


async def read_json_rows(cmd: str, chunks: asyncio.Queue[bytes | BaseException | None], timeout: float,
                         announced: Any, drop: Callable[[Exception], None], keep: int,
                         enough: Callable[[], None], pace: Pace = DEFAULT_PACE, under: str | None = None,
                         deadline: float | None = None) -> list[Any]:
    """The first ``keep`` rows of the JSON list answered to ``cmd`` in queued chunks, parsed as they
    come with the loop handed back every ``SLICE_SECONDS``; ``enough()`` is called once they are in
    (the caller drops the rest as it comes). Raises NoConnection as ``arriving`` does, and for what
    is not a JSON list of rows under ``MAX_ROW_BYTES`` each (with ``under``: ``RowReader``'s)."""
    loop = asyncio.get_running_loop()
    reader = RowReader(cmd, keep, under)
    async with contextlib.aclosing(arriving(cmd, chunks, timeout, announced, drop, pace, deadline)) as pieces:
        async for chunk in pieces:
            reader.feed(chunk)
            while reader.step(loop.time() + SLICE_SECONDS, loop.time):
                await asyncio.sleep(0)
            if reader.full:
                enough()
                return reader.rows
            await asyncio.sleep(0)  # (chunks already queued are taken without a wait: hand the loop back)
    reader.feed(b"", final=True)
    while reader.step(loop.time() + SLICE_SECONDS, loop.time, final=True):
        await asyncio.sleep(0)
    return reader.rows
