"""ReadAhead (console.shell.read_ahead): the line read while it is typed, used at Enter only for that very text."""

from __future__ import annotations

import asyncio

from console.commands import Engine
from console.shell import read_ahead
from console.shell.parse import ParsedCommand, parse_command
from console.shell.read_ahead import ReadAhead, Sendable


def _only_server_questions(parsed: ParsedCommand) -> bool:
    return not parsed.spec.destructive


def _reader(made: list[Sendable]) -> ReadAhead[str]:
    def make(line: str, found: Sendable) -> str:
        made.append(found)
        return f"made for {line}"

    return ReadAhead(Engine.NVFLARE, _only_server_questions, make)


async def _typed(reader: ReadAhead[str], line: str) -> None:
    """``line`` typed, then a pause long enough for it to be read."""
    reader.typed(lambda: line)
    await asyncio.sleep(read_ahead.AFTER * 3)


def test_a_line_read_while_typed_is_used_once_for_that_text() -> None:
    async def main() -> None:
        made: list[Sendable] = []
        reader = _reader(made)
        await _typed(reader, "list_jobs -n hello")
        assert reader.continues("list_jobs -n hello") is False
        taken = reader.take("list_jobs -n hello")
        assert taken is not None
        found, extra = taken
        assert found is not None and found.to_screen and found.command == "list_jobs -n hello"
        assert found.parsed == parse_command("list_jobs -n hello", Engine.NVFLARE)
        assert extra == "made for list_jobs -n hello" and len(made) == 1
        assert reader.take("list_jobs -n hello") is None  # used once: Enter again reads the line itself
    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_line_changed_after_its_reading_is_read_at_enter() -> None:
    """A key typed faster than the reading (type-ahead, a paste): Enter never uses a reading of other text."""
    async def main() -> None:
        reader = _reader([])
        await _typed(reader, "check_status server")
        reader.typed(lambda: "check_status client")  # not read yet when Enter comes
        assert reader.continues("check_status client") is False
        assert reader.take("check_status client") is None
        assert reader.take("check_status server") is None  # the old reading is gone with that Enter
    asyncio.run(asyncio.wait_for(main(), 10))


def test_what_enter_would_not_send_is_read_as_such() -> None:
    async def main() -> None:
        made: list[Sendable] = []
        reader = _reader(made)
        await _typed(reader, "grep server 'a b")  # an open quote: Enter continues the line
        assert reader.continues("grep server 'a b") is True
        for line in ("abort_job 1234",  # asks first: never sent at Enter
                     "list_jobs -m",  # a usage error: the shell reports it when it runs the line
                     "list_jobs; check_status server"):  # two commands
            await _typed(reader, line)
            assert reader.take(line) == (None, None), line
        await _typed(reader, "list_jobs > jobs.txt")
        taken = reader.take("list_jobs > jobs.txt")
        assert taken is not None and taken[0] is not None and not taken[0].to_screen
        assert [m.command for m in made] == ["list_jobs > jobs.txt"]
    asyncio.run(asyncio.wait_for(main(), 10))
