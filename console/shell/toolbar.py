"""The bottom toolbar: who and where, connection state, monitors, and the F-key settings.

Fitted to the terminal's width: parts are dropped whole, least needed first, never cut mid-word; the
connection state and its advice ("bye leaves") stay whatever the width (a shorter wording when even
the full one does not fit). The state is the truth as soon as the console knows it: "no answer for
N s" while a heartbeat is unanswered (counting up each second), before the loss is judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prompt_toolkit.application import Application
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding.vi_state import InputMode

from console.shell.cells import elide, width
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
    #: In vi keys, the line editor's mode as pgcli shows it ("INSERT", "NORMAL", "REPLACE"); "" in emacs keys.
    vi_mode: Callable[[], str] = lambda: ""
    #: Whole seconds the server, connected still, has answered nothing, once known (``Backend.silent_for``).
    silent_for: Callable[[], int | None] = lambda: None


def _link(state: ToolbarState) -> tuple[str, str, str]:
    """The connection's style, its full wording and a short one for narrow terminals."""
    if state.connected():
        silent = state.silent_for()
        if silent is not None:  # a heartbeat unanswered: not (yet) taken as lost, but no longer "connected"
            return "class:bottom-toolbar.down", f" no answer for {silent} s ", f" no answer {silent} s "
        return "class:bottom-toolbar.up", " connected ", " connected "
    if state.shut_down():
        return "class:bottom-toolbar.down", " server shut down by you: bye leaves ", " shut down: bye leaves "
    if state.reconnecting():
        return "class:bottom-toolbar.down", " disconnected, reconnecting... ", " reconnecting... "
    return "class:bottom-toolbar.down", " disconnected ", " disconnected "


def render_toolbar(state: ToolbarState, columns: int | None = None) -> StyleAndTextTuples:
    """The toolbar's fragments, fitted to ``columns`` cells (None: every part).

    Kept by priority: the connection state (always), the vi mode, monitors while any run, who and
    where, the leaving key, then the F-key settings; shown in their fixed order."""
    style, link, short = _link(state)
    count = state.monitors()
    mode = state.vi_mode() if state.editing() == "vi" else ""
    keys = f" [F4] keys: {state.editing()}{f' {mode}' if mode else ''} "
    plain = "class:bottom-toolbar"
    # (order shown, priority: lower kept first, text, style)
    parts = [
        (0, 3, visible(f" {state.user} on {state.server} "), plain),
        (1, 0, link, style),
        (2, 2 if count else 6, f" monitors: {count} ", plain),
        (3, 7, f" [F2] format: {state.format()} ", plain),
        (4, 8, f" [F3] expanded: {state.expanded()} ", plain),
        (5, 1 if mode else 5, keys, plain),
        (6, 4, " help: commands  Ctrl-D: leave ", plain),
    ]
    if columns is None:
        return [(s, text) for _, _, text, s in parts]
    if width(link) > columns:
        return [(style, elide(short, columns))]
    kept = _fitted(parts, columns)
    if len(kept) < len(parts) and short != link:
        # The state's shorter wording, when it keeps a part the full one pushed out ("disconnected,
        # reconnecting..." took [F3] expanded at 160 columns): what fits is kept. "monitors: 0" is not
        # worth the full wording ("server shut down by you").
        def worth(chosen: list[tuple[int, int, str, str]]) -> int:
            return sum(1 for part in chosen if not (part[0] == 2 and not count))

        shorter = _fitted([(o, p, short if p == 0 else text, s) for o, p, text, s in parts], columns)
        kept = shorter if worth(shorter) > worth(kept) else kept
    return [(s, text) for _, _, text, s in sorted(kept)]


def _fitted(parts: list[tuple[int, int, str, str]], columns: int) -> list[tuple[int, int, str, str]]:
    """The parts kept within ``columns`` cells: by priority, each that still fits."""
    kept, used = [], 0
    for part in sorted(parts, key=lambda p: p[1]):
        if used + width(part[2]) <= columns:
            kept.append(part)
            used += width(part[2])
    return kept


_VI_MODES = {InputMode.INSERT: "INSERT", InputMode.INSERT_MULTIPLE: "INSERT", InputMode.NAVIGATION: "NORMAL",
             InputMode.REPLACE: "REPLACE", InputMode.REPLACE_SINGLE: "REPLACE"}


def vi_mode_name(app: Application) -> str:  # type: ignore[type-arg]
    """The vi mode of ``app``'s line editor as vim names it (a selection: VISUAL)."""
    if app.current_buffer.selection_state is not None:
        return "VISUAL"
    return _VI_MODES.get(app.vi_state.input_mode, "")
