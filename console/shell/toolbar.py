"""The bottom toolbar: who and where, connection state, monitors, output format."""

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


def render_toolbar(state: ToolbarState) -> StyleAndTextTuples:
    if state.connected():
        link = [("class:bottom-toolbar.up", " connected ")]
    elif state.reconnecting():
        link = [("class:bottom-toolbar.down", " disconnected, reconnecting... ")]
    else:
        link = [("class:bottom-toolbar.down", " disconnected ")]
    count = state.monitors()
    return [
        ("class:bottom-toolbar", visible(f" {state.user} on {state.server} ")),
        *link,
        ("class:bottom-toolbar", f" monitors: {count} "),
        ("class:bottom-toolbar", f" format: {state.format()} "),
        ("class:bottom-toolbar", " Tab: complete  help: commands  Ctrl-D: leave "),
    ]
