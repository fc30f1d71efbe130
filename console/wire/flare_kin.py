"""Our FLARE API classes as subclasses of NVIDIA FLARE's own, once FLARE's module is loaded.

A script written for FLARE keeps ``from nvflare.fuel.flare_api.api_spec import JobNotFound`` and changes
only its session import to ``console.flare_api``: its ``except JobNotFound`` must catch what our session
raises, on either engine. So when FLARE's module is (or gets) imported in this process, each of our
classes takes FLARE's class of the same name as its base. Nothing of FLARE is imported here: FLARE is an
optional extra, and importing it costs start time (its package imports its simulator) that the console on
our own engine must not pay. An import hook on ``sys.meta_path`` waits for the module instead; it only
compares names until then.

Why bases are swapped after the fact: ``except`` matches on the real MRO (no ``__subclasscheck__``), and
our classes exist before FLARE's may. CPython allows the swap when the old and new base have the same
layout, hence the stand-in bases here (a heap class adds ``__weakref__`` as FLARE's classes do).
FLARE's abstract classes (``SessionSpec``) take ours as a registered virtual subclass instead.
Owns: the stand-in bases and the hook. Must not touch: what our classes do (only their bases).
"""

from __future__ import annotations

import sys
from abc import ABCMeta
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.abc costs start time (its resources readers): the hook is duck-typed instead
    from importlib.machinery import ModuleSpec


class KinException(Exception):
    """Stand-in base of an exception of ours, until FLARE's class of the same name takes its place."""


class KinConnectionError(ConnectionError):
    """Stand-in base of our ConnectionError kinds (FLARE's NoConnection is a ConnectionError)."""


class Kin:
    """Stand-in base of a value class of ours (TargetType, ServerInfo, ...)."""


_STAND_INS = (KinException, KinConnectionError, Kin)

#: FLARE's module name -> {class name in it: our class}, waiting for that module.
_WAITING: dict[str, dict[str, type]] = {}


def adopt(module: str, ours: dict[str, type]) -> None:
    """Make each of ``ours`` (name in FLARE's ``module`` -> our class) a subclass of FLARE's class of that
    name: now if ``module`` is loaded, else the moment it is. Our class must derive from a stand-in base
    here (its swap needs an equal layout), or FLARE's class be an ABC (then ours is registered)."""
    _WAITING.setdefault(module, {}).update(ours)
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__spec__", None) is not None:
        _graft(loaded)
    elif _WATCHER not in sys.meta_path:
        sys.meta_path.insert(0, _WATCHER)


def _graft(module: ModuleType) -> None:
    for name, ours in _WAITING.get(module.__name__, {}).items():
        theirs = getattr(module, name, None)
        if not isinstance(theirs, type) or issubclass(ours, theirs):
            continue
        if isinstance(theirs, ABCMeta):
            theirs.register(ours)
            continue
        # The stand-in goes; whatever else ours derives from (a builtin such as ValueError) stays after it.
        kept = tuple(base for base in ours.__bases__ if base not in _STAND_INS and not issubclass(theirs, base))
        ours.__bases__ = (*kept, theirs)


class _Grafting:
    """FLARE's own loader of a watched module, grafting our classes once the module has run."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _graft(module)

    def __getattr__(self, name: str) -> object:  # get_data, get_filename, ...: FLARE's loader answers
        return getattr(self._inner, name)


class _Watcher:
    """Finds nothing itself: for a watched module, takes the spec the other finders give and wraps its loader."""

    def find_spec(self, fullname: str, path: object, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in _WAITING:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Grafting(spec.loader)
                return spec
        return None


_WATCHER = _Watcher()
