"""The rows kept free under the prompt for the completion menu, shrinking with the window.

prompt_toolkit keeps ``reserve_space_for_menu`` rows (8) blank under the prompt whenever completion
may open; in a 10-row window that pushed a command's answer into the scrollback and left the prompt
over blank rows. Here the reserve is a share of the window's rows, read at every redraw (a resize
takes effect at once). Owns only that number; the menu's drawing stays prompt_toolkit's.
"""

from __future__ import annotations

from typing import Any

from prompt_toolkit import PromptSession

#: The reserve in a window of normal height (prompt_toolkit's default).
MENU_ROWS = 8


def menu_rows(window_rows: int, most: int = MENU_ROWS) -> int:
    """Rows to keep free for the menu in a window ``window_rows`` high: at most ``most``, and at most
    half of what the prompt and toolbar leave, so the last answer stays on the screen (10 rows: 3)."""
    return max(0, min(most, (window_rows - 4) // 2))


class FittedPromptSession(PromptSession):  # type: ignore[type-arg]
    """A ``PromptSession`` whose menu reserve is ``menu_rows`` of the window's height at each redraw."""

    @property  # type: ignore[override]
    def reserve_space_for_menu(self) -> int:
        try:
            rows = self.app.output.get_size().rows
        except Exception:  # (no terminal size: a pipe, a closed terminal) the configured reserve
            return self._most_menu_rows
        return menu_rows(rows, self._most_menu_rows)

    @reserve_space_for_menu.setter
    def reserve_space_for_menu(self, value: Any) -> None:
        self._most_menu_rows = int(value)
