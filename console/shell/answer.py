"""Where a command's answer goes: the screen (paged when long), or ``> FILE``, ``>> FILE``, ``| PIPELINE``.

Owns rendering an ``Outcome`` for its destination and handing the terminal to a pager or a
pipeline and back; what the answer is stays the executor's, the prompt and its loop stay
``app.py``'s.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from prompt_toolkit import PromptSession

from console.shell.cells import fill, plain
from console.shell.client_side import Outcome, ShellState
from console.shell.human import has_table
from console.shell.output import Expanded, Format, ctrl_c_for_the_child, needs_pager, page, render
from console.shell.parse import Sink
from console.shell.printing import TERMINAL
from console.shell.shown_last import LastShown, Rendered, answer_key
from console.shell.terminal import QuietInput, hand_typeahead_to
from console.shell.user_pipeline import run_pipeline


class Answers:
    """Shows answers for the shell: ``show`` on the screen, ``to_sink`` elsewhere."""

    def __init__(self, prompt: PromptSession[str], state: ShellState, quiet: QuietInput, pager: str | None,
                 emit: Callable[[str, str], None]) -> None:
        self.prompt = prompt
        self.state = state
        self.quiet = quiet
        self.pager = pager
        self.emit = emit
        #: Output went to the terminal from another program (a pager, ``| PIPELINE``): where its last
        #: line ends is unknown, so the next prompt draws itself there (``prompt_line`` assumes column 0).
        self.foreign_output = False
        self._shown_last = LastShown()

    def show(self, outcome: Outcome) -> None:
        """On the screen, through the pager when longer than the screen (``needs_pager``)."""
        shown = self._on_screen(outcome)
        text = shown.text
        if text is None:
            return
        if shown.paged:
            hand_typeahead_to(self.prompt.app.input)  # keys typed ahead: the next prompt's, not the pager's
            self.foreign_output = True
            with self.quiet.as_it_was():
                paged = page(text, os.environ.get("PAGER") or self.pager, chop=self._wide_table(outcome))
            if paged:
                self._to_column_0()
                return
        # Written with the next prompt's line (PromptLine.show flushes the same output) when it follows
        # at once, else at the loop's next turn: one write, so the terminal is woken once, not three times.
        with TERMINAL:
            self.prompt.app.output.write_raw(text + "\n")
        asyncio.get_running_loop().call_soon(self._flush)

    def show_at_once(self, outcome: Outcome, then: Callable[[], object]) -> bool:
        """On the screen now, ``then()`` (the next prompt's line) in the same write; False (nothing
        written) when it needs the pager or shows nothing. Callable from another thread (FLARE's worker)."""
        shown = self._on_screen(outcome)
        if shown.text is None or shown.paged:
            return False
        with TERMINAL:
            self.prompt.app.output.write_raw(shown.text + "\n")
            then()
            self.prompt.app.output.flush()
        return True

    def _wide_table(self, outcome: Outcome) -> bool:
        """May the answer hold a table wider than the screen? Only with ``set expanded off``: otherwise
        a table too wide becomes records, whose values wrap (``human``)."""
        return self.state.expanded is Expanded.OFF and has_table(outcome.result)

    def _on_screen(self, outcome: Outcome) -> Rendered:
        """``outcome`` rendered for this screen, and whether it needs the pager (``needs_pager``); the last
        one shown is kept (``shown_last``)."""
        size = self.prompt.output.get_size()
        expanded, fmt = self.state.expanded, outcome.format or self.state.format

        def rendered() -> Rendered:
            text = self._text(outcome, size.columns, expanded) or None
            return Rendered(text, text is not None and needs_pager(text, fmt, self._wide_table(outcome)))

        return self._shown_last.rendered(answer_key(outcome, size.rows, size.columns, expanded, fmt), rendered)

    def _text(self, outcome: Outcome, width: int, expanded: Expanded, terminal: bool = True) -> str:
        """The rendered result, then the message, without empty parts."""
        fmt = outcome.format or self.state.format
        parts = [render(outcome.result, fmt, width, expanded, terminal)] if outcome.result is not None else []
        # A command with data for scripts (submit_job's job ID) shows it in json/raw as a batch does.
        machine = outcome.message and (outcome.fields is not None or outcome.answer is not None)
        message = outcome.message_as(fmt, terminal) if machine else outcome.shown_message()
        # A sentence for people: broken between words. Never a drawn answer (a chart, help's columns): it is
        # laid out for this width already, and refilled its rows broke apart (and through their colours).
        if terminal and not outcome.drawn and (not machine or fmt is Format.TABLE):
            message = fill(message, width)
        return "\n".join(p for p in [*parts, message] if p)

    def _flush(self) -> None:
        with TERMINAL:
            self.prompt.app.output.flush()

    async def to_sink(self, outcome: Outcome, sink: Sink) -> bool:
        """``> FILE``, ``>> FILE`` or ``| PIPELINE``: the whole output, unpaged, never expanded for width.
        True when the user's Ctrl-C stopped the pipeline (the rest of the line is not run then)."""
        text = self._sink_text(outcome)
        if sink.kind == "|":
            # The user's own pipeline on their own machine, as in pgcli: /bin/sh runs it.
            self.foreign_output = True
            with ctrl_c_for_the_child(), self.quiet.as_it_was():
                ended = await asyncio.to_thread(run_pipeline, sink.target, text.encode())
            self._to_column_0()
            # The user's Ctrl-C (or Ctrl-\, which reaches it as one): it stopped, as they asked (the shell's
            # own -c dies of it, or returns 128 + SIGINT when its last command did, as bash does).
            if ended.returncode in (-signal.SIGINT, 128 + signal.SIGINT):
                key = "Ctrl-\\" if ended.quit_key else "Ctrl-C"
                self.emit(f"'{sink.target}' stopped ({key})", "class:status.queued")
                return True
            if ended.returncode not in (0, 1):  # grep's 1 is "no match", not a failure
                self.emit(f"'{sink.target}' exited with code {ended.returncode}", "class:error")
            return False
        written, said = self.to_file(outcome, sink)
        self.emit(said, "" if written else "class:error")
        return False

    def _to_column_0(self) -> None:
        """After a program of the user's had the terminal: the cursor to column 0 of a line of its own.

        Its output may end mid-line, and keys typed while it ran (the terminal echoed them: it had the
        terminal as it was) and not read by it stand there too: the next prompt, drawn from where the
        cursor is as if from column 0, wrapped and was drawn over them. A line's width of spaces then a
        carriage return (zsh's PROMPT_SP) ends where it started at column 0 (the terminal holds the wrap
        at the last column) and on the next line otherwise, leaving that line's text as it was; the keys
        stay in the terminal's queue, and the prompt reads them as typed ahead (as bash's readline does).
        """
        out = self.prompt.app.output
        with TERMINAL:
            out.write_raw(" " * out.get_size().columns + "\r")
            out.flush()

    def to_file(self, outcome: Outcome, sink: Sink) -> tuple[bool, str]:
        """``> FILE`` or ``>> FILE`` (not a pipeline): (written, what to say), as "wrote 3 lines to PATH".
        Synchronous, so a command that went on after Ctrl-C writes its outcome where asked as it ends."""
        text = self._sink_text(outcome)
        path = Path(sink.target).expanduser()
        try:
            with open(path, "a" if sink.kind == ">>" else "w") as out:
                out.write(text)
        except OSError as exc:
            return False, f"cannot write {path}: {exc.strerror or exc}"
        lines = text.count("\n")
        verb = "appended" if sink.kind == ">>" else "wrote"
        return True, f"{verb} {lines} line{'s' if lines != 1 else ''} to {path}"

    def _sink_text(self, outcome: Outcome) -> str:
        """Colour only on a terminal, as ``ls --color=auto`` and git: a file or a pipe (grep) reads text."""
        expanded = Expanded.ON if self.state.expanded is Expanded.ON else Expanded.OFF
        return plain(self._text(outcome, 10**6, expanded, terminal=False)) + "\n"
