"""Key bindings of the prompt.

Ctrl-C clears the line (in a history search too, ending it) and never leaves the shell (the prompt's
default would raise); Ctrl-\\ does what Ctrl-C does (``console.shell.quit_key``);
Ctrl-D on an empty line leaves as ``bye`` does (prompt_toolkit's default, kept);
Ctrl-Space opens the completion menu. Tab completes at once, even while completion-while-
typing is still working on the last keystroke (prompt_toolkit would drop that Tab): the
completer is local and fast, so it is asked directly; a single match is taken, with a blank after
it as bash's readline does (``take_only``: one rule for every command's words, a folder's '/' excepted),
and the menu closed, also when the menu was already open; several: their common part is inserted and the menu
opened, at once too (keys typed ahead: ``keys_ahead``). Enter on a highlighted completion
takes it without running the line (pgcli's way). Ctrl-X Ctrl-E edits the line in
``$EDITOR`` (prompt_toolkit's binding, on in both editing modes). F2 toggles the output
format between table and json, F3 expanded output, F4 vi/emacs keys (the toolbar shows them).
A paste of several lines runs them line by line (``console.shell.lines``). Enter with a quote
open (or after a backslash) continues the line on the next, as bash and psql do. Ctrl-R then Enter
runs the line found, as bash does (``console.shell.history_search``); vi's ``cw`` changes to
the end of the word, as vim's does (``console.shell.vi_keys``). Alt-. yanks an earlier line's last
argument whole, as typed, by the shell's word rules (``console.shell.yank_arg``).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import search
from prompt_toolkit.application.current import get_app
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completion, get_common_complete_suffix
from prompt_toolkit.filters import Condition, completion_is_selected, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.keys import Keys

from console.shell.history_search import add_history_search_keys
from console.shell.keys_ahead import completions_now, open_menu
from console.shell.lines import paste
from console.shell.parse import line_continues
from console.shell.quit_key import add_ctrl_backslash
from console.shell.vi_keys import add_vi_change_word
from console.shell.yank_arg import add_yank_arg_keys


def build_key_bindings(toggle: Callable[[str], None] | None = None,
                       pasted_rest: Callable[[str], None] | None = None) -> KeyBindings:
    """``toggle(name)`` flips a setting ("format", "expanded", "editing") for the F-keys;
    ``pasted_rest(text)`` keeps what followed a paste's last line end for the prompt after its lines."""
    bindings = KeyBindings()

    if pasted_rest is not None:
        @bindings.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            paste(event.current_buffer, event.data, pasted_rest)

    @bindings.add("c-c")
    def _clear_line(event: KeyPressEvent) -> None:
        if event.app.layout.is_searching:  # the line is given up with its search, as in bash (not the search's text alone)
            search.stop_search()
            event.app.vi_state.input_mode = InputMode.INSERT  # a fresh line, as at a new prompt
        buffer = event.app.current_buffer
        buffer.cancel_completion()
        buffer.reset()

    @bindings.add("c-space")
    def _complete(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is None:  # at once, as Tab (a Down typed after it finds the menu)
            found = completions_now(buffer, CompleteEvent(completion_requested=True))
            if found:
                open_menu(buffer, found)

    @bindings.add("tab")
    def _tab(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and len(state.completions) == 1:
            # The menu that opened while typing holds one match: take it and close the menu,
            # so the next Enter runs the line (complete_next would leave the menu open).
            only = state.completions[0]
            if state.complete_index is None:
                buffer.cancel_completion()
                take_only(buffer, only)
            else:
                buffer.complete_state = None  # already inserted when it was selected
                _blank_after(buffer, only)
            return
        if state is not None and state.completions:
            buffer.complete_next()
            return
        # Done here, not in prompt_toolkit's background task: a Tab typed ahead (keys_ahead.py) would
        # find that task already taken by the completion its text started, and do nothing.
        tab_complete(buffer)

    @bindings.add("enter", filter=completion_is_selected)
    def _take_completion(event: KeyPressEvent) -> None:
        event.current_buffer.complete_state = None

    # An open quote or a trailing backslash: Enter goes on to a continuation line ('> '), as bash and
    # psql do, until the quote closes; the line then runs with its line ends (``parse.split_commands``).
    continuing = Condition(lambda: line_continues(get_app().current_buffer.text))

    @bindings.add("enter", filter=continuing & ~completion_is_selected & ~is_searching)
    def _continue_line(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        buffer.cursor_position = len(buffer.text)  # Enter takes the whole line wherever the cursor is
        buffer.insert_text("\n")

    add_history_search_keys(bindings)
    add_vi_change_word(bindings)
    add_ctrl_backslash(bindings)
    add_yank_arg_keys(bindings)

    if toggle is not None:
        for key, setting in (("f2", "format"), ("f3", "expanded"), ("f4", "editing")):
            bindings.add(key)(lambda event, setting=setting: toggle(setting))

    return bindings


def tab_complete(buffer: Buffer) -> None:
    """What Tab does where no menu is open: a single match is taken; several: their common part is
    inserted and the menu opened. Also done when a remote folder's names arrive after a Tab found
    none yet (``console.shell.remote_paths``)."""
    requested = CompleteEvent(completion_requested=True)
    found = completions_now(buffer, requested)
    if len(found) == 1:
        buffer.cancel_completion()
        take_only(buffer, found[0])
    elif found:
        common = get_common_complete_suffix(buffer.document, found)
        if common:  # the menu is then of the longer word's completions (the suggestion follows it too)
            buffer.insert_text(common)
            found = completions_now(buffer, requested)
        if found:
            open_menu(buffer, found)


def take_only(buffer: Buffer, completion: Completion) -> None:
    """The one match Tab found, inserted with a blank after it (``_blank_after``)."""
    buffer.apply_completion(completion)
    _blank_after(buffer, completion)


def _blank_after(buffer: Buffer, completion: Completion) -> None:
    """A blank after a word a unique completion finished, as bash's readline adds one: the next argument is
    typed at once, the same for every command's words (the twelfth user: monitor_job's unique job ID had
    none). Not after a folder's '/' (the next Tab goes on
    inside it), nor where a blank follows already."""
    after = buffer.document.text_after_cursor
    if completion.text.endswith("/") or after[:1].isspace():
        return
    buffer.insert_text(" ")
