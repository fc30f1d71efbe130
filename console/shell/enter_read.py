"""Enter, as it is read from the terminal, sends the line's command before prompt_toolkit handles the key.

Owns the hook on the prompt's input that sees a lone Enter where Enter accepts the line; what
Enter does stays prompt_toolkit's and ``keys.py``'s, what is sent and how its answer is shown
``early.py``'s.

Why: prompt_toolkit looks a key's bindings up before it calls the one that acts: for Enter, about
20 bindings whose filters are each evaluated, 0.3 ms of Python on a 2-core machine before the
accept handler could start the request (timestamps in the console on FLARE's POC; ``fl_admin.sh``
(readline) calls FLARE 0.13 ms after reading Enter). Here the request leaves as the key is read,
where Enter can only accept the line: the line's own buffer in focus (not a search), no completion
menu, no key sequence under way, emacs or vi's insert mode, no continuation line (an open quote,
a trailing backslash: ``parse.line_continues``). On FLARE the prompt is then put away and the
loop held until the answer is shown (``EarlySend._hold_for``): prompt_toolkit's handling of Enter
comes after it instead of competing with FLARE's threads while the request goes out. Should a
binding still take Enter otherwise, the request is stopped after the key (``EarlySend``; the
command sent that way only reads) and a prompt put away is drawn again.

Measured (``list_jobs`` on FLARE's POC, Enter to the next prompt seen by a pexpect reader, median
of 80 interleaved runs at one real-time priority): 8.7 -> 8.5 ms, ``fl_admin.sh`` 8.2 ms; Enter
to FLARE's call 0.89 -> 0.64-0.70 ms (its own: 0.37).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.keys import Keys

from console.shell.parse import line_continues


def send_on_enter_read(session: PromptSession[str], send: Callable[[str], None],
                       continues: Callable[[str], bool] = line_continues) -> None:
    """Call ``send(text)`` with the prompt's text when a lone Enter is read where it accepts the line
    (see above), before the key is handled. ``continues(text)``: ``parse.line_continues``, or the same
    worked out ahead (``read_ahead``)."""
    source = session.input
    read_keys = source.read_keys

    def read_keys_then_send() -> list:
        keys = read_keys()
        if len(keys) == 1 and keys[0].key == Keys.ControlM and _accepts(session, continues):
            send(session.default_buffer.text)
        return keys

    source.read_keys = read_keys_then_send  # type: ignore[method-assign]


def _accepts(session: PromptSession[str], continues: Callable[[str], bool]) -> bool:
    """Whether Enter now accepts the prompt's line (the cases where another binding takes it are out)."""
    app = session.app
    buffer = session.default_buffer
    if not app.is_running or app.is_done or app.current_buffer is not buffer or buffer.complete_state is not None:
        return False
    if app.key_processor.key_buffer or app.key_processor.input_queue:
        return False
    if app.editing_mode is EditingMode.VI and app.vi_state.input_mode is not InputMode.INSERT:
        return False
    text = buffer.text
    return bool(text.strip()) and "\n" not in text and not continues(text)
