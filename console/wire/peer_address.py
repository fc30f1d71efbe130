"""A connection's peer address as one text: ``host:port``.

asyncio gives a socket's peer as a tuple (``(host, port)``, or ``(host, port, flowinfo, scope)``
for IPv6); the log and the server's audit trail show it as ``127.0.0.1:35308`` alike, never as a
tuple's repr. Used by ``console.wire.tls`` (refused handshakes) and ``console.server.audit``.
"""

from __future__ import annotations

from typing import Any


def peer_address(peer: Any) -> str | None:
    """``host:port`` for an address tuple (or list); other text as it is (``str``); None for None."""
    if isinstance(peer, tuple | list) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return None if peer is None else str(peer)


__all__ = ["peer_address"]
