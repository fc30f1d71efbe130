"""``watch``'s screen: a command's output redrawn in place, then put away.

Owns only the drawing (the terminal's alternate screen, the fitting of the text to it); what is
drawn and when stays with ``watch`` (``console.shell.execute``).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.output import Output

from console.shell.safe_text import visible
from console.shell.top.columns import elide


class Repainter:
    """Draws on the terminal's alternate screen, as ``watch(1)`` (curses) does: redrawing the main
    screen leaves a copy of each round in the scrollback (tmux moves a cleared screen there, with
    its default ``scroll-on-clear``). ``end`` goes back to the main screen and prints the last
    picture once, whole, where the command was typed."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.active = False
        self.last = ""

    def repaint(self, text: str, heading: Callable[[int], str] | None = None) -> None:
        """``text`` alone on the screen, clipped to it: taller text would scroll the screen, its
        heading out of sight, and a wrapped line would push it off too. ``heading(cells)``: the first
        line, fitted by its owner to the width (what it keeps whole: watch's Ctrl-C hint)."""
        out = self.output
        size = out.get_size()
        lines = [elide(line, size.columns) for line in visible(text).split("\n")]
        if heading is not None:
            lines[0] = elide(heading(size.columns), size.columns)  # (already fitted: the cut is a guard)
        room = max(size.rows - 1, 2)  # the cursor's line below stays free
        if len(lines) > room:
            hidden = len(lines) - room + 1
            note = f"... {hidden} more line{'s' if hidden != 1 else ''} (a taller terminal shows them)"
            lines = [*lines[:room - 1], elide(note, size.columns)]
        if not self.active:
            out.enter_alternate_screen()
            self.active = True
        out.cursor_goto(0, 0)
        out.erase_screen()
        out.cursor_goto(0, 0)
        out.write_raw("\r\n".join(lines))
        out.flush()
        self.last = text

    def end(self) -> None:
        if not self.active:
            return
        self.active = False
        self.output.quit_alternate_screen()
        self.output.flush()
        print(visible(self.last), flush=True)
