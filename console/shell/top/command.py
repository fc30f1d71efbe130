"""The ``top`` command: run the view in place of the prompt, then back to the prompt."""

from __future__ import annotations

import os

from console.shell import follow
from console.shell.client_side import CommandFailed, Outcome, ShellContext, client_side
from console.shell.parse import ParsedCommand
from console.shell.top.view import TopView


@client_side("top")
async def _top(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    if not ex.frontend.interactive:
        raise CommandFailed("top is a full-screen view and needs a terminal; in a batch use list_jobs, "
                            "check_status and show_stats")
    view = TopView(ex.backend, no_color=bool(os.environ.get("NO_COLOR")))
    # Monitors and follows go on while top covers the screen: their lines go to its foot, and are
    # printed above the prompt when it closes, for the scrollback to keep them.
    with ex.monitors.held("top", view.background_line):
        result = await view.run()
    if result is not None and result[0] == "follow":
        return await follow.start_follow(ex, result[1], "all", 10)
    return Outcome()
