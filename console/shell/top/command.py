"""The ``top`` command: run the view in place of the prompt, then back to the prompt; one snapshot as text in a
batch or to ``> FILE`` / ``| CMD`` (as ``top -b -n 1``)."""

from __future__ import annotations

import os

from console.shell import follow
from console.shell.client_side import Outcome, ShellContext, client_side
from console.shell.parse import ParsedCommand
from console.shell.top.view import TopView


@client_side("top")
async def _top(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    if not (ex.frontend.interactive and parsed.to_screen):  # a batch, top > FILE, top | CMD: as top -b -n 1
        # Rows whole, as wide as they need: a file or pipe has no width to cut them to (as top -b).
        view = TopView(ex.backend, no_color=True, on_screen=False)
        return Outcome(message=await view.snapshot(), drawn=True)
    view = TopView(ex.backend, no_color=bool(os.environ.get("NO_COLOR")))
    # Monitors and follows go on while top covers the screen: their lines go to its foot, and are
    # printed above the prompt when it closes, for the scrollback to keep them.
    with ex.monitors.held("top", view.background_line):
        result = await view.run()
    if result is not None and result[0] == "follow":
        return await follow.start_follow(ex, result[1], "all", 10)
    return Outcome()
