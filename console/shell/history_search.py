"""How a reverse history search (Ctrl-R) ends: as in bash (readline) and pgcli.

Enter runs the line found at once. Every other way out leaves it to be edited first, as readline
does (checked against bash 5.2): Esc keeps it with the cursor where the match is; Left and Right
keep it and move the cursor; Up and Down keep it as the place in the history and go to the entry
before or after it ("a movement command will terminate the search, make the last line found the
current line, and begin editing", bash(1)); Ctrl-G gives back the line as it was before the search
(prompt_toolkit's, kept). A search ended with nothing typed in it ends on the line as it was, as in
bash (prompt_toolkit would search again for the text of the last search). Ctrl-S, the forward
search, ends the same way.

Only a search Ctrl-R or Ctrl-S started: vi's ``/`` and ``?`` stay prompt_toolkit's (Enter finds the
line, as in bash's vi mode). Owns these keys while such a search is open; must not touch the
history itself (``console.shell.app`` keeps it).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import search
from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition, control_is_searchable, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


class _Started:
    """Whether the search open now was started by Ctrl-R or Ctrl-S (not by vi's ``/`` or ``?``)."""

    def __init__(self) -> None:
        self.by_ctrl_key = False
        self._watched: set[int] = set()

    def begin(self, app: Application[object]) -> None:
        self.by_ctrl_key = True
        if id(app) not in self._watched:  # forgotten at the first key pressed once no search is open
            self._watched.add(id(app))
            app.key_processor.before_key_press += lambda _sender: self._forget_if_done()

    def _forget_if_done(self) -> None:
        if not is_searching():
            self.by_ctrl_key = False


def add_history_search_keys(bindings: KeyBindings) -> None:
    """Bind Ctrl-R and Ctrl-S, and the keys that end the search they open, in ``bindings`` (which must
    take precedence over prompt_toolkit's own: a ``PromptSession``'s ``key_bindings``)."""
    started = _Started()
    in_search = Condition(lambda: started.by_ctrl_key) & is_searching

    def start(direction: search.SearchDirection) -> Callable[[KeyPressEvent], None]:
        def handler(event: KeyPressEvent) -> None:
            started.begin(event.app)
            search.start_search(direction=direction)
        return handler

    bindings.add("c-r", filter=control_is_searchable & ~is_searching)(start(search.SearchDirection.BACKWARD))
    bindings.add("c-s", filter=control_is_searchable & ~is_searching)(start(search.SearchDirection.FORWARD))

    @bindings.add("enter", filter=in_search)
    def _run_found(event: KeyPressEvent) -> None:
        _end_on_found(event).validate_and_handle()

    for key, move in (("left", Buffer.cursor_left), ("right", Buffer.cursor_right),
                      ("up", Buffer.history_backward), ("down", Buffer.history_forward)):
        bindings.add(key, filter=in_search)(lambda event, move=move: move(_end_on_found(event)))


def _end_on_found(event: KeyPressEvent) -> Buffer:
    """End the search on the line found (the line as it was when nothing was typed); its buffer."""
    started_with = event.current_buffer.text  # the search's own buffer: what was typed in it
    if started_with:
        search.accept_search()
    else:
        search.stop_search()
    return event.app.current_buffer
