"""Limits and rules that keep hostile or broken peers from hurting anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from pathlib import Path

import pytest

from console.flare_api import InvalidArgumentError, new_secure_session
from console.wire.frames import FrameError, read_frame

from conftest import REPO, ServerProcess, wait_until
from jobs import hello_server


def test_no_pickle_or_eval_anywhere() -> None:
    """Nothing that crossed the network may be unpickled or evaluated: no such calls at all."""
    forbidden = re.compile(r"\b(pickle|marshal|shelve|dill)\b|\beval\(|\bexec\(|allow_pickle=True")
    offenders = []
    for path in sorted((REPO / "console").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if forbidden.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_stalled_frame_is_dropped() -> None:
    async def go() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"\x00\x00\x00")  # a frame begins, and nothing more comes
        with pytest.raises(FrameError, match="not completed within"):
            await read_frame(reader, frame_timeout=0.1)

    asyncio.run(go())


def test_job_size_limit_from_the_server_config(project, tmp_path: Path) -> None:
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["max_upload_bytes"] = 50_000
    config_path.write_text(json.dumps(config))
    big = hello_server(tmp_path, name="big")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(200_000))  # does not compress
    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("admin@example.com", str(project.admin_kit)) as sess:
            with pytest.raises(InvalidArgumentError, match="exceeds the server's limit of 50000 bytes"):
                sess.submit_job(str(big))
            assert sess.list_jobs() == []  # nothing half-stored
            assert sess.submit_job(str(hello_server(tmp_path)))  # the session is fine afterwards
            assert list((project.server_kit / "store" / "incoming").iterdir()) == []
    finally:
        server.stop()


def test_failed_handshakes_are_logged_as_a_summary_not_one_line_each(caplog) -> None:
    from console.wire.tls import HandshakeFailureLog

    async def flood() -> HandshakeFailureLog:
        failures = HandshakeFailureLog("TLS handshake", period=0.2)
        for i in range(500):
            failures.failed((f"10.0.0.{i % 7}", 40000 + i), "WRONG_VERSION_NUMBER")
        await asyncio.sleep(0.5)  # the period ends: its summary is written even though the flood stopped
        failures.failed(("10.0.0.9", 1), "a later one, after a quiet spell")
        return failures

    with caplog.at_level("WARNING", logger="console.wire.tls"):
        failures = asyncio.run(flood())
    lines = [record.getMessage() for record in caplog.records]
    assert failures.total == 501
    assert lines == [
        "TLS handshake from 10.0.0.0:40000 refused: WRONG_VERSION_NUMBER",
        "TLS handshake refused 499 more time(s) in the last 0.2 s from 7 address(es), the latest from "
        "10.0.0.2:40499: WRONG_VERSION_NUMBER",
        "TLS handshake from 10.0.0.9:1 refused: a later one, after a quiet spell",
    ]


@pytest.mark.timeout(90)
def test_a_handshake_flood_on_both_ports_writes_few_log_lines(project) -> None:
    import socket

    from console.wire.kit import ServerKit

    kit = ServerKit.load(project.server_kit)
    server = ServerProcess(project.server_kit).start()
    try:
        for port in (kit.admin_port, kit.fed_learn_port):
            for _ in range(60):  # not TLS at all: each handshake fails at once
                with socket.create_connection(("localhost", port), timeout=5) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    with contextlib.suppress(OSError):  # an alert, a reset or a plain close: all fine
                        sock.recv(100)
        for what in ("TLS handshake", "site TLS handshake"):
            wait_until(lambda what=what: _accounted(server.stderr, what) == 60, 40, f"every {what} failure logged")
            # One line at once, then one summary per 10 s period: the flood took far less than 30 s.
            assert len(_lines(server.stderr, what)) <= 4, server.stderr
        with new_secure_session("admin@example.com", str(project.admin_kit)) as session:  # still serving
            assert session.list_jobs() == []
    finally:
        server.stop()


def _lines(log: str, what: str) -> list[str]:
    """The log lines about failed handshakes on one endpoint ("TLS handshake": the admin port)."""
    prefix = "(?<!site )" if what == "TLS handshake" else ""
    return [line for line in log.splitlines() if re.search(rf"{prefix}{what} (from .+? refused|refused \d+ more)", line)]


def _accounted(log: str, what: str) -> int:
    """How many failed handshakes those lines report: one each, or the count a summary gives."""
    return sum(int(m.group(1)) if (m := re.search(r"refused (\d+) more time", line)) else 1
               for line in _lines(log, what))


@pytest.mark.timeout(90)
def test_an_upload_sent_on_after_its_refusal_is_read_no_further(project, tmp_path: Path) -> None:
    """A client that goes on sending its upload after the server refused it (past max_upload_bytes):
    the server answers the refusal, says it drops the connection, and does; the client cannot make
    it read for as long as it likes. Another session is served meanwhile and after."""
    from console.api.client import AsyncClient
    from console.wire.answers import Pending
    from console.wire.exceptions import NoConnection
    from console.wire.kit import AdminKit

    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["max_upload_bytes"] = 50_000
    config_path.write_text(json.dumps(config))

    async def hostile_upload() -> tuple[dict, int, float, str]:
        client = AsyncClient(AdminKit.load(project.admin_kit), "admin@example.com")
        await client.connect()
        request_id = client._last_id = next(client._ids)  # as a request of its own
        pending = Pending(asyncio.get_running_loop(), False)
        client._pending[request_id] = pending
        client._send({"k": "req", "id": request_id, "cmd": "submit_job", "stream": True,
                      "args": {"job_folder": "big", "signature": "none"}})
        chunk, after, refused_at = os.urandom(64 << 10), 0, 0.0
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NoConnection, ConnectionError, OSError):
            while loop.time() - (refused_at or loop.time()) < 30:  # it would go on for ever
                client._send({"k": "data", "id": request_id}, chunk)
                await asyncio.wait_for(client._writer.drain(), 30)
                if pending.future.done():
                    refused_at = refused_at or loop.time()
                    after += len(chunk)
        took = loop.time() - refused_at
        gone = str(pending.chunks or client._farewell)
        await client.close()
        return pending.future.result().header, after, took, gone

    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("admin@example.com", str(project.admin_kit)) as other:
            answer, after, took, gone = asyncio.run(hostile_upload())
            assert answer["ok"] is False and "exceeds the server's limit of 50000 bytes" in answer["error"]["message"]
            assert "its upload to submit_job went past the limit of 50000 bytes; the connection is dropped" in gone
            assert took < 10, f"the server took {took:.1f} s to drop the connection"
            assert after < 32 << 20, f"{after} bytes written after the refusal"  # what the sockets took, at most
            print(f"\nwritten after the refusal until the drop: {after} bytes in {took:.2f} s")
            assert other.list_jobs() == []
        assert list((project.server_kit / "store" / "incoming").iterdir()) == []
        assert "its upload to submit_job went past the limit of 50000 bytes; the rest of it is not read" in server.stderr
    finally:
        server.stop()
