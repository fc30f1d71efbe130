"""``top``'s tables laid out to the terminal's width: no fixed column widths, no wrapping.

Each column gets the width its longest cell (or its head) needs. When a row is wider than
the terminal, the columns that can give room (``Column.shrink``: names, metrics) give it,
those with the lowest ``shrink`` first (in proportion to what each has beyond its
``least``), down to their ``least``; when even that is too wide,
whole columns are left out (``Column.drop``, lowest first) rather than cut, and the room they
leave goes back to the columns that gave it. A cell wider
than its column ends in '…'. Widths are display cells (``console.shell.cells``, the rule of every
table of the shell: a CJK character takes two), so nothing passes the edge. Pure: no prompt_toolkit
application needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from console.shell.cells import ELLIPSIS, elide, pad
from console.shell.cells import width as cells_of

#: Blanks between two columns.
GAP = 2


@dataclass(frozen=True)
class Column:
    head: str
    least: int = 0  # the narrowest it may get (0: its head's width)
    shrink: int = 0  # gives room when the row is too wide: 1 first, then 2, ...; 0 never
    drop: int = 0  # left out when even the narrowest row is too wide: 1 first; 0 never


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int | None]:
    """Each column's width for a table of ``rows`` in ``width`` cells; None for a column left out."""
    natural = [max([cells_of(c.head), *(cells_of(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    least = [min(max(c.least or cells_of(c.head), 1), natural[i]) for i, c in enumerate(columns)]
    widths: list[int | None] = list(natural)

    def over() -> int:
        shown = [w for w in widths if w is not None]
        return sum(shown) + GAP * (len(shown) - 1) - width

    for order in sorted({c.shrink for c in columns if c.shrink}):
        # the columns of one order give room in proportion to what they have beyond their least
        group = [i for i, c in enumerate(columns) if c.shrink == order]
        spare = {i: natural[i] - least[i] for i in group}
        need = min(max(over(), 0), sum(spare.values()))
        if need:
            total = sum(spare.values())
            for i in group:
                widths[i] = natural[i] - need * spare[i] // total
            for i in sorted(group, key=lambda i: -spare[i]):  # what rounding left over
                if over() > 0 and (w := widths[i]) is not None and w > least[i]:
                    widths[i] = max(least[i], w - over())
    for order in sorted({c.drop for c in columns if c.drop}):
        for i, column in enumerate(columns):
            if column.drop == order and over() > 0:
                widths[i] = None
    # A column left out frees its room: the shrunk ones take it back (the last to give, first), so no
    # name is cut while cells stay free at the row's end.
    for i in sorted(range(len(columns)), key=lambda i: (-columns[i].shrink, i)):
        if (w := widths[i]) is not None and w < natural[i] and over() < 0:
            widths[i] = min(natural[i], w - over())
    return widths


def render(cells: Sequence[str], widths: Sequence[int | None], width: int) -> str:
    """One row of a table laid out by ``layout``: at most ``width`` display cells."""
    shown = [pad(elide(cell, w), w) for cell, w in zip(cells, widths, strict=True) if w is not None]
    return elide((" " * GAP).join(shown).rstrip(), width)


__all__ = ["ELLIPSIS", "GAP", "Column", "elide", "layout", "pad", "render"]
