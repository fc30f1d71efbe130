"""One command line at a time: text of several lines at the prompt runs line by line.

Owns the split of an accepted text into its lines and of a bracketed paste into the lines to run
and the rest to edit; running them stays the shell's (``InteractiveShell.run``), the keys keys.py's.

Why: prompt_toolkit delivers a paste as one ``BracketedPaste`` key, and ``$EDITOR`` (Ctrl-X
Ctrl-E) hands back several lines as one text; accepted whole, the lines stood as one block above
all their answers and as one history entry. bash and psql run a pasted line as it comes: its
prompt and text, then its answer, then the next line. So an accepted text keeps only its first
line (which prompt_toolkit draws and records as if typed) and hands the others to the shell's
queue, which shows each after the prompt, records it and runs it. A paste runs the lines that
end with a line end; what follows the last one stays at the prompt after them to be edited,
as a terminal without bracketed paste would have it. A line end inside quotes (or after a
backslash) does not end a line: the line goes on after it, as in bash and psql.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.document import Document

from console.shell.parse import logical_lines


def line_ends_as_newlines(text: str) -> str:
    """Some terminals paste ``\\r\\n`` or ``\\r`` line ends (iTerm2): all as ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def accept_line_by_line(session: PromptSession[str], queue: Callable[[list[str]], None]) -> None:
    """Make ``session``'s Enter accept only the first non-blank line of the text; ``queue(lines)``
    gets the other non-blank lines, in order, before the first is accepted."""
    buffer = session.default_buffer
    accept = buffer.accept_handler
    assert accept is not None, "PromptSession's buffer has its accept handler"

    def first_line_only(buff: Buffer) -> bool:
        text = line_ends_as_newlines(buff.text)
        if "\n" in text:
            lines = [line for line in logical_lines(text) if line.strip()]  # a quoted line end stays in its line
            first = lines[0] if lines else ""
            queue(lines[1:])
            buff.document = Document(first, len(first))  # drawn, recorded in history and run alone
        return accept(buff)

    buffer.accept_handler = first_line_only


def paste(buffer: Buffer, data: str, rest: Callable[[str], None]) -> None:
    """A bracketed paste: inserted at the cursor; when it holds a line end, the text up to the
    last one is accepted (line by line, see ``accept_line_by_line``) and ``rest(text)`` gets what
    follows it (and what stood after the cursor) for the prompt after those lines."""
    data = line_ends_as_newlines(data)
    before, after = buffer.document.text_before_cursor, buffer.document.text_after_cursor
    *lines, tail = logical_lines(before + data)
    if not lines:  # no line end, or each inside quotes: all of it stays to edit (continued, as bash does)
        buffer.insert_text(data)
        return
    accepted = "\n".join(lines)
    buffer.document = Document(accepted, len(accepted))
    rest(tail + after)
    buffer.validate_and_handle()
