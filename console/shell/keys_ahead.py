"""Keys typed ahead act as typed at the prompt: the menu and the suggestion a keystroke starts are there for the next key.

Owns the background work of the prompt's line (completion while typing, the grey suggestion from
history) done at once when keys come in a burst; what the keys do stays ``keys.py``'s and
prompt_toolkit's, and what is offered stays the completer's.

Why: after a character is inserted, prompt_toolkit computes the completion menu and the history
suggestion in background tasks, which run once the keys read so far are processed. At a live
prompt keys come one at a time, so the next key finds the menu open: Tab or Down picks an entry,
Right takes the suggestion. Keys typed while a command runs (or left after an Enter, or handed
over before a pager) reach the next prompt in one burst, where Tab, Down and Right came before
those tasks ran and did something else (Tab's own completion was dropped as "one already
running"). So within a burst, before a key that is not a character, the work the last insertion
started is done at once, as it would have been between two keystrokes.
"""

from __future__ import annotations

import itertools

from prompt_toolkit import PromptSession
from prompt_toolkit.buffer import Buffer, CompletionState
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.key_binding.key_processor import KeyProcessor
from prompt_toolkit.keys import Keys

#: Keys that read neither the menu nor the suggestion: no work done for them. Enter above all (it
#: runs the line: a highlighted entry needs a key before it), whose time to the command is measured.
_BLIND = frozenset({Keys.ControlM, Keys.ControlJ, Keys.BracketedPaste, Keys.CPRResponse, Keys.Ignore})


def open_menu(buffer: Buffer, completions: list[Completion]) -> None:
    """Show ``completions`` (for the buffer's text as it is) in the menu now, none selected."""
    buffer.complete_state = CompletionState(original_document=buffer.document, completions=completions)
    buffer.on_completions_changed.fire()


def completions_now(buffer: Buffer, event: CompleteEvent) -> list[Completion]:
    """The completer's answer for the buffer's text, as its background task would collect it."""
    if buffer.completer is None:
        return []
    found = buffer.completer.get_completions(buffer.document, event)
    return list(itertools.islice(found, buffer.max_number_of_completions))


def catch_up(buffer: Buffer) -> None:
    """Do now what the last character typed started in the background: the menu, the suggestion."""
    if buffer.complete_state is None and buffer.complete_while_typing():
        completions = completions_now(buffer, CompleteEvent(text_inserted=True))
        if completions:
            open_menu(buffer, completions)
    if buffer.suggestion is None and buffer.auto_suggest is not None:
        buffer.suggestion = buffer.auto_suggest.get_suggestion(buffer, buffer.document)
        if buffer.suggestion is not None:
            buffer.on_suggestion_set.fire()


def keep_keys_in_step(session: PromptSession[str]) -> None:
    """Make keys reaching ``session``'s prompt in one burst act as if typed one at a time."""
    buffer = session.default_buffer
    app = session.app
    due = False

    def inserted(_: Buffer) -> None:
        nonlocal due
        due = True

    def after_key(processor: KeyProcessor) -> None:
        nonlocal due
        if not due:
            return
        if not processor.input_queue or app.is_done:  # the burst is over, or the line accepted: the
            due = False  # background tasks run before the next read, the next prompt starts afresh
            return
        # The next key of the burst: a character changes the text again (the work is due after it);
        # another key may read the menu or the suggestion.
        key = processor.input_queue[0].key
        if isinstance(key, Keys):
            due = False
            if key not in _BLIND:
                catch_up(buffer)

    buffer.on_text_insert += inserted
    app.key_processor.after_key_press += after_key
