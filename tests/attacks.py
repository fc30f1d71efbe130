"""Attack tools for the flood tests: a raw TLS peer that sends without reading, RSS of a process,
and the latency another admin sees. All on loopback, bounded in count and time.

``FLOOD_SCALE`` (default 1) multiplies flood sizes: the suite runs short floods, and
``make reliability`` runs big ones (benchmarks/reliability.py sets it). When
``RELIABILITY_FIGURES`` names a file, each flood appends its figures there as a JSON line
for the report.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import Any

from raw_admin import admin_port, read_header

FLOOD_SCALE = float(os.environ.get("FLOOD_SCALE", "1"))


def scaled(count: int) -> int:
    return max(1, int(count * FLOOD_SCALE))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def answer_time(session: Any, tries: int = 3) -> float:
    """Best of ``tries`` round trips of another admin's ``list_jobs -m 10`` (one hiccup of a
    shared machine does not count; a server that is really stalled fails every try)."""
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        session.list_jobs(limit=10)
        best = min(best, time.perf_counter() - started)
    return best


def record(kind: str, **figures: Any) -> None:
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps({"kind": kind, **figures}) + "\n")


def frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack(">II", len(raw), len(body)) + raw + body


class RawPeer:
    """An admin's TLS connection driven frame by frame; it reads only when told to."""

    def __init__(self, kit: Path, timeout: float = 10.0) -> None:
        startup = kit / "startup"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(startup / "rootCA.pem"))
        ctx.load_cert_chain(str(startup / "client.crt"), str(startup / "client.key"))
        raw = socket.create_connection(("localhost", admin_port(kit)), timeout=timeout)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # a small window: unread replies stay ours
        self.sock = ctx.wrap_socket(raw, server_hostname="server")
        self.name = json.loads((startup / "fed_admin.json").read_text())["admin"]["username"]
        self.next_id = 1

    def login(self) -> dict[str, Any]:
        self.send({"k": "req", "id": 0, "cmd": "login", "args": {"username": self.name}})
        return self.read()

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.sock.sendall(frame(header, body))

    def read(self) -> dict[str, Any]:
        return read_header(self.sock)

    def flood(self, count: int, cmd: str, args: dict[str, Any], *, stream: bool = False,
              stall_seconds: float = 2.0) -> int:
        """Send up to ``count`` requests without reading a reply; how many went out before the
        server stopped reading us (a send blocked ``stall_seconds``) or dropped us."""
        self.sock.settimeout(stall_seconds)
        sent = 0
        try:
            for _ in range(count):
                self.send({"k": "req", "id": self.next_id, "cmd": cmd, "args": args, "stream": stream})
                self.next_id += 1
                sent += 1
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        return sent

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def half_open(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections that start a TLS handshake and never finish it."""
    hello = bytes.fromhex("160301")  # the first bytes of a ClientHello record, then silence
    opened = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("localhost", port), timeout=2)
            sock.sendall(hello)
            opened.append(sock)
        except OSError:
            break
    return opened
