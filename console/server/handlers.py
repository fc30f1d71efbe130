"""Binding of server handlers to command names from the registry."""

from __future__ import annotations

from collections.abc import Callable

from console.commands import CATALOG
from console.wire.request_context import Handler

HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as the server side of command ``name``."""
    if name not in CATALOG:
        raise KeyError(f"handler for {name!r}, which is not in the command registry")

    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise KeyError(f"two handlers for {name!r}")
        HANDLERS[name] = handler
        return handler

    return register
