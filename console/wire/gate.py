"""Admission of connections: caps on connections in total, per peer address and per identity,
and on TLS handshakes under way, shared by the admin and the site endpoints of one server.

A TLS handshake costs memory before anyone is authenticated, so an anonymous peer could
otherwise open thousands and hold them until the handshake timeout. Past a cap the new
connection is closed at once; everyone already connected keeps being served. Refusals are
logged once per ``LOG_EVERY_SECONDS`` with a count, so a flood cannot fill the disk with log lines.

Owns only counting; the endpoints decide what a refusal means for the peer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger("console.wire.gate")

LOG_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    """Defaults fit one machine serving a few hundred admin sessions and sites (the spec's 200
    concurrent sessions come from one address and one identity, so the per-peer and per-identity
    caps sit above that)."""

    max_connections: int = 1024
    max_per_peer: int = 256
    max_per_identity: int = 256
    max_handshakes: int = 64
    max_handshakes_per_peer: int = 32
    #: Requests one connection may have open at once (see serving.MAX_IN_FLIGHT).
    max_in_flight: int = 64


class ConnectionGate:
    def __init__(self, limits: ConnectionLimits | None = None) -> None:
        self.limits = limits or ConnectionLimits()
        self._by_peer: Counter[str] = Counter()
        self._by_identity: Counter[str] = Counter()
        self._handshakes: Counter[str] = Counter()
        self.connections = 0
        self.refused = 0
        self._last_log = 0.0
        self._unlogged = 0

    @property
    def handshakes(self) -> int:
        return sum(self._handshakes.values())

    def _refuse(self, why: str, peer: str) -> str:
        self.refused += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_SECONDS:
            log.warning("refused %d connection(s) in the last %.0f s, the latest from %s: %s", self._unlogged,
                        LOG_EVERY_SECONDS, peer, why)
            self._last_log, self._unlogged = now, 0
        return why

    def open(self, peer: str) -> str | None:
        """Count a new connection from ``peer`` (its address) and its handshake; the reason it is
        refused, or None. A None must be matched by ``handshake_done`` and later ``close``."""
        limits = self.limits
        if self.connections >= limits.max_connections:
            return self._refuse(f"{limits.max_connections} connections already open", peer)
        if self._by_peer[peer] >= limits.max_per_peer:
            return self._refuse(f"{limits.max_per_peer} connections already open from {peer}", peer)
        if self.handshakes >= limits.max_handshakes:
            return self._refuse(f"{limits.max_handshakes} TLS handshakes already under way", peer)
        if self._handshakes[peer] >= limits.max_handshakes_per_peer:
            return self._refuse(f"{limits.max_handshakes_per_peer} TLS handshakes already under way from {peer}",
                                peer)
        self.connections += 1
        self._by_peer[peer] += 1
        self._handshakes[peer] += 1
        return None

    def handshake_done(self, peer: str) -> None:
        self._handshakes[peer] -= 1
        if self._handshakes[peer] <= 0:
            del self._handshakes[peer]

    def claim_identity(self, identity: str, peer: str) -> str | None:
        """Count an authenticated identity (certificate CN); the reason it is refused, or None."""
        if self._by_identity[identity] >= self.limits.max_per_identity:
            return self._refuse(f"{identity} already holds {self.limits.max_per_identity} connections", peer)
        self._by_identity[identity] += 1
        return None

    def release_identity(self, identity: str) -> None:
        self._by_identity[identity] -= 1
        if self._by_identity[identity] <= 0:
            del self._by_identity[identity]

    def close(self, peer: str) -> None:
        self.connections -= 1
        self._by_peer[peer] -= 1
        if self._by_peer[peer] <= 0:
            del self._by_peer[peer]
