"""Hypothesis throws malformed frames, truncated streams, random JSON and wrong types at both
endpoints of a real server; the server must answer or drop the connection, never crash, and
keep serving a healthy session meanwhile. (A longer campaign: FUZZ_EXAMPLES=5000.)"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.wire.frames import encode_frame

from conftest import PartProcess, Project, Served

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
commands = st.sampled_from(["login", "list_jobs", "get_job_meta", "submit_job", "abort_job", "ls", "shutdown",
                            "download_job", "nonsense", ""]) | st.text(max_size=12)
requests = st.fixed_dictionaries({"k": st.sampled_from(["req", "data", "end", "cancel", "res", "event", "x"]),
                                  "id": st.integers(-5, 5) | json_values, "cmd": commands,
                                  "args": json_values, "stream": st.booleans() | json_values})


def _tls(kit: Path, port: int) -> ssl.SSLSocket:
    startup = kit / "startup"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(startup / "rootCA.pem"))
    ctx.load_cert_chain(str(startup / "client.crt"), str(startup / "client.key"))
    raw = socket.create_connection(("localhost", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname="server")


def _throw(kit: Path, port: int, payload: bytes) -> None:
    """Send ``payload``, then read until the server answers enough or closes; both are fine."""
    try:
        with _tls(kit, port) as sock:
            sock.sendall(payload)
            sock.settimeout(0.15)
            try:
                while sock.recv(65536):
                    pass
            except TimeoutError:
                pass  # it answered (or waits for more) and kept the connection: also fine
    except (ssl.SSLError, ConnectionError, OSError):
        pass


@pytest.fixture
def project(served: Served) -> Project:
    """The module's one server (conftest ``served``): every campaign throws at the same server,
    which must keep serving through all of them."""
    return served.project


@pytest.fixture
def server(served: Served) -> PartProcess:
    return served.server


@pytest.fixture
def ports(project) -> dict[str, int]:
    server = json.loads((project.server_kit / "startup" / "fed_server.json").read_text())["servers"][0]
    return {"admin": server["admin_port"], "site": server["fed_learn_port"]}


def _healthy(session, server) -> None:
    assert server.process.poll() is None, server.stderr
    assert session.list_jobs() == []


def test_random_bytes_and_truncated_streams(session, server, project, ports) -> None:
    @FUZZ
    @given(st.binary(max_size=300), st.sampled_from(["admin", "site"]))
    def throw(payload: bytes, endpoint: str) -> None:
        kit = project.admin_kit if endpoint == "admin" else project.kit("site-1")
        _throw(kit, ports[endpoint], payload)

    throw()
    _healthy(session, server)


def test_well_framed_nonsense(session, server, project, ports) -> None:
    @FUZZ
    @given(st.lists(requests, min_size=1, max_size=4), st.booleans(), st.binary(max_size=64))
    def throw(headers: list[dict], login_first: bool, body: bytes) -> None:
        frames = b""
        if login_first:
            frames += encode_frame({"k": "req", "id": 99, "cmd": "login", "args": {"username": "admin@example.com"}})
        for header in headers:
            frames += encode_frame(header, body)
        _throw(project.admin_kit, ports["admin"], frames)

    throw()
    _healthy(session, server)


def test_lying_lengths(session, server, project, ports) -> None:
    @FUZZ
    @given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=64))
    def throw(header_len: int, body_len: int, rest: bytes) -> None:
        _throw(project.admin_kit, ports["admin"], struct.pack(">II", header_len, body_len) + rest)

    throw()
    _healthy(session, server)
