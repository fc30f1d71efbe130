"""A local NVIDIA FLARE POC (server + sites on loopback): prepared, started, waited for, stopped.

Owns: the POC's workspace and ``HOME`` (FLARE writes ``~/.nvflare``), its free loopback port,
``nvflare poc prepare/start/stop`` run as child processes, the wait until the sites are connected,
and stopping every FLARE process it started, also on failure, Ctrl-C or a killed parent (a reaper
process watches for that). Also a cached venv with FLARE in it for callers whose own interpreter
lacks it (tests, benchmarks). Parts: ``lifecycle`` (start, wait, stop), ``workspace`` (the folder, the
project file, the environment), ``flare_scripts`` (programs run in FLARE's interpreter), ``processes``
(marked processes and the reaper), ``venv`` and ``errors``.

Must not: import ``nvflare`` (everything FLARE runs in the chosen interpreter's child processes, so
this sub-package works without the ``[nvflare]`` extra and never pulls FLARE into the core), or
touch the console, our server or our kits.
"""

from __future__ import annotations

from console.poc.errors import PocError
from console.poc.lifecycle import FlarePoc, flare_python, running_poc, start_poc
from console.poc.processes import MARKER_VAR, marked_pids
from console.poc.workspace import NVFLARE_ADMIN

__all__ = ["MARKER_VAR", "NVFLARE_ADMIN", "FlarePoc", "PocError", "flare_python", "marked_pids",
           "running_poc", "start_poc"]
