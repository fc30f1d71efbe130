"""vi keys where prompt_toolkit's differ from vim's: ``cw`` and ``cW`` change to the end of the word.

prompt_toolkit's ``cw`` is ``dw`` then insert: it also eats the blanks after the word, so ``cw`` on
``list_jobs -n 5`` then ``show_stats`` reads ``show_stats-n 5``. vim changes only up to the end of the
word (``:help cw``: "Special case: When the cursor is in a word, "cw" and "cW" do not include the
white space after a word, they only change up to the end of the word"): ``ce``, except that on the
last character of a word it changes that character alone, and a count counts words (``c2w``). On a
blank, ``cw`` is ``dw`` then insert, as in vim without ``cpoptions`` ``w``. ``dw``, ``yw`` and ``w``
are prompt_toolkit's, untouched; so is a change into a named register (``"acw``).

The ``c`` operator is registered here again, as prompt_toolkit's does it (the text cut to the
clipboard, then insert mode), so that ``w`` and ``W`` know they follow it. Owns these bindings only.
"""

from __future__ import annotations

from prompt_toolkit.application.current import get_app
from prompt_toolkit.filters import Condition, is_read_only
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.bindings.vi import (
    TextObject,
    create_operator_decorator,
    create_text_object_decorator,
)
from prompt_toolkit.key_binding.vi_state import InputMode


def add_vi_change_word(bindings: KeyBindings) -> None:
    """Bind ``c`` and the ``w``/``W`` after it in ``bindings`` (which must take precedence over
    prompt_toolkit's own: a ``PromptSession``'s ``key_bindings``); active in vi mode only, as the
    operator and text object filters of prompt_toolkit are."""
    operator = create_operator_decorator(bindings)
    text_object = create_text_object_decorator(bindings)

    @operator("c", filter=~is_read_only)
    def _change(event: KeyPressEvent, text: TextObject) -> None:
        buffer = event.current_buffer
        if text:
            buffer.document, cut = text.cut(buffer)
            if cut.text:
                event.app.clipboard.set_data(cut)
        event.app.vi_state.input_mode = InputMode.INSERT

    changing = Condition(lambda: get_app().vi_state.operator_func is _change)

    @text_object("w", filter=changing, no_move_handler=True, no_selection_handler=True)
    def _word(event: KeyPressEvent) -> TextObject:
        return _to_word_end(event, big=False)

    @text_object("W", filter=changing, no_move_handler=True, no_selection_handler=True)
    def _big_word(event: KeyPressEvent) -> TextObject:
        return _to_word_end(event, big=True)


def _to_word_end(event: KeyPressEvent, big: bool) -> TextObject:
    """What ``c{count}w`` changes (``big``: ``cW``): from the cursor to the end of the count-th word
    counting the one under the cursor; on a blank (or an empty line), what ``w`` moves over."""
    document = event.current_buffer.document
    count = event.arg  # (the operator's count times the text object's: prompt_toolkit multiplies them)
    if not document.current_char or document.current_char.isspace():
        return TextObject(document.find_next_word_beginning(count=count, WORD=big)
                          or document.get_end_of_document_position())
    end = document.find_next_word_ending(include_current_position=True, count=count, WORD=big)
    return TextObject(end or document.get_end_of_document_position())
