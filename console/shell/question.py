"""The yes/no question of a destructive command in the interactive shell (``... are you sure? [y/N]``).

Owns asking it at a prompt of its own, how it is broken between words, which answers count (y or yes
confirm; n, no, Enter, Ctrl-C, Ctrl-\\ and Ctrl-D cancel; anything else is asked again) and a pasted line
that is waiting to run taken as the answer. Must not word the question or decide when one is asked
(``execute.py``, ``leaving.py`` do), nor touch the shell's own prompt or run a line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.key_binding import KeyBindings

from console.shell.cells import fill
from console.shell.printing import PrintStyle, print_styled
from console.shell.quit_key import add_ctrl_backslash
from console.shell.safe_text import visible, visible_line


class Question:
    """Asks the shell's yes/no questions. ``queued``: the shell's list of whole lines waiting to run (a
    paste's, typed ahead), read and taken from in place; ``emit``: a message above the prompt;
    ``on_ctrl_c``: a Ctrl-C cancelled the question ("stop what I asked": the rest of the line too)."""

    def __init__(self, queued: list[str], emit: Callable[..., Any], print_style: PrintStyle,
                 on_ctrl_c: Callable[[], None]) -> None:
        self._queued = queued
        self._emit = emit
        self._print_style = print_style
        self._on_ctrl_c = on_ctrl_c
        #: Whether a question waits for the user's answer now (``server_wait``: no line over it then).
        self.asking = False

    async def ask(self, question: str) -> bool:
        """y or yes confirms; n, no or an empty answer, Ctrl-C (Ctrl-\\ too) and Ctrl-D cancel the command
        (never the shell); any other answer is no answer: said, and the question asked again.

        A pasted line waiting to run answers instead when it is one (y, yes, n, no), as keys typed ahead
        do (a terminal program reading its input takes the next line): ``abort_job JOB`` then ``y`` pasted
        together abort it. A pasted line that is no answer (the next command) is not taken for one: it
        stays queued, runs after the question, and the question is asked at the prompt.
        """
        if self._queued:
            verdict = yes_or_no(self._queued[0])
            if verdict is not None:
                answer = self._queued.pop(0)
                print_styled([("", visible(question)), ("", visible_line(answer)), ("", "\n")], self._print_style)
                return verdict
            self._emit(f"(the pasted line '{visible_line(self._queued[0])}' is no answer: it runs after this "
                       "question)", "class:status.queued")
        self.asking = True
        try:
            return await self._answer(question)
        finally:
            self.asking = False

    async def _answer(self, question: str) -> bool:
        """The user's answer at a prompt of the question's own, asked again until it is one."""
        while True:
            try:
                # A job's name from the server, shown; SIGINT stays with the shell (Interrupts)
                asking = PromptSession(enable_suspend=True, key_bindings=add_ctrl_backslash(KeyBindings()))
                # Broken between words as the shell's messages are (``_asked``).
                answer = await asking.prompt_async(_asked(question, asking.output.get_size().columns),
                                                   handle_sigint=False)
            except KeyboardInterrupt:
                self._on_ctrl_c()
                return False
            except EOFError:
                return False
            verdict = yes_or_no(answer)
            if verdict is not None:
                return verdict
            self._emit(f"'{visible_line(answer.strip())}' is no answer: y (yes) or n (no; Enter and Ctrl-C "
                       "too)", "class:error")


def _asked(question: str, columns: int) -> str:
    """A yes/no question as the prompt shows it: broken between words as the shell's messages are, its
    ``[y/N]`` kept with the word before it (a no-break space while wrapping), the answer typed after it."""
    text = visible(question).rstrip(" ")
    before, blank, hint = text.rpartition(" ")
    if not blank:
        return fill(text, columns - 1) + " "
    shown, _, hint = fill(f"{before}\u00a0{hint}", columns - 1).rpartition("\u00a0")  # (ours: the last one)
    return f"{shown} {hint} "


def yes_or_no(answer: str) -> bool | None:
    """A question's answer: True for y/yes, False for n/no or nothing (the default, [y/N]), None for
    anything else (a command typed or pasted where the answer was expected: never taken for a no)."""
    word = answer.strip().lower()
    if word in ("y", "yes"):
        return True
    if word in ("", "n", "no"):
        return False
    return None
