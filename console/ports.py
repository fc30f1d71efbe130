"""Picking a free TCP port on loopback for a part that binds it later (a demo, a POC, a test).

A port handed out by ``bind(('127.0.0.1', 0))`` comes from the kernel's ephemeral range, the
same range every outgoing connection takes its local port from: between the pick and the
server's own bind, any client on the machine may take it ("address already in use"). Ports
are therefore picked at random below that range, where only explicit binds go.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _ephemeral_start() -> int:
    """First port of the kernel's ephemeral range (Linux; 32768 where it cannot be read)."""
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A port on ``host`` that nothing listens on now, outside the ephemeral range.

    Raises ``OSError`` when none of ``attempts`` random picks could be bound.
    """
    top = _ephemeral_start()
    if top - _LOWEST < 1000:  # an unusual range: fall back to the kernel's pick
        with socket.socket() as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    for _ in range(attempts):
        port = random.randrange(_LOWEST, top)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port found on {host} between {_LOWEST} and {top}")
