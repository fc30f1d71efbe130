"""Binding of server handlers to command names from the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.commands import CATALOG
from console.server.audit import UNCHANGED
from console.wire.request_context import Handler, RequestContext

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


def checked_only(ctx: RequestContext) -> dict[str, Any]:
    """The answer of a destructive command sent with ``check_only`` (``catalog.CHECK_ONLY``) once its checks
    passed: nothing done, and its audit line says so (a read, not a change)."""
    ctx.notes[UNCHANGED] = "checked only (the console's question): nothing done"
    return {"check_only": True}
