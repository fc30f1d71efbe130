"""Admission of connections: caps on connections in total, per peer address and per identity,
and on TLS handshakes under way, each endpoint (admin port, site port) with its own budget.

A TLS handshake costs memory before anyone is authenticated, so an anonymous peer could
otherwise open thousands and hold them. Three rules keep such a flood from locking anyone out:
a peer that sends nothing within ``first_byte_timeout`` (or does not finish within
``handshake_timeout``) is dropped; when a handshake cap is reached, the *oldest* handshake under
way is evicted to make room for the new one (a real client finishes in milliseconds, so it is
never the oldest for long); and the site port's budget is separate from the admin port's, so
no flood of admin connections, authenticated or not, can keep a site from reconnecting.
Past a connection cap the new connection is closed at once; everyone already connected keeps
being served. Refusals are logged once per ``refusal_log_seconds`` with a count, so a flood
cannot fill the disk with log lines.

Owns only counting and choosing whom to evict; the endpoints run the handshake
(``console.wire.admission``) and decide what a refusal means for the peer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from console.wire.tls import HandshakeFailureLog

log = logging.getLogger("console.wire.gate")

#: A handshake is evicted only once it has been under way this long (seconds): a burst of real
#: clients (200 sessions opened at once from one address) is refused, and the clients retry, as
#: before, rather than being cut off mid-handshake; a flood's sockets are evictable within a second.
EVICTABLE_AFTER = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """``connection_limits`` in fed_server.json; any field may be given.

    Defaults fit one machine serving a few hundred admin sessions and sites. ``max_per_identity``
    is small on purpose: a session (Python API or shell) is one multiplexed connection, so 16 is
    plenty for one person, and a leaked low-privilege kit cannot fill the admin port (64 kits
    would be needed). The load benchmark's 200 sessions of one admin raise it in their kit.
    """

    #: Admin port: connections in total, per peer address, per identity (certificate CN).
    max_connections: int = 1024
    max_per_peer: int = 256
    max_per_identity: int = 16
    #: Site port: its own total, apart from the admin port's; a registered site holds one place
    #: per site name, apart from these. Per address (sites share addresses behind NAT: a generous
    #: one), and per site name while the connection logs in: past ``max_logins_per_site`` the
    #: oldest of that site's is dropped (a real site answers its login in milliseconds), so a
    #: flood with one site's key holds at most that many places and cannot keep the site out.
    max_site_connections: int = 512
    max_site_per_peer: int = 128
    max_logins_per_site: int = 32
    #: TLS handshakes under way, per port and per peer address on that port; past either cap
    #: the oldest one is evicted.
    max_handshakes: int = 64
    max_handshakes_per_peer: int = 32
    #: Seconds a new connection may stay silent before its first byte, and may take to finish
    #: the TLS handshake.
    first_byte_timeout: float = 2.0
    handshake_timeout: float = 10.0
    #: Requests one connection may have open at once (see serving.MAX_IN_FLIGHT).
    max_in_flight: int = 64
    #: Requests one identity may have open at once over all its connections, and the bytes of their
    #: headers (console.wire.request_budget): what waiting requests hold is bounded per identity.
    max_open_requests_per_identity: int = 256
    max_open_request_bytes_per_identity: int = 1 << 20
    #: What a site streams to the server (a task's result, a job's workspace) and what an admin
    #: uploads (submit_job): once its head has come, it may lag at most this many seconds behind
    #: this many bytes a second (console.wire.pace).
    transfer_floor_seconds: float = 60.0
    min_transfer_bytes_per_second: int = 128 << 10
    #: Bytes of uploads under way at once per identity, over all its connections
    #: (console.wire.upload_budget); one upload of ``max_upload_bytes`` always fits.
    max_upload_bytes_per_identity: int = 4 << 30
    #: After abort_job, what a job still awaits of its sites (their answers to abort_job or end_job,
    #: their workspaces) must be in within this many seconds of the abort, or it is cut off
    #: (console.server.deployment): an aborted job is final within it, whatever a site does.
    abort_wait_seconds: float = 10.0
    #: A running job waits this many seconds for a site whose link dropped to connect again (within
    #: the task's timeout) before it counts the site lost (console.server.dropped_sites).
    site_reconnect_grace_seconds: float = 60.0
    #: Refused connections, failed TLS handshakes and sites that do not log in: the first of a
    #: quiet spell is logged at once, the rest summed up in one line per this many seconds.
    refusal_log_seconds: float = 10.0
    #: The audit trail's share of one identity (certificate CN): bytes of lines it may write at
    #: once, and the rate that allowance comes back at; past it its lines are summed up once per
    #: ``refusal_log_seconds`` (console.server.audit).
    audit_burst_bytes: int = 1 << 20
    audit_bytes_per_second: int = 448
    #: What one identity's changes done (submit, clone, delete, site admin) may write past that
    #: share, in compact lines; past it too, the summary names the jobs and sites they changed.
    audit_change_burst_bytes: int = 64 << 10
    audit_change_bytes_per_second: int = 48


class Ticket:
    """One accepted TCP connection, counted from accept until ``PortGate.close`` (or eviction)."""

    __slots__ = ("peer", "evict", "evicted", "shaking", "counted", "opened")

    def __init__(self, peer: str, evict: Callable[[], None], opened: float) -> None:
        self.peer = peer
        self.opened = opened
        self.evict = evict
        self.evicted = False
        self.shaking = True
        self.counted = True


class PortGate:
    """The budget of one endpoint; not thread-safe (one event loop)."""

    def __init__(self, port: str, max_connections: int, max_per_peer: int, limits: ConnectionLimits,
                 refused: Callable[[str, str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.clock = clock
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.limits = limits
        self._refused = refused
        self._by_peer: Counter[str] = Counter()
        self._pending: dict[Ticket, None] = {}  # insertion order: the oldest handshake first
        self.connections = 0
        self.evictions = 0

    @property
    def handshakes(self) -> int:
        return len(self._pending)

    def _oldest(self, peer: str | None) -> Ticket | None:
        """The oldest handshake under way (from ``peer``), if it is old enough to evict."""
        oldest = next((t for t in self._pending if peer is None or t.peer == peer), None)
        return oldest if oldest is not None and self.clock() - oldest.opened >= EVICTABLE_AFTER else None

    def open(self, peer: str, evict: Callable[[], None]) -> Ticket | None:
        """Count a new connection from ``peer`` (its address) and its handshake; None if refused.

        At a cap, the oldest handshake still under way (from ``peer`` for the per-peer caps) is
        evicted to make room if it has taken ``EVICTABLE_AFTER`` already; otherwise the new one is
        refused (a client retries). So a flood of unauthenticated sockets keeps a real client out
        for a second at most, and only authenticated peers can fill a port.
        ``evict`` is called (at most once) to end this connection for a newer one. A ticket must
        be matched by ``handshake_done`` and later ``close``."""
        limits = self.limits
        caps: tuple[tuple[Callable[[], bool], str | None, str], ...] = (
            (lambda: self.connections >= self.max_connections, None,
             f"{self.max_connections} connections already open on the {self.port} port"),
            (lambda: self._by_peer[peer] >= self.max_per_peer, peer,
             f"{self.max_per_peer} connections already open from {peer} on the {self.port} port"),
            (lambda: sum(t.peer == peer for t in self._pending) >= limits.max_handshakes_per_peer, peer,
             f"{limits.max_handshakes_per_peer} TLS handshakes already under way from {peer} on the {self.port} port"),
            (lambda: len(self._pending) >= limits.max_handshakes, None,
             f"{limits.max_handshakes} TLS handshakes already under way on the {self.port} port"),
        )
        for reached, scope, why in caps:  # checked in turn: an eviction may satisfy a later cap
            if not reached():
                continue
            victim = self._oldest(scope)
            if victim is None:
                self._refused(why, peer)
                return None
            self._evict(victim)
        ticket = Ticket(peer, evict, self.clock())
        self._pending[ticket] = None
        self.connections += 1
        self._by_peer[peer] += 1
        return ticket

    def _evict(self, ticket: Ticket) -> None:
        ticket.evicted = True
        self.evictions += 1
        self.close(ticket)  # counted out now: the new connection takes its place at once
        ticket.evict()

    def handshake_done(self, ticket: Ticket) -> None:
        if ticket.shaking:
            ticket.shaking = False
            del self._pending[ticket]

    def close(self, ticket: Ticket) -> None:
        self.handshake_done(ticket)
        if not ticket.counted:
            return
        ticket.counted = False
        self.connections -= 1
        self._by_peer[ticket.peer] -= 1
        if self._by_peer[ticket.peer] <= 0:
            del self._by_peer[ticket.peer]


class ConnectionGate:
    """Both endpoints' budgets (``admin``, ``site``) and the admin port's per-identity count."""

    def __init__(self, limits: ConnectionLimits | None = None, record: Callable[..., None] | None = None) -> None:
        self.limits = limits = limits or ConnectionLimits()
        self.admin = PortGate("admin", limits.max_connections, limits.max_per_peer, limits, self._refuse)
        self.site = PortGate("site", limits.max_site_connections, limits.max_site_per_peer, limits, self._refuse)
        self._by_identity: Counter[str] = Counter()
        # Site connections logging in, by site name, each with how to drop it: oldest first.
        self._site_logins: dict[str, dict[SiteLogin, None]] = {}
        self.refused = 0
        # Summed up as refused handshakes are: the first of a quiet spell, then one line a period,
        # written when the period ends (the last burst of a flood too, not only when another comes).
        self._refusals = HandshakeFailureLog("connection", limits.refusal_log_seconds, logger=log, record=record)

    def _refuse(self, why: str, peer: str) -> None:
        self.refused += 1
        self._refusals.failed(peer, why)

    def claim_identity(self, identity: str, peer: str) -> str | None:
        """Count an authenticated admin identity (certificate CN); the reason it is refused, or None."""
        if self._by_identity[identity] >= self.limits.max_per_identity:
            why = f"{identity} already holds {self.limits.max_per_identity} connections"
            self._refuse(why, peer)
            return why
        self._by_identity[identity] += 1
        return None

    def release_identity(self, identity: str) -> None:
        self._by_identity[identity] -= 1
        if self._by_identity[identity] <= 0:
            del self._by_identity[identity]

    def claim_site_login(self, site: str, peer: str, drop: Callable[[], None]) -> SiteLogin:
        """Count a connection of site ``site`` (its certificate CN) from its handshake until it is
        registered or refused (``release_site_login``). Past ``max_logins_per_site`` the oldest of
        that site's is dropped (``drop`` of it is called) to make room: never refused, so the
        real site always gets its turn, and one key holds at most that many places."""
        logins = self._site_logins.setdefault(site, {})
        if len(logins) >= self.limits.max_logins_per_site:
            oldest = next(iter(logins))
            self.release_site_login(oldest)
            self._refuse(f"{len(logins) + 1} connections of site {site!r} logging in at once "
                         f"(max_logins_per_site {self.limits.max_logins_per_site}): the oldest dropped", peer)
            oldest.drop()
        login = SiteLogin(site, drop)
        logins[login] = None
        return login

    def release_site_login(self, login: SiteLogin) -> None:
        """The connection is registered or gone (again: no effect)."""
        logins = self._site_logins.get(login.site)
        if logins is None or login not in logins:
            return
        del logins[login]
        if not logins:
            del self._site_logins[login.site]

    def site_logins(self, site: str) -> int:
        return len(self._site_logins.get(site, ()))


class SiteLogin:
    """One site connection between its TLS handshake and its registration (``claim_site_login``)."""

    __slots__ = ("site", "drop")

    def __init__(self, site: str, drop: Callable[[], None]) -> None:
        self.site = site
        self.drop = drop
