"""The job-ID completion menu: each ID's first 8 characters, with its name, status and age aligned beside it.

Owns how a job entry looks in the menu and how its meta column follows the terminal's width; which jobs
are offered, in what order, stays ``completion.py``'s and ``completion_data.py``'s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

from prompt_toolkit.application.current import get_app_or_none
from prompt_toolkit.completion import Completion

from console.shell.completion_data import JobEntry, age
from console.shell.safe_text import visible_line
from console.shell.top.columns import Column, layout, render

#: The job-ID menu's meta: name, status, age, one aligned column each. In a narrow terminal the
#: name gives room first (down to 8 cells, ending in '…'), then the age is left out; the status
#: stays whole.
JOB_META = (Column("", least=8, shrink=1), Column(""), Column("", drop=1))
#: A wide terminal still gets a compact menu: a long name is elided past this.
MAX_META_WIDTH = 64
#: Cells of the menu that are not its meta: the ID (8) and its blanks (2), the meta's own
#: blanks (2), the scrollbar (1).
_MENU_BESIDE_META = 13


def job_menu(entries: list[JobEntry], word: str) -> Iterator[Completion]:
    """Job IDs as the menu shows them: the ID's first 8 characters, then name, status and age aligned."""
    now = time.time()
    meta = _JobMeta([[visible_line(e.name), visible_line(e.status), age(e.submitted, now)] for e in entries])
    for index, entry in enumerate(entries):
        yield Completion(entry.job_id, -len(word), display=visible_line(entry.job_id[:8]),
                         display_meta=functools.partial(meta.text, index))


class _JobMeta:
    """The meta column of one job menu, laid out for the terminal's width when the menu is drawn.

    prompt_toolkit asks each entry for its meta at every drawing, and draws again at once when the
    terminal is resized (SIGWINCH): so the columns follow a resize as it happens, not at the next key.
    Laid out once per width.
    """

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows
        self._room = -1
        self._texts: list[str] = []

    def text(self, index: int) -> str:
        room = _meta_room()
        if room != self._room:
            widths = layout(JOB_META, self.rows, room)
            self._texts = [render(row, widths, room) for row in self.rows]
            self._room = room
        return self._texts[index]


def _meta_room() -> int:
    """Display cells the menu's meta column may use: the terminal's width less the rest of the menu
    (prompt_toolkit moves a menu that would pass the right edge to the left, never cuts it)."""
    app = get_app_or_none()  # get_app() would build a whole dummy application outside the prompt: 4 ms
    try:
        columns = app.output.get_size().columns if app is not None else 80
    except Exception:  # no terminal to ask (a pipe, a closed output): as wide as a usual one
        columns = 80
    return min(max(columns - _MENU_BESIDE_META, 20), MAX_META_WIDTH)
