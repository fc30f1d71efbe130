"""How a reverse history search (Ctrl-R) ends: as in bash (readline) and pgcli.

Enter runs the line found at once. Every other way out leaves it to be edited first, as readline
does (each key checked against bash 5.2 in a pty): a key that edits or moves ends the search on the
line found and then does what it does there ("a movement command will terminate the search, make
the last line found the current line, and begin editing", bash(1)): Left/Right, Ctrl-B/F,
Home/End, Ctrl-A/E move; Up/Down, Ctrl-P/N go to the history entry before/after the one found;
Ctrl-K, Ctrl-U, Ctrl-D, Delete, Ctrl-T edit. Esc keeps it with the cursor where the match is.
Ctrl-G gives back the line as it was before the search, also after Ctrl-R searched on (prompt_toolkit
put the match in the line at a second Ctrl-R and Ctrl-G kept it). A search ended with nothing typed
in it ends on the line as it was, as in bash (prompt_toolkit would search again for the text of the
last search). Ctrl-S, the forward search, ends the same way. In vi mode the line is left in the mode
the search began in (bash's vi mode: insert), not in prompt_toolkit's navigation mode.

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
from prompt_toolkit.key_binding.vi_state import InputMode


class _Started:
    """The search open now, if Ctrl-R or Ctrl-S started it (not vi's ``/`` or ``?``): where the line was."""

    def __init__(self) -> None:
        self.by_ctrl_key = False
        self.index = 0  # the history entry the line was (prompt_toolkit's working_index)
        self.cursor = 0
        self.vi_mode = InputMode.INSERT
        self._watched: set[int] = set()

    def begin(self, app: Application[object]) -> None:
        self.by_ctrl_key = True
        line = app.current_buffer
        self.index, self.cursor, self.vi_mode = line.working_index, line.cursor_position, app.vi_state.input_mode
        if id(app) not in self._watched:  # forgotten at the first key pressed once no search is open
            self._watched.add(id(app))
            app.key_processor.before_key_press += lambda _sender: self._forget_if_done()

    def _forget_if_done(self) -> None:
        if not is_searching():
            self.by_ctrl_key = False


#: Keys that end the search on the line found and then act there, as readline's do (bash 5.2).
_ACTING_KEYS: tuple[tuple[str, ...], ...] = (
    ("left",), ("right",), ("up",), ("down",), ("home",), ("end",), ("delete",),
    ("c-a",), ("c-e",), ("c-b",), ("c-f",), ("c-p",), ("c-n",), ("c-k",), ("c-u",), ("c-d",), ("c-t",),
)


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
        _end_on_found(event, started).validate_and_handle()

    @bindings.add("escape", filter=in_search, eager=True)  # as prompt_toolkit's: Alt-F is Esc, then F
    def _keep_found(event: KeyPressEvent) -> None:
        _end_on_found(event, started)

    @bindings.add("c-g", filter=in_search)
    def _give_back(event: KeyPressEvent) -> None:
        search.stop_search()
        line = event.app.current_buffer
        line.working_index = started.index  # the line as it was, edits kept (prompt_toolkit keeps them per entry)
        line.cursor_position = started.cursor
        event.app.vi_state.input_mode = started.vi_mode

    for keys in _ACTING_KEYS:
        @bindings.add(*keys, filter=in_search)
        def _act_on_found(event: KeyPressEvent) -> None:
            _end_on_found(event, started)
            event.app.key_processor.feed_multiple(list(event.key_sequence), first=True)  # now on the line


def _end_on_found(event: KeyPressEvent, started: _Started) -> Buffer:
    """End the search on the line found (the line as it was when nothing was typed); its buffer."""
    started_with = event.current_buffer.text  # the search's own buffer: what was typed in it
    if started_with:
        search.accept_search()
    else:
        search.stop_search()
    event.app.vi_state.input_mode = started.vi_mode
    return event.app.current_buffer
