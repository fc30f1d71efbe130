"""The reference peer: a real NVIDIA FLARE POC (server + sites) on loopback, for the side-by-side runs.

The POC itself (workspace, free port, start, wait for the sites, stop every process) is
``console.poc``; this module runs it in FLARE's own cached venv (``console.poc.venv``, default
``~/.cache/flare-console/nvflare-2.9.0``, ``FLARE_PEER_VENV`` overrides) so that the benchmarks'
interpreter never needs FLARE installed.

Run ``python benchmarks/nvflare_peer.py`` to start a POC, print how to reach it, and stop it on Enter.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.poc import MARKER_VAR, NVFLARE_ADMIN, FlarePoc, marked_pids
from console.poc import running_poc as _running_poc
from console.poc.venv import NVFLARE_VERSION, ensure_flare_venv

PeerPoc = FlarePoc
PEER_ADMIN = NVFLARE_ADMIN
__all__ = ["MARKER_VAR", "NVFLARE_VERSION", "PEER_ADMIN", "PeerPoc", "ensure_venv", "marked_pids", "running_poc"]


def ensure_venv(log=print) -> Path:
    """The peer venv's python, with nvflare installed (about a minute and 240 MB the first time)."""
    return ensure_flare_venv(log=log)


@contextmanager
def running_poc(sites: tuple[str, ...] = ("site-1", "site-2"), log=print) -> Iterator[FlarePoc]:
    """A started NVFlare POC with ``sites`` connected, stopped (every process) when the block ends."""
    with _running_poc(ensure_venv(log), sites, log=log) as poc:
        yield poc


if __name__ == "__main__":
    began = time.monotonic()
    with running_poc() as peer:
        print(f"NVFlare {NVFLARE_VERSION} POC up in {time.monotonic() - began:.1f} s on localhost:{peer.port}")
        print(f"admin kit: {peer.admin_kit}\npython:    {peer.python}")
        print(f"processes: {len(peer.processes())}")
        if sys.stdin.isatty():
            input("Enter stops it. ")
    print("stopped; processes left:", len(marked_pids(peer.marker)))
