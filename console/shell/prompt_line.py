"""The next prompt's line, printed right after a command's answer, before prompt_toolkit takes over.

Owns the prompt's line printed outside its drawing: the message followed by a carriage return
(``show``), and a line run without being drawn (``echo``: sent from Enter, pasted, typed ahead) as
the prompt shows one. What the prompt shows, and how typing is handled, stay the ``PromptSession``'s.

Why: after the answer of a command, ``prompt_async`` sets up the application (reset, raw mode,
input attached) and draws the whole layout (prompt, toolbar, menus) before anything reaches the
screen: 1.5-3 ms of Python on a 2-core machine, measured with timestamps in the console on
FLARE, where a command's whole round trip is 10-14 ms and ``fl_admin.sh`` (readline) prints its
``> `` at once. So the prompt's own text goes out with the answer (about 0.2 ms); its first drawing
starts where that line starts (the cursor is put back at column 0), erases it and draws the same
text with the toolbar, in one write. Keys typed in between wait in the terminal and are read by
the prompt when it starts, as with readline.

Then the drawing waits ``DRAW_AFTER``: the terminal showing the answer is another process on
the same cores, and prompt_toolkit's first drawing (about 1 ms of CPU, the toolbar's line
included) started at once competed with it. Timestamps in the console and in a pexpect reader
(the benchmark's "terminal") on a busy 2-core machine: the reader saw the answer and the prompt
up to 4 ms after they were written while the drawing ran, 0.1-0.4 ms when it had not started;
``check_status server``, Enter to prompt, went from 10-12 to 8-9 ms (median of 25, FLARE POC),
what ``fl_admin.sh`` takes. A key pressed meanwhile waits in the terminal, as during a command.

The line is printed only when it fits the terminal's width: a prompt wrapping onto a second line
would leave its first part above the drawn one. A background line printed before the prompt has
drawn itself (a monitor's, during ``DRAW_AFTER``) erases it first (``clear``): printed from its
column 0 over a longer prompt, it would leave the prompt's end behind it.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText, fragment_list_width
from prompt_toolkit.renderer import print_formatted_text
from prompt_toolkit.styles import BaseStyle

from console.shell.printing import TERMINAL

#: Seconds between the prompt's text and its drawing by prompt_toolkit (see above): far below what
#: anyone sees (the toolbar's line appears after it), enough for a terminal to take what was written.
DRAW_AFTER = 0.005


class PromptLine:
    """Prints the prompt's message ahead of ``prompt_async`` (call ``show`` just before it), and lines as it shows them."""

    def __init__(self, session: PromptSession[str], message: Callable[[], FormattedText], style: BaseStyle) -> None:
        self.session = session
        self.message = message
        self.style = style
        #: ``show``'s line is on the screen and the prompt has not drawn itself over it yet.
        self.on_screen = False

    def show(self) -> bool:
        """Print the message and return to column 0; False (nothing written) when it would not fit one line."""
        app = self.session.app
        output = app.output
        message = self.message()
        try:
            columns = output.get_size().columns
        except OSError:  # no terminal size to go by: let the prompt draw itself
            return False
        if fragment_list_width(message) >= columns:
            return False
        with TERMINAL:
            print_formatted_text(output, message, self.style, color_depth=app.color_depth)
            output.write_raw("\r")
            output.flush()
            self.on_screen = True
        return True

    def clear(self) -> None:
        """Erase ``show``'s line if the prompt has not taken it over yet: a line printed meanwhile (a
        monitor's) starts at its column 0 and would leave the end of a longer prompt behind it."""
        with TERMINAL:
            if self.on_screen and not self.session.app.is_running:
                self.session.app.output.write_raw("\r\x1b[K")
            self.on_screen = False

    def echo(self, text: str) -> None:
        """A line run without being drawn by the prompt (sent from Enter, pasted, typed ahead), as the prompt
        shows one: the prompt, then the line highlighted."""
        app = self.session.app
        lexer = self.session.lexer
        typed = lexer.lex_document(Document(text))(0) if lexer is not None else [("", text)]
        with TERMINAL:
            print_formatted_text(app.output, FormattedText([*self.message(), *typed, ("", "\n")]), self.style,
                                 color_depth=app.color_depth)
            app.output.flush()
            self.on_screen = False  # (written over it, from its column 0)
