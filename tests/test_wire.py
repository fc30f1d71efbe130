"""Frames, the command registry's argument checks, and a server facing bad frames."""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
import time

import pytest

from console.commands import CATALOG, ArgError
from console.flare_api import new_secure_session
from console.wire.frames import (
    CHUNK_BYTES,
    MAX_BODY_BYTES,
    TAIL_BYTES,
    FrameError,
    encode_frame,
    read_chunk,
    read_frame,
)

from conftest import ADMIN
from raw_admin import read_header, tls_to


def _read(data: bytes):
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader)

    return asyncio.run(go())


@pytest.mark.parametrize("size, frames", [(0, 0), (100, 1), (CHUNK_BYTES, 1), (CHUNK_BYTES + 128, 1),
                                          (CHUNK_BYTES + TAIL_BYTES, 1), (CHUNK_BYTES + TAIL_BYTES + 1, 2),
                                          (3 * CHUNK_BYTES + 5, 3)])
def test_a_file_streams_in_1_mib_chunks_with_a_small_tail_riding_on_the_last(tmp_path, size: int,
                                                                               frames: int) -> None:
    """A 1 MiB model file (1 MiB of arrays and a header of 128 bytes) is one frame, not two."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    (tmp_path / "f").write_bytes(data)
    with open(tmp_path / "f", "rb") as src:
        chunks = list(iter(lambda: read_chunk(src, size), b""))
    assert b"".join(chunks) == data and len(chunks) == frames
    assert all(len(chunk) == CHUNK_BYTES for chunk in chunks[:-1])
    with open(tmp_path / "f", "ab") as grown:  # bytes added after the size was announced are not sent
        grown.write(b"more")
    with open(tmp_path / "f", "rb") as src:
        assert b"".join(iter(lambda: read_chunk(src, size), b"")) == data


def test_frame_round_trip() -> None:
    frame = _read(encode_frame({"k": "req", "id": 1, "cmd": "x"}, b"\x00\x01body"))
    assert frame.header == {"k": "req", "id": 1, "cmd": "x"} and frame.body == b"\x00\x01body"
    assert _read(b"") is None


@pytest.mark.parametrize(
    "data, message",
    [
        (struct.pack(">II", 0, 0), "header length 0"),
        (struct.pack(">II", 1 << 30, 0), "header length"),
        (struct.pack(">II", 2, MAX_BODY_BYTES + 1) + b"{}", "body length"),
        (struct.pack(">II", 3, 0) + b"{x}", "not valid JSON"),
        (struct.pack(">II", 2, 0) + b"[]", "JSON object"),
        # json.loads fails on these with RecursionError and a plain ValueError, not JSONDecodeError.
        (struct.pack(">II", 30_006, 0) + b'{"k":' + b"[" * 30_000 + b"}", "not valid JSON.*too deeply"),
        (struct.pack(">II", 5_014, 0) + b'{"k":"x","n":' + b"7" * 5_000 + b"}", "not valid JSON.*number"),
        # Python's json takes these, but they are not JSON and no encoder of ours sends them back.
        (struct.pack(">II", 16, 0) + b'{"k":"x","n":NaN}', "not valid JSON: NaN is not JSON"),
        (struct.pack(">II", 22, 0) + b'{"k":"x","n":-Infinity}', "not valid JSON: -Infinity is not JSON"),
        (struct.pack(">II", 18, 0) + b'{"k":"x","n":1e999}', "not valid JSON: the number 1e999 is out of range"),
        (struct.pack(">II", 10, 0) + b"{}", "inside a frame"),
        (b"\x00\x00", "prefix"),
    ],
)
def test_bad_frames_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        _read(data)


@pytest.mark.parametrize("value, message", [(float("nan"), "Out of range float"), (-float("inf"), "Out of range float"),
                                            (object(), "not JSON serializable")])
def test_a_header_that_is_not_json_is_never_sent(value: object, message: str) -> None:
    """A FrameError (nothing written), which the serving end answers as an error instead of leaving
    the asker waiting; not a ValueError or TypeError from inside json."""
    with pytest.raises(FrameError, match=f"cannot be sent as JSON: .*{message}"):
        encode_frame({"k": "res", "id": 1, "data": {"loss": value}})


def test_registry_checks_wire_arguments() -> None:
    spec = CATALOG["list_jobs"]
    assert spec.validate_wire_args({"limit": 5})["limit"] == 5
    with pytest.raises(ArgError, match="limit"):
        spec.validate_wire_args({"limit": "5"})
    with pytest.raises(ArgError, match="unknown argument"):
        spec.validate_wire_args({"colour": "red"})
    with pytest.raises(ArgError, match="required"):
        CATALOG["get_job_meta"].validate_wire_args({})
    assert spec.usage() == "list_jobs [-d] [-u] [-r] [-n NAME_PREFIX] [-m LIMIT] [--submit-token SUBMIT_TOKEN] [ID_PREFIX]"


def _raw_tls(project) -> ssl.SSLSocket:
    return tls_to(project.admin_kit, timeout=5)


def test_server_drops_bad_frames_and_keeps_serving(session, project) -> None:
    for garbage in (b"\xff" * 64, struct.pack(">II", 1 << 31, 0), struct.pack(">II", 5, 0) + b"nope!"):
        with _raw_tls(project) as bad:
            bad.sendall(garbage)
            reply = read_header(bad)
            assert reply["k"] == "error" and reply["error"]["type"] == "ProtocolError"
            assert bad.recv(1) == b""  # then the server closes the connection
        assert session.list_jobs() == []  # the healthy session is untouched


def test_requests_before_login_and_unknown_commands(session, project) -> None:
    with _raw_tls(project) as sock:
        sock.sendall(encode_frame({"k": "req", "id": 1, "cmd": "list_jobs", "args": {}}))
        reply = read_header(sock)
        assert reply["ok"] is False and reply["error"]["type"] == "AuthenticationError"
        sock.sendall(encode_frame({"k": "req", "id": 2, "cmd": "login", "args": {"username": ADMIN}}))
        assert read_header(sock)["ok"] is True
        sock.sendall(encode_frame({"k": "req", "id": 3, "cmd": "format_disk", "args": {}}))
        reply = read_header(sock)
        assert reply["error"]["type"] == "InvalidArgumentError" and "unknown command" in reply["error"]["message"]
        # A command that is no string (one a set of names cannot even be asked about): refused alike.
        sock.sendall(encode_frame({"k": "req", "id": 4, "cmd": {"get_job_logs": 1}, "args": {}}))
        reply = read_header(sock)
        assert reply["id"] == 4 and "unknown command" in reply["error"]["message"], reply
    # An argument list_jobs has not: refused before it is sent, as FLARE 2.9's flare_api does (TypeError).
    with pytest.raises(TypeError, match=r"unsupported list_jobs kwargs: \['colour'\]"):
        session.list_jobs(colour="red")


def test_many_sessions_at_once(server, project) -> None:
    from console.wire.gate import ConnectionLimits

    # As many as one identity may hold by default.
    sessions = [new_secure_session(ADMIN, str(project.admin_kit)) for _ in range(ConnectionLimits().max_per_identity)]
    try:
        assert all(s.list_jobs() == [] for s in sessions)
    finally:
        for s in sessions:
            s.close()


def test_client_reports_why_the_server_dropped_it(session, project) -> None:
    """A frame the server refuses: the pending request fails with the server's own reason."""
    from console.api.client import AsyncClient
    from console.api.errors import NoConnection
    from console.wire.kit import AdminKit

    async def go() -> str:
        client = AsyncClient(AdminKit.load(project.admin_kit), ADMIN)
        await client.connect()
        try:
            client._send({"k": "bogus"})  # a client bug, as the server sees it; the request after it
            waiting = asyncio.ensure_future(client.request("list_jobs", {}))  # is never answered
            with pytest.raises(NoConnection) as caught:
                await asyncio.wait_for(waiting, 10)
            return str(caught.value)
        finally:
            await client.close()

    message = asyncio.run(go())
    assert "unexpected frame kind 'bogus'" in message and "ProtocolError" in message, message
    assert session.list_jobs() == []


def test_a_json_answer_trickling_in_is_cut_off_at_its_pace() -> None:
    """One byte every 0.05 s passes any chunk timeout; under a pace of 1 KiB/s after 0.5 s the answer
    is cut off at once, the connection dropped; one that keeps the pace is read whole."""
    from console.wire.exceptions import NoConnection
    from console.wire.json_answer import read_json_answer
    from console.wire.pace import Pace

    pace = Pace(floor_seconds=0.5, min_bytes_per_second=1024)

    async def answer(body: bytes, every: float) -> tuple[object, float, int]:
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        dropped = 0

        def drop(error: Exception) -> None:
            nonlocal dropped
            dropped += 1

        async def peer() -> None:
            for n in range(0, len(body), 64):
                chunks.put_nowait(body[n:n + 64])
                await asyncio.sleep(every)
            chunks.put_nowait(None)

        sending = asyncio.ensure_future(peer())
        started = asyncio.get_running_loop().time()
        try:
            value: object = await read_json_answer("read_log", chunks, 30, len(body), drop, pace)
        except NoConnection as exc:
            value = str(exc)
        finally:
            sending.cancel()
        return value, asyncio.get_running_loop().time() - started, dropped

    body = json.dumps({"lines": ["x" * 100] * 20}).encode()
    value, took, dropped = asyncio.run(answer(body, 0.001))
    assert value == json.loads(body) and not dropped
    value, took, dropped = asyncio.run(answer(body * 1000, 0.5))  # 128 bytes a second
    assert isinstance(value, str) and value.startswith("the answer to read_log came too slowly: "), value
    assert "under the pace of at least 1 KiB/s after 0.5 s" in value and dropped == 1
    assert took < 5, took


@pytest.mark.parametrize("text, under, rows", [
    (b' [ {"a": 1} , {"b": "\xc3\xa9"} ] ', None, [{"a": 1}, {"b": "é"}]),
    (b"[12, 34]", None, [12, 34]),
    (b"[]", None, []),
    (b'{"status": "x", "clients": [{"client_name": "a"}, {"client_name": "b"}], "jobs": []}', "clients",
     [{"client_name": "a"}, {"client_name": "b"}]),
    (b'{"jobs": [1, 2], "clients": [3]}', "clients", [3]),
    (b'{"jobs": [1, 2]}', "clients", []),
    (b"[1, 2", None, "row 2 is followed by nothing"),
    (b"[1,,2]", None, "row 2: Expecting value"),
    (b"[NaN]", None, "NaN is not JSON"),
    (b"[1e999]", None, "out of range"),
    (b"[1x]", None, "row 1 is followed by 'x'"),
    (b'["' + b"a" * 70_000 + b'"]', None, "row 1 is over 65536 bytes"),
    (b"[1]", "clients", "it starts with '['"),
    (b'{"clients": 5}', "clients", "the list starts with '5'"),
    (b'{"x": 1 "clients": []}', "clients", "member 'x' is followed by '\"'"),
])
def test_rows_are_read_as_they_come_whatever_the_pieces(text: bytes, under: str | None, rows: object) -> None:
    """console.wire.json_rows: the same rows, or the same refusal naming what was wrong, however the
    answer is cut into pieces (a number cut in two, a character's UTF-8 bytes cut apart)."""
    from console.wire.exceptions import NoConnection
    from console.wire.json_rows import RowReader

    def read(size: int) -> object:
        reader = RowReader("list_jobs", 100, under)
        try:
            for start in range(0, len(text), size):
                reader.feed(text[start:start + size])
                while reader.step(time.monotonic() + 1, time.monotonic):
                    pass
                if reader.full:
                    return reader.rows
            reader.feed(b"", final=True)
            while reader.step(time.monotonic() + 1, time.monotonic, final=True):
                pass
            return reader.rows
        except NoConnection as exc:
            return str(exc)

    for size in (1, 3, 1 << 20) if len(text) < 1000 else (4096, 1 << 20):
        got = read(size)
        if isinstance(rows, list):
            assert got == rows, (size, got)
        else:
            assert isinstance(got, str) and rows in got and got.startswith("the answer to list_jobs is not"), (size, got)
    keeps = RowReader("list_jobs", 2)
    keeps.feed(b"[1, 2, 3, ")  # the rest never needed
    keeps.step(time.monotonic() + 1, time.monotonic)
    assert keeps.full and keeps.rows == [1, 2]
