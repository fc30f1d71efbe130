"""Issue 12 finding 3, the connection kind: no flood of connections keeps an admin or a site out.

Idle TCP sockets (nothing sent) and half-open TLS handshakes from the very address the real
clients use; a full admin port; the per-identity cap at its default. A real server on loopback
with a small admin port (20 connections, 8 handshakes) and a long handshake timeout, so only
the first-byte rule and eviction can be what lets the real clients in.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from console.flare_api import AuthenticationError, new_secure_session
from console.wire.gate import EVICTABLE_AFTER, ConnectionLimits, PortGate

from attacks import RawPeer, admin_port, record
from conftest import ADMIN, ServerProcess, SiteProcess, make_project, set_connection_limits, wait_until

MEMBER, LEAD = "member@example.com", "lead@example.com"
LIMITS = {"max_connections": 20, "max_handshakes": 8, "max_handshakes_per_peer": 8, "handshake_timeout": 60}


@pytest.fixture(scope="module")
def gatehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("admission")
    project = make_project(root, extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
                                        {"name": LEAD, "type": "admin", "org": "example", "role": "lead"}])
    set_connection_limits(project.server_kit, **LIMITS)
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        site_port = json.loads((project.server_kit / "startup" / "fed_server.json").read_text())[
            "servers"][0]["fed_learn_port"]
        yield {"project": project, "admin_port": admin_port(project.admin_kit), "site_port": site_port}
    finally:
        server.stop()
        server.kill()


def _sockets(port: int, count: int, hello: bool = False, source: str | None = None) -> list[socket.socket]:
    """``count`` connections from the clients' own address (or from ``source``, another
    loopback address) that send nothing (or, with ``hello``, the first bytes of a ClientHello
    and then nothing)."""
    opened = []
    for _ in range(count):
        if source is None:
            sock = socket.create_connection(("localhost", port), timeout=5)
        else:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        if hello:
            sock.sendall(bytes.fromhex("160301"))
        opened.append(sock)
    return opened


def _dropped(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionError, TimeoutError, OSError):
        return True


@pytest.mark.timeout(60)
def test_a_silent_peer_is_dropped_after_the_first_byte_timeout(gatehouse) -> None:
    socks = _sockets(gatehouse["admin_port"], 3) + _sockets(gatehouse["site_port"], 3)
    started = time.monotonic()
    try:
        for sock in socks:
            sock.settimeout(30)  # the handshake timeout is 60 s here: only the first-byte rule drops them
            assert _dropped(sock)
        waited = time.monotonic() - started
        record("silent sockets", first_byte_timeout_s=ConnectionLimits().first_byte_timeout,
               dropped_after_s=round(waited, 2))
        assert waited < 30
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.timeout(120)
def test_idle_and_half_open_sockets_never_keep_out_a_login_or_a_site(gatehouse) -> None:
    project, flood = gatehouse["project"], []
    site = SiteProcess(project.kit("site-1"))
    try:
        for port in (gatehouse["admin_port"], gatehouse["site_port"]):
            flood += _sockets(port, 40, source="127.0.0.2") + _sockets(port, 40, hello=True, source="127.0.0.2")
            flood += _sockets(port, 40) + _sockets(port, 40, hello=True)
        started = time.monotonic()
        with new_secure_session(ADMIN, str(project.admin_kit), timeout=10) as admin:
            assert admin.list_jobs() == []
            login_s = time.monotonic() - started
            started = time.monotonic()
            site.start(timeout=30)
            site_s = time.monotonic() - started
            wait_until(lambda: "site-1" in [c.name for c in admin.get_connected_client_list()], 20, "site-1 online")
        record("idle and half-open sockets", sockets=len(flood), addresses=2,
               login_s=round(login_s, 2), site_connect_s=round(site_s, 2))
        # Logging in within the session's 10 s at all is the point: it used to fail after 10 s.
    finally:
        site.stop()
        site.kill()
        for sock in flood:
            sock.close()


@pytest.mark.timeout(120)
def test_a_full_admin_port_never_stops_a_site_and_one_identity_holds_16(gatehouse) -> None:
    project, peers = gatehouse["project"], []
    site = SiteProcess(project.kit("site-2"))
    cap = ConnectionLimits().max_per_identity
    try:
        for _ in range(cap):  # the kit sets no max_per_identity: the default holds
            peers.append(RawPeer(project.admin_kit))
            assert peers[-1].login()["ok"]
        with pytest.raises(AuthenticationError, match=f"already holds {cap} connections.*max_per_identity"):
            new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        members = [RawPeer(project.kit(MEMBER)) for _ in range(LIMITS["max_connections"] - cap)]
        peers += members  # the admin port is full now: 16 + 4 = 20
        assert all(member.login()["ok"] for member in members)
        with pytest.raises((ConnectionError, OSError, ssl.SSLError)):
            peers.append(RawPeer(project.kit(LEAD)))
            peers[-1].login()
        started = time.monotonic()
        site.start(timeout=30)  # the site port has a budget of its own
        record("full admin port", admin_connections=LIMITS["max_connections"], per_identity_default=cap,
               site_connect_s=round(time.monotonic() - started, 2))
    finally:
        site.stop()
        site.kill()
        for peer in peers:
            peer.close()


def test_the_oldest_handshake_makes_room_and_established_connections_stay() -> None:
    limits = ConnectionLimits(max_connections=3, max_handshakes=2, max_handshakes_per_peer=2)
    evicted: list[str] = []
    now = [0.0]
    gate = PortGate("admin", limits.max_connections, limits.max_per_peer, limits, lambda why, peer: None,
                    clock=lambda: now[0])
    first = gate.open("a", lambda: evicted.append("first"))
    second = gate.open("b", lambda: evicted.append("second"))
    assert first is not None and second is not None
    gate.handshake_done(first)  # authenticated now: never evicted
    third = gate.open("a", lambda: evicted.append("third"))
    assert third is not None and evicted == [] and gate.connections == 3
    assert gate.open("c", lambda: None) is None  # port full, every handshake too young to evict
    now[0] += EVICTABLE_AFTER
    fourth = gate.open("c", lambda: evicted.append("fourth"))  # port full: the oldest handshake goes
    assert fourth is not None and evicted == ["second"] and gate.connections == 3
    gate.close(second)  # its own close after eviction counts nothing twice
    assert gate.connections == 3
    for ticket in (third, fourth):
        gate.handshake_done(ticket)
    assert gate.open("d", lambda: None) is None  # every place authenticated: refused
