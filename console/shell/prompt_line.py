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

from collections.abc import Callable, Hashable
from io import StringIO

from prompt_toolkit import PromptSession
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText, fragment_list_width
from prompt_toolkit.output import ColorDepth, Output
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.renderer import print_formatted_text
from prompt_toolkit.styles import BaseStyle

from console.shell.printing import TERMINAL, is_put_away

#: Seconds between the prompt's text and its drawing by prompt_toolkit (see above): far below what
#: anyone sees (the toolbar's line appears after it), enough for a terminal to take what was written.
DRAW_AFTER = 0.005

#: What starts each further line of a command that holds line ends, as the prompt draws it (its
#: ``prompt_continuation``).
CONTINUATION = "> "


class PromptLine:
    """Prints the prompt's message ahead of ``prompt_async`` (call ``show`` just before it), and lines as it shows them."""

    def __init__(self, session: PromptSession[str], message: Callable[[], FormattedText], style: BaseStyle) -> None:
        self.session = session
        self.message = message
        self.style = style
        #: ``show``'s line is on the screen and the prompt has not drawn itself over it yet.
        self.on_screen = False
        self._last: tuple[Hashable, str] | None = None  # (``_written``)
        self._echoed: tuple[Hashable, str] | None = None  # (``echo_text``)

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
        text = self._written(message, output, app.color_depth)
        with TERMINAL:
            if text is None:
                print_formatted_text(output, message, self.style, color_depth=app.color_depth)
            else:
                output.write_raw(text)
            output.write_raw("\r")
            output.flush()
            self.on_screen = True
        return True

    def _written(self, message: FormattedText, output: Output, depth: ColorDepth) -> str | None:
        """What printing ``message`` writes to a terminal like ``output``, kept while message, colours and
        theme stay the same (0.1 ms less on the way to each prompt); None for an output not a terminal's."""
        found = self._rendered(self._last, message, (), output, depth)
        if found is not None:
            self._last = found
        return found[1] if found is not None else None

    def echo_text(self, text: str) -> str | None:
        """What ``echo(text)`` writes, flushed or not, kept for the last ``text`` while the prompt, colours
        and theme stay the same (``early``: made while the line is typed, written with its answer); None for
        an output not a terminal's."""
        app = self.session.app
        found = self._rendered(self._echoed, self.message(), (text,), app.output, app.color_depth,
                               lambda: self._typed(text))
        if found is not None:
            self._echoed = found
        return found[1] if found is not None else None

    def _rendered(self, last: tuple[Hashable, str] | None, message: FormattedText, more: tuple[str, ...],
                  output: Output, depth: ColorDepth,
                  after: Callable[[], list[tuple[str, str]]] | None = None) -> tuple[Hashable, str] | None:
        """(key, what printing ``message`` then ``after()`` writes to a terminal like ``output``): ``last``
        when its key is the same; None where it cannot be kept (not a terminal's output, a fragment that
        cannot be a key)."""
        if not isinstance(output, Vt100_Output):
            return None
        key = (tuple(message), more, depth, output.term, self.style.invalidation_hash())
        try:
            if last is not None and last[0] == key and hash(key) is not None:
                return last
        except TypeError:  # a fragment that cannot be compared as a key: printed each time
            return None
        buffer = StringIO()
        fragments = FormattedText([*message, *after()]) if after is not None else message
        print_formatted_text(Vt100_Output(buffer, output.get_size, term=output.term), fragments, self.style,
                             color_depth=depth)
        return key, buffer.getvalue()

    def _typed(self, text: str) -> list[tuple[str, str]]:
        """``text`` highlighted as the prompt shows it after its message, each further line of it (after a
        backslash, inside quotes) after the continuation's ``> ``, each line with its line end."""
        lexer = self.session.lexer
        document = Document(text)
        lexed = lexer.lex_document(document) if lexer is not None else None
        shown: list[tuple[str, str]] = []
        for number, line in enumerate(document.lines):
            if number:
                shown.append(("class:prompt-continuation", CONTINUATION))
            shown += lexed(number) if lexed is not None else [("", line)]
            shown.append(("", "\n"))
        return shown

    def clear(self) -> None:
        """Erase ``show``'s line if the prompt has not taken it over yet: a line printed meanwhile (a
        monitor's) starts at its column 0 and would leave the end of a longer prompt behind it."""
        with TERMINAL:
            app = self.session.app
            if self.on_screen and (not app.is_running or is_put_away(app)):
                app.output.write_raw("\r\x1b[K")
            self.on_screen = False

    def echo(self, text: str) -> None:
        """A line run without being drawn by the prompt (sent from Enter, pasted, typed ahead), as the prompt
        shows one: the prompt, then the line highlighted, each further line of it (after a backslash, inside
        quotes) after the continuation's ``> ``, so the screen and the scrollback say all that ran."""
        app = self.session.app
        with TERMINAL:
            print_formatted_text(app.output, FormattedText([*self.message(), *self._typed(text)]), self.style,
                                 color_depth=app.color_depth)
            app.output.flush()
            self.on_screen = False  # (written over it, from its column 0)
