"""A raw TLS connection to a server's admin port with a kit's certificate, its frames written and read by hand.

For the benchmarks and tests that play a peer our client never is: a flood of requests, a site's
certificate on the admin port, request JSON sent as UTF-8 (as a hostile peer may send it). Blocking,
one request at a time; the frame layout is ``console.wire.frames``' (two big-endian lengths, then the
JSON header and the body). Shared by benchmarks/bench_audit_flood.py and the tests (tests/attacks.py,
test_audit.py, test_wire.py put this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
from pathlib import Path
from typing import Any


def admin_port(kit: Path) -> int:
    """The admin port a kit's ``fed_admin.json`` names."""
    return json.loads((kit / "startup" / "fed_admin.json").read_text())["admin"]["port"]


def tls_to(kit: Path, port: int | None = None, timeout: float = 10.0) -> ssl.SSLSocket:
    """A TLS connection to ``port`` (default: the kit's admin port) on localhost with ``kit``'s
    certificate (any kit's: a site's too); the server's certificate is checked against the kit's root CA."""
    startup = kit / "startup"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(startup / "rootCA.pem"))
    ctx.load_cert_chain(str(startup / "client.crt"), str(startup / "client.key"))
    raw = socket.create_connection(("localhost", admin_port(kit) if port is None else port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="server")


def exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    """``size`` bytes from ``sock``; ConnectionError when the server closes it first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def read_header(sock: ssl.SSLSocket) -> dict[str, Any]:
    """The next frame's JSON header (its body read and dropped)."""
    header_len, body_len = struct.unpack(">II", exactly(sock, 8))
    return json.loads(exactly(sock, header_len + body_len)[:header_len])


def ask(sock: ssl.SSLSocket, request_id: int, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    """One request frame (its JSON as UTF-8, not ASCII escapes) and its answer's header."""
    raw = json.dumps({"k": "req", "id": request_id, "cmd": cmd, "args": args}, ensure_ascii=False).encode()
    sock.sendall(struct.pack(">II", len(raw), 0) + raw)
    return read_header(sock)


def wide_args() -> dict[str, str]:
    """Request arguments of ~8 KB of non-ASCII text, which JSON's escapes (6 characters each) make a much
    longer line: the audit log's bound on a line is what they test."""
    return {f"{i:02d}" + "\u00e9" * 10: "\u00e9" * 120 for i in range(30)}
