"""A key's bindings found without walking the whole layout for every key pressed.

Owns one speed-up of prompt_toolkit's key handling for an application whose layout never
changes shape (the shell's prompt); which keys do what stays ``keys.py``'s and prompt_toolkit's.

Why: for each key, prompt_toolkit's application looks up the bindings that apply twice
(``_CombinedRegistry``: the matching ones, then whether a longer match could follow), and each
look-up first walks the whole layout to list its controls, only to key a cache with them. For
the prompt's layout (about 40 controls: toolbars, both completion menus) that walk is 0.2 ms on
a 2-core machine, so 0.4 ms of the 0.5 ms between Enter and the command going out (measured
with timestamps in the console on FLARE, where a round trip is 8-10 ms).

The controls only change where a ``DynamicContainer`` returns another child (``HSplit``,
``VSplit``, ``FloatContainer``, ``ConditionalContainer`` and ``Window`` keep theirs: a hidden
part is still a child). So the controls are listed once, and again only when one of the
layout's dynamic containers (the prompt has one, in its optional frame) returns another child
than it did. A layout with any other container (one of our own) keeps prompt_toolkit's own
look-up, as does a prompt_toolkit whose internals differ from the ones this was written
against (3.0.4x-3.0.5x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.layout import (
    ConditionalContainer,
    DynamicContainer,
    FloatContainer,
    HSplit,
    VSplit,
    Window,
)
from prompt_toolkit.layout.containers import Container
from prompt_toolkit.layout.layout import Layout, walk

try:
    from prompt_toolkit.application.application import _CombinedRegistry
except ImportError:  # another prompt_toolkit: its own look-up stays
    _CombinedRegistry = None  # type: ignore[assignment,misc]

#: Containers whose ``get_children`` returns the same children for their whole life.
_FIXED_CHILDREN = {cls.get_children for cls in (HSplit, VSplit, FloatContainer, ConditionalContainer, Window)}


@dataclass(frozen=True)
class LayoutShape:
    """What the controls of a layout were listed from: its root and what its dynamic containers returned."""

    root: Container
    dynamic: tuple[tuple[DynamicContainer, Container], ...]
    controls: frozenset[Any] | None  # None: a container that may change its children otherwise

    def holds(self, root: Container) -> bool:
        return root is self.root and all(d.get_children()[0] is child for d, child in self.dynamic)


def shape_of(layout: Layout) -> LayoutShape:
    dynamic = []
    for container in walk(layout.container):
        if isinstance(container, DynamicContainer):
            dynamic.append((container, container.get_children()[0]))
        elif type(container).get_children not in _FIXED_CHILDREN:
            return LayoutShape(layout.container, (), None)
    return LayoutShape(layout.container, tuple(dynamic), frozenset(layout.find_all_controls()))


if _CombinedRegistry is not None:
    class _FixedLayoutRegistry(_CombinedRegistry):  # type: ignore[misc,valid-type]
        """prompt_toolkit's own registry, with the controls of a fixed layout listed once."""

        def __init__(self, app: Application[Any]) -> None:
            super().__init__(app)
            self._shape: LayoutShape | None = None

        def _controls(self) -> frozenset[Any] | None:
            """The layout's controls, or None when its shape may change (then walked at each key)."""
            layout = self.app.layout
            if self._shape is None or not self._shape.holds(layout.container):  # another layout or child
                self._shape = shape_of(layout)
            return self._shape.controls

        @property
        def _key_bindings(self) -> Any:
            controls = self._controls()
            if controls is None:
                return super()._key_bindings
            current_window = self.app.layout.current_window
            return self._cache.get((current_window, controls),
                                   lambda: self._create_key_bindings(current_window, list(controls)))


def look_up_keys_once(app: Application[Any]) -> bool:
    """Give ``app`` the look-up above; False (nothing changed) where prompt_toolkit's internals differ."""
    processor = app.key_processor
    if _CombinedRegistry is None or type(getattr(processor, "_bindings", None)) is not _CombinedRegistry:
        return False
    processor._bindings = _FixedLayoutRegistry(app)
    return True
