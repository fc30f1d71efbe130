"""``watch``'s first line, fitted to the terminal's width: its Ctrl-C hint always whole.

``Every 5 s: list_jobs    12:00:00    (Ctrl-C stops)`` as wide as it likes; narrower, the rest gives
way first, in this order: the gaps narrow to two blanks, the command is cut (down to a few cells of
it), the time goes, then what is left of "Every 5 s: COMMAND" is cut to the room beside the hint.
Only a terminal narrower than the hint itself cuts the hint. Measured in terminal cells
(``console.shell.cells``): a command with a CJK job name is cut where it shows. Owns the line's
text only; ``console.shell.repaint`` draws it, ``watch`` (``console.shell.execute``) says when.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.shell.cells import elide, width
from console.shell.safe_text import visible_line

HINT = "(Ctrl-C stops)"
#: Cells of the command kept beside the time before the time gives way.
MIN_COMMAND_CELLS = 8


@dataclass(frozen=True)
class WatchHeading:
    """The heading of one round: ``interval`` seconds, the ``command`` repeated, the ``stamp`` (HH:MM:SS)."""

    interval: float
    command: str
    stamp: str

    @property
    def _what(self) -> str:
        return f"Every {self.interval:g} s: {visible_line(self.command)}"

    def whole(self) -> str:
        return f"{self._what}    {self.stamp}    {HINT}"

    def fit(self, cells: int) -> str:
        """The heading in at most ``cells`` terminal cells, the hint whole when it fits at all."""
        what, stamp, hint = self._what, self.stamp, HINT
        for gap in (4, 2):
            text = f"{what}{' ' * gap}{stamp}{' ' * gap}{hint}"
            if width(text) <= cells:
                return text
        beside_time = cells - width(f"  {stamp}  {hint}")
        command_kept = min(width(visible_line(self.command)), MIN_COMMAND_CELLS)
        if beside_time >= width(f"Every {self.interval:g} s: ") + command_kept:
            return f"{elide(what, beside_time)}  {stamp}  {hint}"
        beside_hint = cells - width(f"  {hint}")
        if beside_hint >= 2:  # (one cell would be the ellipsis alone)
            return f"{elide(what, beside_hint)}  {hint}"
        return elide(hint, cells)
