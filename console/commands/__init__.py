"""The one command registry.

Owns what a command *is*: its name, parameters (with kinds that drive validation on the
server and, in the shell, parsing and completion), the right it needs, its help text and
whether it is destructive, and which engines (ours, NVIDIA FLARE) offer it. The server binds a handler to each server-side entry by name
and refuses to start if one is missing; the shell builds its grammar and help from the
same entries. Must not import the server, the shell or anything that does I/O.
"""

from console.commands.catalog import CATALOG, NAMES, SETTINGS
from console.commands.spec import (
    BOTH_ENGINES,
    ArgError,
    CommandSpec,
    Engine,
    Output,
    Param,
    ParamKind,
    Right,
    Transfer,
    Where,
)

__all__ = [
    "CATALOG",
    "NAMES",
    "SETTINGS",
    "BOTH_ENGINES",
    "ArgError",
    "CommandSpec",
    "Engine",
    "Output",
    "Param",
    "ParamKind",
    "Right",
    "Transfer",
    "Where",
]
