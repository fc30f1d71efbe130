"""The seam between the console and an engine: one interface, two backends.

Owns the ``Backend`` interface (``base``), telling kits apart (``kits``), opening the right
backend for a kit (``opening``), ours over ``AsyncSession`` (``ours``) and NVIDIA FLARE's
over its own ``flare_api`` Session (``nvflare``, with its parts in ``nvflare_*``; a log followed on
FLARE placed by ``log_window`` and fetched by ``log_catch_up``). The shell and batch mode talk to a
``Backend`` only. Must not import the shell; must not import ``nvflare`` at import time
(it is the optional ``[nvflare]`` extra).
"""

from console.backends.base import Backend, EventListener, LogLines, LogStream, MonitorCallback, StateListener
from console.backends.kits import KitInfo, KitRole, admin_kit, detect_kit
from console.backends.opening import MissingExtra, open_backend

__all__ = [
    "Backend",
    "EventListener",
    "KitInfo",
    "KitRole",
    "LogLines",
    "LogStream",
    "MissingExtra",
    "MonitorCallback",
    "StateListener",
    "admin_kit",
    "detect_kit",
    "open_backend",
]
