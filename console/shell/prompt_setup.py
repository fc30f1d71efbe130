"""The shell's prompt line as built once: its ``PromptSession`` settings and our fixes over it.

Owns how the prompt is made: the history it recalls (the bounded file, else memory), completion
while typing, suggestions from history, the editor and suspend keys, the continuation prompt, and
the patches applied to the new session's application (key lookup, search labels, repeated work,
keys typed ahead). Must not touch what runs on a line: ``app.py`` hands it the completer, style,
toolbar and key bindings, and owns the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import Completer
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import BaseStyle

from console.own_files import private_file
from console.shell.config import history_path
from console.shell.history_file import BoundedFileHistory
from console.shell.history_search import label_failed_searches
from console.shell.key_lookup import look_up_keys_once
from console.shell.keys_ahead import keep_keys_in_step
from console.shell.lexer import CommandLexer
from console.shell.menu_space import FittedPromptSession
from console.shell.prompt_costs import skip_repeated_work
from console.shell.prompt_line import CONTINUATION


def open_history() -> BoundedFileHistory | InMemoryHistory:
    """The history file (``config.history_path``), or one in memory when its folder cannot be made."""
    path = history_path()
    try:
        private_file(path)  # FileHistory appends to it: created 0600 here, the mode is kept
        return BoundedFileHistory(path)
    except OSError:
        return InMemoryHistory()


def build_prompt(completer: Completer, style: BaseStyle, toolbar: Callable[[], Any], key_bindings: KeyBindings,
                 color_depth: ColorDepth | None) -> FittedPromptSession:
    """The shell's prompt session, patched; ``toolbar`` renders the bottom toolbar at each redraw."""
    prompt = FittedPromptSession(
        history=open_history(),
        completer=completer,
        complete_while_typing=True,
        lexer=CommandLexer(),
        style=style,
        include_default_pygments_style=False,
        bottom_toolbar=toolbar,
        key_bindings=key_bindings,
        color_depth=color_depth,
        # History search would switch completion-while-typing off; a grey suggestion from
        # history (Right arrow takes it) gives the same recall without that cost.
        auto_suggest=AutoSuggestFromHistory(),
        enable_history_search=False,
        enable_open_in_editor=True,  # Ctrl-X Ctrl-E (emacs keys) or v (vi): the line in $EDITOR
        enable_suspend=True,  # Ctrl-Z at the prompt stops the console as in the user's shell (fg resumes)
        # A line continued past a quoted line end (keys.py) shows bash's PS2 on each new line, never
        # on a screen line a long line wrapped onto.
        prompt_continuation=lambda width, line, wrapped: "" if wrapped else CONTINUATION,
    )
    look_up_keys_once(prompt.app)
    label_failed_searches(prompt)  # (failed reverse-i-search), as bash says it
    skip_repeated_work(prompt.app)
    keep_keys_in_step(prompt)  # keys typed ahead find the menu and suggestion typing starts
    return prompt


__all__ = ["build_prompt", "open_history"]
