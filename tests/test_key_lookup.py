"""The prompt's key look-up listed once (console.shell.key_lookup) finds what prompt_toolkit's own finds; the
work skipped at each drawing and prompt (console.shell.prompt_costs) leaves the same events and signals."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.application.current import set_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import DynamicContainer, HSplit, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.output import DummyOutput

from console.shell.key_lookup import look_up_keys_once
from console.shell.keys import build_key_bindings
from console.shell.prompt_costs import skip_repeated_work

KEYS = [(Keys.ControlM,), (Keys.ControlI,), (Keys.ControlC,), (Keys.ControlX,), (Keys.ControlX, Keys.ControlE),
        (Keys.Escape,), (Keys.ControlR,), (Keys.Up,), (Keys.F2,), ("a",), ("v",), (Keys.BracketedPaste,)]


@pytest.fixture
def session() -> Iterator[PromptSession[str]]:
    """A prompt made as the shell makes its own (the same key bindings and options that add parts)."""
    with create_pipe_input() as pipe:
        yield PromptSession(input=pipe, output=DummyOutput(), bottom_toolbar="toolbar", complete_while_typing=True,
                            key_bindings=build_key_bindings(lambda name: None, lambda rest: None),
                            auto_suggest=AutoSuggestFromHistory(), enable_open_in_editor=True, enable_suspend=True)


def found(registry: object) -> list[tuple[tuple[object, ...], list[object], list[object]]]:
    return [(keys, [b.handler for b in registry.get_bindings_for_keys(keys)],  # type: ignore[attr-defined]
             [b.handler for b in registry.get_bindings_starting_with_keys(keys)])  # type: ignore[attr-defined]
            for keys in KEYS]


def test_same_bindings_as_prompt_toolkit_in_each_mode_and_focus(session: PromptSession[str]) -> None:
    app = session.app
    own = app.key_processor._bindings
    assert look_up_keys_once(app)
    listed = app.key_processor._bindings
    assert listed is not own
    with set_app(app):
        for mode in (EditingMode.EMACS, EditingMode.VI):
            app.editing_mode = mode
            for vi_mode in (InputMode.INSERT, InputMode.NAVIGATION):
                app.vi_state.input_mode = vi_mode
                assert found(listed) == found(own)
        # Another window focused (Ctrl-R's search field): its own bindings come first.
        app.layout.focus(session.search_buffer)
        assert found(listed) == found(own)


def test_a_changed_layout_is_listed_again(session: PromptSession[str]) -> None:
    """A dynamic container's child replaced (the prompt's optional frame has one): the new controls count."""
    app = session.app
    own = app.key_processor._bindings
    look_up_keys_once(app)
    listed = app.key_processor._bindings
    extra = Window(FormattedTextControl("extra"))
    with set_app(app):
        before = found(listed)
        dynamic = next(c for c in app.layout.walk() if isinstance(c, DynamicContainer))
        original = dynamic.get_container
        dynamic.get_container = lambda: HSplit([original(), extra])
        assert extra.content in set(app.layout.find_all_controls())
        assert listed._controls() is not None and extra.content in listed._controls()
        assert found(listed) == found(own)
        dynamic.get_container = original
        assert extra.content not in listed._controls()
        assert found(listed) == before


def test_other_prompt_toolkit_internals_leave_the_lookup_alone(session: PromptSession[str]) -> None:
    app = session.app
    app.key_processor._bindings = app.key_processor._bindings._key_bindings  # not the registry it knows
    assert not look_up_keys_once(app)


# -- console.shell.prompt_costs: the same events attached, the same signals valid ------------------


def _attached(app: object) -> set[int]:
    return {id(ev) for ev in app._invalidate_events}  # type: ignore[attr-defined]


def test_invalidate_events_gathered_once_per_shape_are_the_ones_prompt_toolkit_gathers(
        session: PromptSession[str]) -> None:
    app = session.app
    with set_app(app):
        Application._update_invalidate_events(app)  # prompt_toolkit's own, for reference
        own = _attached(app)
        for ev in app._invalidate_events:
            ev -= app._invalidate_handler
        app._invalidate_events = []
        skip_repeated_work(app)
        app._update_invalidate_events()
        assert _attached(app) == own
        kept = app._invalidate_events
        app._update_invalidate_events()  # the same shape: nothing gathered again, the same list attached
        assert app._invalidate_events is kept
        # Each event fired reaches the application's handler (a redraw is asked for).
        asked: list[object] = []
        app._invalidate_handler = lambda sender: asked.append(sender)  # type: ignore[method-assign]
        app._invalidate_events = []  # as prompt_toolkit leaves them at the application's end
        app._update_invalidate_events()
        assert _attached(app) == own
        for ev in app._invalidate_events:
            ev.fire()
        assert len(asked) >= len(own), "every control's event reaches the application"
        # Another child in the dynamic container: gathered again, the new control's events included.
        extra = Window(FormattedTextControl("extra"))
        dynamic = next(c for c in app.layout.walk() if isinstance(c, DynamicContainer))
        original = dynamic.get_container
        dynamic.get_container = lambda: HSplit([original(), extra])
        before = app._invalidate_events
        app._update_invalidate_events()
        assert app._invalidate_events is not before
        dynamic.get_container = original


def test_valid_signals_are_computed_once_and_stay_the_same_set() -> None:
    expected = set(signal.valid_signals())
    with create_pipe_input() as pipe:
        skip_repeated_work(PromptSession(input=pipe, output=DummyOutput()).app)
    first = signal.valid_signals()
    assert set(first) == expected and signal.valid_signals() is first
    assert signal.SIGWINCH in first and signal.SIGINT in first
