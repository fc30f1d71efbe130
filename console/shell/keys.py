"""Key bindings of the prompt.

Ctrl-C clears the line and never leaves the shell (the prompt's default would raise);
Ctrl-D on an empty line leaves as ``bye`` does (prompt_toolkit's default, kept);
Ctrl-Space opens the completion menu.
"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


def build_key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("c-c")
    def _clear_line(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        buffer.cancel_completion()
        buffer.reset()

    @bindings.add("c-space")
    def _complete(event: KeyPressEvent) -> None:
        event.current_buffer.start_completion(select_first=False)

    return bindings
