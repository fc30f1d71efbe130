"""Frame codec: ``u32 header_len | u32 body_len | header JSON | body bytes``.

Both lengths are big-endian and bounded before anything is allocated, so a peer that
announces a huge frame is refused instead of exhausting memory.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from console import safe_json
from console.within import within

PREFIX = struct.Struct(">II")
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 8 << 20
#: Size of the body chunks used for streamed uploads and downloads.
CHUNK_BYTES = 1 << 20
#: A file's last piece up to this size rides in the chunk before it instead of a frame of its own:
#: a model file is its arrays (often a round number of MiB) plus a header of a few hundred bytes.
TAIL_BYTES = 64 << 10
#: A request's header after login: its command and arguments, the largest legitimate one being a
#: list of site names (``check_status client S1 ... SN``) or a follow's ``resume`` (one TARGET=OFFSET
#: per target): 1000 sites of 64-character names (an X.509 CN at most) take 67 KB and 86 KB
#: (tests/test_frame_limits.py measures both). Parsed, a header holds up to ~25 times its size in
#: Python objects (a header of ``{}`` entries), so this bounds what one waiting request holds.
MAX_REQUEST_HEADER_BYTES = 128 << 10
#: A frame before login: a login is its user name (and, server to site, a refusal's reason) in a
#: few hundred bytes, with no body; a site's answer to the server's login lists the jobs it still
#: runs (~120 bytes each).
LOGIN_HEADER_BYTES = 16 << 10
SITE_LOGIN_HEADER_BYTES = 64 << 10
#: The largest body of an upload's ``data`` frame: a chunk with a file's tail riding in it (``read_chunk``).
MAX_CHUNK_BYTES = CHUNK_BYTES + TAIL_BYTES


class FrameError(Exception):
    """The peer sent something that is not a valid frame; the connection must be dropped. Raised
    by ``encode_frame`` too, for a header that cannot be sent: nothing was written then."""


class BodyRefused(FrameError):
    """``read_frame``'s ``body_rule`` refused the body its frame announced: none of it was read."""


class HeaderTooLarge(FrameError):
    """``encode_frame``: the header is valid JSON but over ``MAX_HEADER_BYTES`` (an answer this
    large goes as a stream instead)."""


@dataclass(frozen=True, slots=True)
class FrameLimits:
    """What a reader takes of one frame: its header and its body, in bytes; ``what`` names the
    reader's state in a refusal ("before login")."""

    header: int = MAX_HEADER_BYTES
    body: int = MAX_BODY_BYTES
    what: str = ""


#: Any frame (answers to our requests; a large answer past ``MAX_HEADER_BYTES`` comes streamed).
ANY_FRAME = FrameLimits()
#: A served connection's frames once its peer has logged in: requests, upload data.
REQUESTS = FrameLimits(MAX_REQUEST_HEADER_BYTES, MAX_BODY_BYTES, "in a request")
#: A served connection's frames before login, and the frame a refused peer's login is read from.
BEFORE_LOGIN = FrameLimits(LOGIN_HEADER_BYTES, 0, "before login")
#: What a site sends the server before its answer to login has come.
SITE_BEFORE_LOGIN = FrameLimits(SITE_LOGIN_HEADER_BYTES, 0, "before the site's login answer")


@dataclass(slots=True)
class Frame:
    header: dict[str, Any]
    body: bytes = field(default=b"")
    #: Bytes of the header as it came (what parsing it may cost; 0 for a frame made here).
    header_bytes: int = 0

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


#: ``read_frame``'s judge of a body by its frame's header: why a body of that many bytes is not
#: taken (a sentence), or None to read it.
BodyRule = Callable[[dict[str, Any], int], "str | None"]


async def read_frame(reader: asyncio.StreamReader, frame_timeout: float = FRAME_TIMEOUT_SECONDS,
                     limits: FrameLimits | Callable[[], FrameLimits] = ANY_FRAME,
                     body_rule: BodyRule | None = None) -> Frame | None:
    """Read one frame; ``None`` on a clean end of stream between frames.

    Waiting for a frame to begin is unbounded (an idle session is fine); a peer that
    starts one and stalls is dropped after ``frame_timeout``. FrameError for a frame past
    ``limits`` (checked from its prefix, before any of it is read), naming the part and the limit;
    a callable ``limits`` is asked once the frame has begun (a login answered meanwhile counts).
    ``body_rule`` judges a body by the header it comes with, once that is read and before any of
    the body is (a serving end: a ``req`` has none, a ``data`` frame only for an upload under way):
    BodyRefused with its reason, the body left unread.
    """
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    try:
        return await within(_rest_of_frame(reader, first, limits, body_rule), frame_timeout)
    except TimeoutError:
        raise FrameError(f"frame not completed within {frame_timeout:g} s") from None


async def _rest_of_frame(reader: asyncio.StreamReader, first: bytes,
                         limits: FrameLimits | Callable[[], FrameLimits], body_rule: BodyRule | None) -> Frame:
    try:
        prefix = first + await reader.readexactly(PREFIX.size - 1)
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame prefix") from None
    if prefix.startswith(b"HTTP"):  # 1213486160 as a header length: an HTTP(S) server answered
        raise FrameError(f"it answered in HTTP ({prefix!r}...): it is an HTTP(S) port, not a flare-console server")
    header_len, body_len = PREFIX.unpack(prefix)
    if not isinstance(limits, FrameLimits):
        limits = limits()
    where = f" {limits.what}" if limits.what else ""
    if header_len == 0:
        raise FrameError(f"header length 0 outside 1..{limits.header}{where}: a frame header is a JSON object")
    if header_len > limits.header:
        raise FrameError(f"header length {header_len}{where} exceeds the limit of {limits.header} bytes")
    if body_len > limits.body:
        raise FrameError(f"body length {body_len}{where} exceeds the limit of {limits.body} bytes")
    try:
        header = decode_header(await reader.readexactly(header_len))
        if body_rule is not None and (why := body_rule(header, body_len)) is not None:
            raise BodyRefused(why)
        body = await reader.readexactly(body_len) if body_len else b""
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame") from None
    return Frame(header, body, header_len)
