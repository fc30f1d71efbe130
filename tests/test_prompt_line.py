"""The next prompt's line printed ahead of its drawing (console.shell.prompt_line), as a terminal shows it."""

from __future__ import annotations

import asyncio
import io

import pyte
from prompt_toolkit import PromptSession
from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.styles import Style

from console.shell.printing import print_styled
from console.shell.prompt_line import PromptLine

PROMPT = "admin@example.com on server> "


def _screen(written: str) -> list[str]:
    screen = pyte.Screen(80, 6)
    pyte.Stream(screen).feed(written.replace("\n", "\r\n"))  # (the terminal's own output processing)
    return [row.rstrip() for row in screen.display]


def test_a_line_printed_before_the_prompt_draws_itself_is_not_mixed_with_the_prompts_text() -> None:
    """A monitor's line between the prompt's early text and its drawing: the line alone on its row."""
    out = io.StringIO()
    output = Vt100_Output(out, lambda: Size(rows=6, columns=80), term="xterm")
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
        line = PromptLine(PromptSession(), lambda: FormattedText([("", PROMPT)]), Style([]))
        assert line.show() and line.on_screen
        assert _screen(out.getvalue())[0] == PROMPT.rstrip()
        line.clear()
        print_styled([("", "12:00:00  done"), ("", "\n")], Style([]), output=output)
        assert not line.on_screen
        line.clear()  # nothing on the screen to erase any more: nothing written
        print_styled([("", "12:00:01  next"), ("", "\n")], Style([]), output=output)
    assert _screen(out.getvalue())[:2] == ["12:00:00  done", "12:00:01  next"]


def test_a_background_line_goes_above_the_running_prompt_which_comes_back_below_it_as_typed() -> None:
    """A monitor's line while the user types: the line where the prompt was (erased in the same write),
    then the prompt and the typed text drawn again below it, once for both lines."""
    out = io.StringIO()
    output = Vt100_Output(out, lambda: Size(rows=6, columns=80), term="xterm")

    async def scenario(pipe) -> tuple[list[str], list[str], int]:
        session: PromptSession[str] = PromptSession()
        typing = asyncio.ensure_future(session.prompt_async(PROMPT))
        pipe.send_text("list_j")
        await _until(lambda: "list_j" in "\n".join(_screen(out.getvalue())))
        renders = await _settled(lambda: session.app.render_counter)  # typing's own drawings done
        print_styled([("", "12:00:00  a8de96c9  hello  FINISHED:COMPLETED"), ("", "\n")], Style([]))
        print_styled([("", "12:00:00  09b28b39  other  RUNNING"), ("", "\n")], Style([]))
        printed = _screen(out.getvalue())
        await _until(lambda: session.app.render_counter > renders)
        await asyncio.sleep(0.05)  # (any further drawing would come within this)
        drawn = _screen(out.getvalue())
        redraws = session.app.render_counter - renders
        pipe.send_text("\r")
        await typing
        return printed, drawn, redraws

    with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
        printed, drawn, redraws = asyncio.run(scenario(pipe))
    assert printed[:2] == ["12:00:00  a8de96c9  hello  FINISHED:COMPLETED", "12:00:00  09b28b39  other  RUNNING"]
    assert PROMPT.strip() not in "\n".join(printed)  # (not drawn before the lines are out)
    assert drawn[2:] == [PROMPT + "list_j", "", "", ""]
    assert redraws == 1


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the screen never showed it"
        await asyncio.sleep(0.01)


async def _settled(value, quiet: float = 0.1, timeout: float = 10.0) -> int:
    """``value()`` once it stayed the same for ``quiet`` seconds (a loaded machine draws late)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = value(), loop.time()
    while loop.time() - since < quiet:
        assert loop.time() < deadline, "it never settled"
        await asyncio.sleep(0.01)
        if value() != last:
            last, since = value(), loop.time()
    return last
