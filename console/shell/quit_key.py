"""Ctrl-\\ wherever the shell reads keys itself: it does what Ctrl-C does there.

While a command runs, the terminal turns Ctrl-\\ into SIGQUIT, which ``endings`` makes a SIGINT: the
command in front is cancelled, as by Ctrl-C. Where the shell reads keys in raw mode (the prompt, a
history search, a yes/no question, ``top``, ``plot``) Ctrl-\\ is a key, which prompt_toolkit ignores:
it is fed back as Ctrl-C, so every Ctrl-C binding there (clear the line, answer no, leave the view)
acts on it as it is, including ones added later. Owns only that key; what Ctrl-C does stays with
each place's own bindings.
"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPress, KeyPressEvent
from prompt_toolkit.keys import Keys

#: The keys that stop what is in front: Ctrl-C, and Ctrl-\ acting as it (``take_typed_stops``).
STOP_KEYS = frozenset({Keys.ControlC, Keys.ControlBackslash})


def add_ctrl_backslash(bindings: KeyBindings) -> KeyBindings:
    """Bind Ctrl-\\ in ``bindings`` to act as Ctrl-C (the key is fed again as Ctrl-C, first in line); returns
    ``bindings``. A binding for the key itself wins over ``<any>``, so a question taking every key hears
    Ctrl-C, as when Ctrl-C is typed."""

    @bindings.add("c-\\")
    def _as_ctrl_c(event: KeyPressEvent) -> None:
        event.app.key_processor.feed(KeyPress(Keys.ControlC, "\x03"), first=True)

    return bindings
