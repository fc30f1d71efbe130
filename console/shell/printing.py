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

import asyncio
import threading
import weakref
from collections.abc import Callable, Hashable

from prompt_toolkit.application import Application, get_app_or_none, run_in_terminal
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
    if app is None or not app.is_running or app in _PUT_AWAY:
        write()
    elif not _above_prompt(app, write):
        run_in_terminal(write)  # erases the prompt, prints, draws the prompt again below


_PUT_AWAY: weakref.WeakSet[Application[object]] = weakref.WeakSet()


def put_away(app: Application[object], away: bool) -> None:
    """Mark ``app``, a prompt still running, as put away by the shell (``early``: erased, its line echoed)
    or, ``away`` False, no longer so. While put away, prompt_toolkit draws nothing of it (its end would
    erase what was printed below the echoed line: the answer and the next prompt's line) and lines
    print as with no prompt running."""
    if away:
        _PUT_AWAY.add(app)
        app._running_in_terminal = True  # (how ``run_in_terminal`` keeps prompt_toolkit from drawing)
    elif app in _PUT_AWAY:
        _PUT_AWAY.discard(app)
        app._running_in_terminal = False


def is_put_away(app: Application[object]) -> bool:
    """Whether ``put_away`` marked ``app``."""
    return app in _PUT_AWAY


#: Seconds between a line printed above the running prompt and the prompt's drawing again below it.
REDRAW_AFTER = 0.005


def _above_prompt(app: Application[object], write: Callable[[], None]) -> bool:
    """Erase the running prompt, ``write`` and draw the prompt again ``REDRAW_AFTER`` later; False
    (nothing done) where only ``run_in_terminal`` can (a full-screen view, a terminal call or a cursor
    position report under way).

    Why not ``run_in_terminal``: it erases (one write), prints (another) and draws the prompt again at
    once, about 1 ms of Python with the toolbar, while the terminal, another process on the same
    cores, has yet to show the line. Timestamps in the console and in a pexpect reader on FLARE's POC:
    a monitor's final-status line was read 1-1.7 ms after its write when the drawing followed at once,
    0.2 ms when it did not (``prompt_line.DRAW_AFTER``, the same cause for answers). The input stays
    attached and in raw mode: nothing here awaits, so no key is read meanwhile, and a key read later
    draws the prompt at once as usual.
    """
    renderer = app.renderer
    cursor = getattr(renderer, "_cursor_pos", None)
    if (cursor is None or app.full_screen or getattr(app, "_running_in_terminal", True)
            or not _done(getattr(app, "_running_in_terminal_f", None))
            or (app.output.responds_to_cpr and renderer.waiting_for_cpr)):
        return False
    output = app.output
    with TERMINAL:
        output.cursor_backward(cursor.x)  # to where the prompt's drawing starts: one write with the line
        output.cursor_up(cursor.y)
        output.erase_down()
        write()
        renderer.reset()
    loop = asyncio.get_running_loop()
    pending = _REDRAWS.get(app)
    if pending is None or pending.cancelled() or pending.when() <= loop.time():
        _REDRAWS[app] = loop.call_later(REDRAW_AFTER, _redraw, app)
    return True


_REDRAWS: weakref.WeakKeyDictionary[Application[object], asyncio.TimerHandle] = weakref.WeakKeyDictionary()


def _redraw(app: Application[object]) -> None:
    _REDRAWS.pop(app, None)
    if app.is_running:
        ask = getattr(app, "_request_absolute_cursor_position", None)
        if ask is not None:  # as run_in_terminal does: where the prompt now starts sizes its menus
            ask()
        app.invalidate()


def _done(future: asyncio.Future[None] | None) -> bool:
    return future is None or future.done()
