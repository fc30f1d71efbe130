"""Styled text printed outside the prompt's own drawing, fast: messages above the prompt, the echoed
command line, the prompt's line printed with an answer.

Owns the style those prints resolve against and the one way they reach the terminal; what is
printed, and when, stays with the callers (the shell, ``early``, ``prompt_line``).

Why: prompt_toolkit's ``print_formatted_text`` merges its default styles with ours anew on every
call and resolves each style string against all their rules: about 2 ms of Python per printed
line (a monitor's status line, an error), 0.3 ms for the echoed command line (measured, 300
prints of one line to a StringIO output). Here the merged style is built once per theme and each
style string is resolved once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from prompt_toolkit.application import get_app_or_none, run_in_terminal
from prompt_toolkit.application.current import get_app_session
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.output import ColorDepth, Output
from prompt_toolkit.renderer import print_formatted_text
from prompt_toolkit.styles import (
    DEFAULT_ATTRS,
    Attrs,
    BaseStyle,
    default_pygments_style,
    default_ui_style,
    merge_styles,
)


class PrintStyle(BaseStyle):
    """The theme's style over prompt_toolkit's defaults, merged once per theme, each style string resolved once.

    ``theme`` returns the current theme's style (a new object when the theme changes);
    ``pygments_defaults``: also Pygments' default colours under the theme, as prompt_toolkit's
    ``print_formatted_text`` adds them (the prompt itself draws without them).
    """

    def __init__(self, theme: Callable[[], BaseStyle], *, pygments_defaults: bool) -> None:
        self._theme = theme
        self._pygments_defaults = pygments_defaults
        self._for: BaseStyle | None = None
        self._merged: BaseStyle = default_ui_style()
        self._attrs: dict[tuple[str, Attrs], Attrs] = {}

    def _current(self) -> BaseStyle:
        theme = self._theme()
        if theme is not self._for:
            defaults = [default_ui_style(), default_pygments_style()] if self._pygments_defaults else [default_ui_style()]
            self._for, self._merged, self._attrs = theme, merge_styles([*defaults, theme]), {}
        return self._merged

    def get_attrs_for_style_str(self, style_str: str, default: Attrs = DEFAULT_ATTRS) -> Attrs:
        merged = self._current()
        key = (style_str, default)
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = self._attrs[key] = merged.get_attrs_for_style_str(style_str, default)
        return attrs

    @property
    def style_rules(self) -> list[tuple[str, str]]:
        return self._current().style_rules

    def invalidation_hash(self) -> Hashable:
        return self._current().invalidation_hash()


#: Held while writing to the terminal outside prompt_toolkit's drawing: a read-only command's answer
#: may be shown from FLARE's worker thread while the loop prints a background line (``early.py``).
TERMINAL = threading.RLock()


def print_styled(fragments: StyleAndTextTuples, style: BaseStyle, color_depth: ColorDepth | None = None,
                 output: Output | None = None) -> None:
    """``fragments`` (ending in a line end if one is wanted) in ``style``; above the prompt while one is running."""
    target = output or get_app_session().output

    def write() -> None:
        with TERMINAL:
            print_formatted_text(target, fragments, style, color_depth=color_depth or target.get_default_color_depth())
            target.flush()

    app = get_app_or_none()
    if app is not None and app.is_running:
        run_in_terminal(write)  # erases the prompt, prints, draws the prompt again below
    else:
        write()
