"""The theme the interactive shell draws with now: loaded at start, switched by ``theme NAME``.

Owns the style in use and what was wrong with the configured theme at start (a theme that cannot be used,
or each bad colour and what replaces it: said once the shell runs). Must not read or write theme files
(``themes.py`` does), keep the setting (the config) or print anything.
"""

from __future__ import annotations

from prompt_toolkit.styles import Style

from console.shell.client_side import CommandFailed, ShellState
from console.shell.themes import DEFAULT_THEME, ThemeError, fallback_style, load_theme


class ThemeInUse:
    """``style``: the style to draw with (a new object on each switch); ``start_notes``: (text, style class)
    to say above the first prompt."""

    def __init__(self, name: str, state: ShellState) -> None:
        self.start_notes: list[tuple[str, str]] = []
        self.style: Style = self._load(name, state)

    def _load(self, name: str, state: ShellState) -> Style:
        """The configured theme's style; if it cannot be used, falls back to the default, which ``state.theme``
        then names (``theme`` lists what is really in use)."""
        try:
            theme = load_theme(name)
        except ThemeError as exc:
            self.start_notes.append((f"{exc}; using the default theme", "class:error"))
            state.theme = DEFAULT_THEME
            return fallback_style()
        self.start_notes += [(note, "class:status.aborted") for note in theme.notes()]
        return theme.to_style()  # type: ignore[return-value]

    def switch(self, name: str) -> list[str]:
        """Use theme ``name`` from now on (CommandFailed if it cannot be: the one in use stays); a line per
        bad colour it had and what replaces it."""
        try:
            theme = load_theme(name)
        except ThemeError as exc:
            raise CommandFailed(str(exc)) from None
        self.style = theme.to_style()
        return theme.notes()
