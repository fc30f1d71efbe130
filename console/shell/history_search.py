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

A search that finds nothing says so, as bash 5.2 does: ``(failed reverse-i-search)`text': `` (``(failed
i-search)`` forward), also when Ctrl-R or Ctrl-S again finds no entry further on (the line found stays;
prompt_toolkit showed both as if searching still). The line last found stays on show after it and Enter
runs it, as bash's does (prompt_toolkit went back to the line as it was: Enter ran an empty line). Ctrl-C gives the line up (``keys``), and Ctrl-\\
with it.

Only a search Ctrl-R or Ctrl-S started: vi's ``/`` and ``?`` stay prompt_toolkit's (Enter finds the
line, as in bash's vi mode), save for the failed mark, which every search in the prompt shows. Owns these
keys while such a search is open, and the search line's label; must not touch the history itself
(``console.shell.app`` keeps it).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from prompt_toolkit import PromptSession, search
from prompt_toolkit.application import Application, get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition, control_is_searchable, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.layout.controls import BufferControl, SearchBufferControl
from prompt_toolkit.layout.processors import ReverseSearchProcessor, Transformation, TransformationInput
from prompt_toolkit.search import SearchState


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
            target = event.app.layout.search_target_buffer_control
            searched = target.search_buffer if target is not None else None
            if searched is not None:
                if searched not in _WATCHED:
                    searched.on_text_changed += lambda buffer: _stay_on_found(buffer, started)
                _WATCHED[searched] = ""  # nothing found yet in this search
        return handler

    bindings.add("c-r", filter=control_is_searchable & ~is_searching)(start(search.SearchDirection.BACKWARD))
    bindings.add("c-s", filter=control_is_searchable & ~is_searching)(start(search.SearchDirection.FORWARD))

    def again(direction: search.SearchDirection) -> Callable[[KeyPressEvent], None]:
        """Ctrl-R or Ctrl-S in the search: the next match on, as readline's, or failed where there is none."""
        def handler(event: KeyPressEvent) -> None:
            typed = event.current_buffer.text
            target = event.app.layout.search_target_buffer_control
            if target is None or not typed or target.search_state.direction != direction:
                _FAILED_AGAIN.pop(event.current_buffer, None)  # a turn: found or not is asked afresh
                search.do_incremental_search(direction, count=event.arg)  # (only turns, or nothing typed)
                return
            wanted = SearchState(typed, direction, target.search_state.ignore_case)
            before = target.buffer.document_for_search(wanted)  # the match on show (the line stays behind it)
            search.do_incremental_search(direction, count=event.arg)
            after = target.buffer.document_for_search(wanted)
            if (before.text, before.cursor_position) == (after.text, after.cursor_position):
                _FAILED_AGAIN[event.current_buffer] = typed  # none further on: bash says failed
        return handler

    bindings.add("c-r", filter=in_search)(again(search.SearchDirection.BACKWARD))
    bindings.add("c-s", filter=in_search)(again(search.SearchDirection.FORWARD))

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


#: The search buffers a Ctrl-R/Ctrl-S search typed in, each with the last text that found a line.
_WATCHED: weakref.WeakKeyDictionary[Buffer, str] = weakref.WeakKeyDictionary()


def _stay_on_found(search_buffer: Buffer, started: _Started) -> None:
    """Typing on made the search fail: the line found for the text before stays the line (bash shows
    ``(failed reverse-i-search)`list_jobz': list_jobs`` and Enter runs list_jobs)."""
    target = get_app().layout.search_target_buffer_control
    if not started.by_ctrl_key or target is None or target.search_buffer is not search_buffer:
        return
    typed = search_buffer.text
    if not typed or _finds(target, typed):
        _WATCHED[search_buffer] = typed
        return
    last = _WATCHED.get(search_buffer, "")
    if last and _finds(target, last):  # the line it found becomes the line, where the match is
        state = target.search_state
        target.buffer.apply_search(SearchState(last, state.direction, state.ignore_case), include_current_position=True)
    _WATCHED[search_buffer] = ""  # (the next failed letter keeps that line)


def _finds(main: BufferControl, typed: str) -> bool:
    """Does a search for ``typed`` in ``main``'s history show a line holding it (prompt_toolkit's preview
    shows the line as it stands when there is none)?"""
    state = main.search_state
    shown = main.buffer.document_for_search(SearchState(typed, state.direction, state.ignore_case)).text
    return typed.lower() in shown.lower() if state.ignore_case() else typed in shown


#: A search buffer whose Ctrl-R/Ctrl-S found nothing further on: the text it failed for (a change ends it).
_FAILED_AGAIN: weakref.WeakKeyDictionary[Buffer, str] = weakref.WeakKeyDictionary()

_FAILED = "failed "


class _SearchLabel(ReverseSearchProcessor):
    """prompt_toolkit's ``(reverse-i-search)`text': line``, with bash's ``failed `` when nothing is found."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        shown = super().apply_transformation(ti)
        main = _searched_line(ti.buffer_control)
        if ti.lineno != 0 or main is None or not _failed(main, ti.buffer_control):
            return shown
        fragments = list(shown.fragments)
        fragments.insert(1, ("class:prompt.search", _FAILED))  # after the "(" the label opens with
        to_display, to_source = shown.source_to_display, shown.display_to_source
        return Transformation(fragments, source_to_display=lambda i: to_display(i) + len(_FAILED),
                              display_to_source=lambda i: to_source(i - len(_FAILED)))


def _searched_line(search_control: BufferControl) -> BufferControl | None:
    """The line being searched through ``search_control``, if that search is open."""
    target = get_app().layout.search_target_buffer_control
    return target if target is not None and target.search_buffer_control is search_control else None


def _failed(main: BufferControl, search_control: BufferControl) -> bool:
    """Is the line shown for the search typed in ``search_control`` (prompt_toolkit's preview: the match,
    or ``main``'s line as it stands when there is none) without the text, or did the last Ctrl-R/Ctrl-S for
    this text find no entry further on?"""
    typed = search_control.buffer.text
    failed_again = _FAILED_AGAIN.get(search_control.buffer)
    if failed_again is not None and failed_again != typed:  # typed on (or a new search): asked afresh
        del _FAILED_AGAIN[search_control.buffer]
    if not typed:
        return False
    if failed_again == typed:
        return True
    return not _finds(main, typed)


def label_failed_searches(session: PromptSession[str]) -> None:
    """Make the search line of ``session`` (a ``PromptSession``) say ``failed`` as bash does."""
    for control in session.app.layout.find_all_controls():
        if isinstance(control, SearchBufferControl) and control.buffer is session.search_buffer:
            control.input_processors = [
                _SearchLabel() if isinstance(p, ReverseSearchProcessor) else p for p in control.input_processors or []]
