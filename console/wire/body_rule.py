"""Which frame a peer sends to the serving end may carry a body, and how big (protocol.md, Frames).

Owns that one rule, judged on a frame's header before any of its body is read (``read_frame``'s
``body_rule``): only a ``data`` frame of an upload under way has a body, a chunk at most; a request,
an end or a cancel has none, whatever its command. Must not read, refuse or drop anything itself:
``serving`` hands the verdict to ``read_frame`` and drops the peer.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from console.wire.frames import MAX_CHUNK_BYTES


def judge_body(header: dict[str, Any], size: int, uploads: Container[Any]) -> str | None:
    """Why a frame's body of ``size`` bytes is not read, or None when it may be; ``uploads``: the ids
    of the uploads under way on the connection."""
    if size == 0:
        return None
    kind, request_id = header.get("k"), header.get("id")
    if kind == "data":
        if not isinstance(request_id, int) or request_id not in uploads:
            return f"a data frame of {size} bytes for no upload under way (id {request_id!r:.40})"
        if size > MAX_CHUNK_BYTES:
            return f"a data frame of {size} bytes: an upload's chunk is at most {MAX_CHUNK_BYTES} bytes"
        return None
    if kind == "req":
        return (f"a request ({header.get('cmd')!r:.60}) came with a body of {size} bytes: a request has "
                "none (an upload's bytes follow it in data frames)")
    return f"a {kind!r:.20} frame came with a body of {size} bytes: it has none"


__all__ = ["judge_body"]
