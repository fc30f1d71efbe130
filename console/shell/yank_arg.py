"""Alt-. and Alt-_ (yank-last-arg), Alt-Ctrl-Y (yank-nth-arg): a word of an earlier line, as bash's readline.

prompt_toolkit's own split the earlier line at every blank outside quotes, so ``my\\ results.txt`` came back
as ``results.txt``. Here the line is read by the shell's own word rules (``console.shell.words``: the
grammar's), and the word is inserted as it was typed, quotes and backslashes kept, so it reads back as the
same argument. As readline: pressed again, the same word of the line before; Alt-<n> first (Alt-1 Alt-.)
takes word n (0: the command) and Alt-- Alt-. counts from the end. Emacs mode only, as prompt_toolkit's.
"""

from __future__ import annotations

from prompt_toolkit.buffer import Buffer, YankNthArgState
from prompt_toolkit.filters import emacs_insert_mode
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from console.shell.words import scan


def add_yank_arg_keys(bindings: KeyBindings) -> None:
    """Alt-., Alt-_ and Alt-Ctrl-Y over prompt_toolkit's (added after them: the last binding wins)."""
    for keys, last in ((("escape", "."), True), (("escape", "_"), True), (("escape", "c-y"), False)):
        bindings.add(*keys, filter=emacs_insert_mode)(
            lambda event, last=last: yank_arg(event.current_buffer, _count(event), last))


def _count(event: KeyPressEvent) -> int | None:
    return event.arg if event.arg_present else None


def yank_arg(buffer: Buffer, n: int | None, last: bool) -> None:
    """Insert word ``n`` (None: the last with ``last``, else the first argument) of the history line before the
    one the previous yank took from (the newest at first), in place of what that yank inserted."""
    lines = buffer.history.get_strings()
    if not lines:
        return
    state = buffer.yank_nth_arg_state or YankNthArgState(n=-1 if last else 1)
    if n is not None:
        state.n = n
    position = state.history_position - 1
    if -position > len(lines):
        position = -1  # round again from the newest, as readline
    words = [word.raw for word in scan(lines[position]).words]
    word = words[state.n] if -len(words) <= state.n < len(words) else ""
    if state.previous_inserted_word:
        buffer.delete_before_cursor(len(state.previous_inserted_word))
    buffer.insert_text(word)  # (clears the buffer's state: set again below)
    state.previous_inserted_word, state.history_position = word, position
    buffer.yank_nth_arg_state = state
