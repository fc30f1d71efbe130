"""Security report 9, findings 1 and 2: what one frame and one identity's waiting requests may hold.

The header limits are measured against the largest legitimate requests (a list of site names, a
follow's resume offsets, for a 1000-site project of 64-character names) and checked at the prefix:
a frame past its limit is refused before any of it is read, with a message naming the part and
the limit. The per-identity request budget is counted here as a unit; tests/test_exhaustion.py
floods a real server with both.
"""

from __future__ import annotations

import asyncio
import json
import struct

import pytest

from console.commands import CATALOG
from console.wire.frames import (
    BEFORE_LOGIN,
    LOGIN_HEADER_BYTES,
    MAX_REQUEST_HEADER_BYTES,
    REQUESTS,
    FrameError,
    dumps_strict,
    read_frame,
)
from console.wire.request_budget import RequestBudget

#: The largest project the limits are sized for, and the longest name a certificate CN may have.
SITES, NAME = 1000, 64


def _request_bytes(cmd: str, args: dict) -> int:
    if cmd in CATALOG:  # a request the server takes, not a made-up shape (login is the wire's own)
        CATALOG[cmd].validate_wire_args(args)
    return len(dumps_strict({"k": "req", "id": 2**31, "cmd": cmd, "args": args, "stream": False}, "request"))


def test_the_largest_legitimate_requests_fit_the_request_header_limit() -> None:
    names = [f"site-{n:04d}-".ljust(NAME, "x") for n in range(SITES)]
    by_names = _request_bytes("check_status", {"target_type": "client", "targets": names})
    resume = _request_bytes("follow", {"job_id": "0" * 36, "target": "all", "lines": 10,
                                       "resume": [f"{name}={10**18 - 1}" for name in ["server", *names]]})
    login = _request_bytes("login", {"username": "a" * NAME})
    print(f"largest requests: check_status of {SITES} sites {by_names} bytes, follow resume {resume} bytes")
    assert max(by_names, resume) < MAX_REQUEST_HEADER_BYTES, (by_names, resume)
    assert login * 10 < LOGIN_HEADER_BYTES, login


def _read(data: bytes, limits):
    async def run():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_frame(reader, limits=limits)
    return asyncio.run(run())


@pytest.mark.parametrize("limits, header_len, body_len, said", [
    (BEFORE_LOGIN, LOGIN_HEADER_BYTES + 1, 0, f"header length {LOGIN_HEADER_BYTES + 1} before login exceeds the "
                                              f"limit of {LOGIN_HEADER_BYTES} bytes"),
    (BEFORE_LOGIN, 20, 1, "body length 1 before login exceeds the limit of 0 bytes"),
    (REQUESTS, MAX_REQUEST_HEADER_BYTES + 1, 0, f"header length {MAX_REQUEST_HEADER_BYTES + 1} in a request "
                                                f"exceeds the limit of {MAX_REQUEST_HEADER_BYTES} bytes"),
])
def test_a_frame_past_its_limit_is_refused_at_its_prefix(limits, header_len, body_len, said) -> None:
    # Only the prefix is there: nothing past it is waited for or read.
    with pytest.raises(FrameError, match=said):
        _read(struct.pack(">II", header_len, body_len), limits)


def test_a_login_and_a_large_request_pass_their_limits() -> None:
    raw = json.dumps({"k": "req", "id": 1, "cmd": "login", "args": {"username": "admin@example.com"}}).encode()
    frame = _read(struct.pack(">II", len(raw), 0) + raw, BEFORE_LOGIN)
    assert frame is not None and frame.header_bytes == len(raw)
    big = json.dumps({"k": "req", "id": 2, "pad": "x" * (MAX_REQUEST_HEADER_BYTES - 40)}).encode()
    assert _read(struct.pack(">II", len(big), 0) + big, REQUESTS).header_bytes == len(big)


def test_the_request_budget_counts_per_identity_and_names_its_limits() -> None:
    budget = RequestBudget(per_identity=3, bytes_per_identity=1000)
    assert budget.open("a", 100) is None and budget.open("a", 100) is None and budget.open("a", 100) is None
    assert "limit 3" in budget.open("a", 1) and budget.open("b", 900) is None  # another identity: its own
    assert "limit 1000" in budget.open("b", 101)
    budget.close("a", 100)
    assert budget.open("a", 700) is None  # 200 + 700 bytes, 3 requests
    for _ in range(3):
        budget.close("a", 0)
    assert budget.open_requests("a") == 0 and budget.refused == 2


def test_upload_chunks_not_yet_taken_count_per_identity() -> None:
    """What an identity holds in flight counts bodies too: a chunk past ``body_bytes_per_identity``
    waits (its connection is not read on) until that identity's handlers take some; one chunk always
    fits, and another identity has its own room."""
    async def run() -> None:
        budget = RequestBudget(body_bytes_per_identity=3 << 20)
        await budget.hold_body("a", 2 << 20)
        await budget.hold_body("b", 3 << 20)
        waiting = asyncio.create_task(budget.hold_body("a", 2 << 20))
        await asyncio.sleep(0.05)
        assert not waiting.done() and budget.held_body_bytes("a") == 2 << 20
        budget.release_body("a", 1 << 20)  # 1 MiB + 2 MiB fit now
        await asyncio.wait_for(waiting, 5)
        assert budget.held_body_bytes("a") == 3 << 20
        budget.release_body("a", 3 << 20)
        await budget.hold_body("a", 8 << 20)  # alone, a chunk larger than the room still goes
        assert budget.held_body_bytes("a") == 8 << 20 and budget.held_body_bytes("b") == 3 << 20
    asyncio.run(run())
