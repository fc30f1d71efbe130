"""The bottom toolbar: who and where, connection state, monitors, and the F-key settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prompt_toolkit.formatted_text import StyleAndTextTuples

from console.shell.safe_text import visible


@dataclass
class ToolbarState:
    user: str
    server: str
    connected: Callable[[], bool]
    monitors: Callable[[], int]
    format: Callable[[], str]
    reconnecting: Callable[[], bool]
    expanded: Callable[[], str] = lambda: "auto"
    editing: Callable[[], str] = lambda: "emacs"
    #: This console shut the server down (``shutdown server|all``): being disconnected is expected.
    shut_down: Callable[[], bool] = lambda: False


def render_toolbar(state: ToolbarState) -> StyleAndTextTuples:
    if state.connected():
        link = [("class:bottom-toolbar.up", " connected ")]
    elif state.shut_down():
        link = [("class:bottom-toolbar.down", " server shut down by you: bye leaves ")]
    elif state.reconnecting():
        link = [("class:bottom-toolbar.down", " disconnected, reconnecting... ")]
    else:
        link = [("class:bottom-toolbar.down", " disconnected ")]
    count = state.monitors()
    return [
        ("class:bottom-toolbar", visible(f" {state.user} on {state.server} ")),
        *link,
        ("class:bottom-toolbar", f" monitors: {count} "),
        ("class:bottom-toolbar", f" [F2] format: {state.format()} "),
        ("class:bottom-toolbar", f" [F3] expanded: {state.expanded()} "),
        ("class:bottom-toolbar", f" [F4] keys: {state.editing()} "),
        ("class:bottom-toolbar", " help: commands  Ctrl-D: leave "),
    ]
