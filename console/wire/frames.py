"""Frame codec: ``u32 header_len | u32 body_len | header JSON | body bytes``.

Both lengths are big-endian and bounded before anything is allocated, so a peer that
announces a huge frame is refused instead of exhausting memory.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from console import safe_json

PREFIX = struct.Struct(">II")
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 8 << 20
#: Size of the body chunks used for streamed uploads and downloads.
CHUNK_BYTES = 1 << 20
#: A file's last piece up to this size rides in the chunk before it instead of a frame of its own:
#: a model file is its arrays (often a round number of MiB) plus a header of a few hundred bytes.
TAIL_BYTES = 64 << 10


class FrameError(Exception):
    """The peer sent something that is not a valid frame; the connection must be dropped. Raised
    by ``encode_frame`` too, for a header that cannot be sent: nothing was written then."""


class HeaderTooLarge(FrameError):
    """``encode_frame``: the header is valid JSON but over ``MAX_HEADER_BYTES`` (an answer this
    large goes as a stream instead)."""


@dataclass(slots=True)
class Frame:
    header: dict[str, Any]
    body: bytes = field(default=b"")

    @property
    def kind(self) -> str:
        return self.header.get("k", "")


def read_chunk(src: BinaryIO, size: int) -> bytes:
    """The next frame body of a file of ``size`` bytes (its size when the transfer began, as
    announced to the peer): CHUNK_BYTES, or all that is left when that is at most CHUNK_BYTES +
    TAIL_BYTES; b"" at the end. Bytes past ``size`` (a file that grew meanwhile) are not sent."""
    left = size - src.tell()
    if left <= 0:
        return b""
    return src.read(left if left <= CHUNK_BYTES + TAIL_BYTES else CHUNK_BYTES)


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    """The frame's bytes. FrameError for a header that is not JSON (NaN or infinity, an object
    JSON has no form for: ``dumps_strict``), HeaderTooLarge past the limit, FrameError for a body
    past its limit."""
    raw = dumps_strict(header, "frame header").encode()
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderTooLarge(f"header of {len(raw)} bytes exceeds the limit of {MAX_HEADER_BYTES}")
    if len(body) > MAX_BODY_BYTES:
        raise FrameError(f"body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}")
    return PREFIX.pack(len(raw), len(body)) + raw + body


def dumps_strict(value: Any, what: str) -> str:
    """Compact JSON of ``value``; FrameError naming ``what`` when it is not JSON: NaN and infinity
    (no JSON reader of ours takes them back), a type JSON has no form for, a circular reference."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise FrameError(f"the {what} cannot be sent as JSON: {exc}") from None


def decode_header(raw: bytes) -> dict[str, Any]:
    try:
        header = safe_json.loads(raw)
    except safe_json.UnreadableJSON as exc:
        raise FrameError(f"frame header is not valid JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("k"), str):
        raise FrameError("frame header must be a JSON object with a string 'k'")
    return header


#: Once a frame has begun, the rest of it must arrive within this many seconds.
FRAME_TIMEOUT_SECONDS = 60.0


async def read_frame(reader: asyncio.StreamReader, frame_timeout: float = FRAME_TIMEOUT_SECONDS) -> Frame | None:
    """Read one frame; ``None`` on a clean end of stream between frames.

    Waiting for a frame to begin is unbounded (an idle session is fine); a peer that
    starts one and stalls is dropped after ``frame_timeout``.
    """
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    try:
        return await asyncio.wait_for(_rest_of_frame(reader, first), frame_timeout)
    except TimeoutError:
        raise FrameError(f"frame not completed within {frame_timeout:g} s") from None


async def _rest_of_frame(reader: asyncio.StreamReader, first: bytes) -> Frame:
    try:
        prefix = first + await reader.readexactly(PREFIX.size - 1)
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame prefix") from None
    if prefix.startswith(b"HTTP"):  # 1213486160 as a header length: an HTTP(S) server answered
        raise FrameError(f"it answered in HTTP ({prefix!r}...): it is an HTTP(S) port, not a flare-console server")
    header_len, body_len = PREFIX.unpack(prefix)
    if header_len == 0 or header_len > MAX_HEADER_BYTES:
        raise FrameError(f"header length {header_len} outside 1..{MAX_HEADER_BYTES}")
    if body_len > MAX_BODY_BYTES:
        raise FrameError(f"body length {body_len} exceeds {MAX_BODY_BYTES}")
    try:
        raw = await reader.readexactly(header_len)
        body = await reader.readexactly(body_len) if body_len else b""
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame") from None
    return Frame(decode_header(raw), body)
