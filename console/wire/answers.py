"""What a requesting end knows of one request in flight (``Pending``) and the rules the frames of a
download's answer must keep, checked as each frame is read (``check_head``, ``check_size``,
``check_end``): a frame that breaks them raises ``Refused``, and ``console.wire.requesting`` drops the
connection there, reading nothing more of it. Also the errors a refused answer fails with, and
those a lost connection fails its requests with (``lost_because``, ``farewell``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from console.wire.exceptions import NoConnection
from console.wire.frames import Frame, FrameError


class AnswerTooLarge(ValueError):
    """A streamed answer past the ``max_bytes`` its receiver takes: ``size`` is what the peer
    announced or sent so far (refused as soon as that passes ``limit``)."""

    def __init__(self, cmd: str, size: int, limit: int, announced: bool, peer: str | None = None) -> None:
        said = f"announces {size} bytes" if announced else f"passed {size} bytes"
        whose = f" of {peer}" if peer else ""
        super().__init__(f"{cmd}: the answer{whose} {said}, over the limit of {limit} bytes; refused")
        self.size = size
        self.limit = limit
        self.announced = announced


class MalformedAnswer(ValueError):
    """An answer in valid frames but of the wrong shape for its request (a download's answer without
    its data stream, a size that is no size, more or fewer bytes than it announced); the connection
    it came on is dropped (``Requester.refuse``)."""


class PeerDropped(NoConnection):
    """The connection was dropped because a transfer on it was refused part-way: every other request
    on it fails with this, naming the peer and what it did."""


class ProtocolViolation(NoConnection):
    """The peer sent what is not a frame of the protocol (not JSON, NaN in it, past a size limit):
    the connection is dropped and every request on it fails with this, saying what was wrong."""


class PeerError(NoConnection):
    """The peer sent an ``error`` frame: it is dropping the connection and says why. The message
    names the peer and quotes its text as its own (it may name anyone); the connection is dropped
    at once, and every request on it fails with this."""


#: Characters of a peer's ``error`` frame quoted in the error it causes here.
MAX_SAID_CHARS = 1000


def farewell(peer: str, error: Any) -> PeerError:
    """What an ``error`` frame's ``error`` (``{"type", "message"}``, from ``peer``, which drops the
    connection) fails the requests on it with: its words quoted, cut past ``MAX_SAID_CHARS``."""
    error = error if isinstance(error, dict) else {}
    said = f"{error.get('type', 'error')}: {error.get('message', 'no reason given')}"
    return PeerError(f"{peer} dropped the connection, saying {said[:MAX_SAID_CHARS]!r}"
                     + (" (cut)" if len(said) > MAX_SAID_CHARS else ""))


def lost_because(peer: str, reason: BaseException) -> NoConnection:
    """What the requests in flight fail with when the connection to ``peer`` ends for ``reason``:
    the peer's farewell or this side's refusal as they are, a frame that is no frame as a
    ProtocolViolation, anything else (a reset, an end of stream) as NoConnection; caused by ``reason``."""
    if isinstance(reason, PeerError | PeerDropped):
        return reason
    if isinstance(reason, FrameError):
        error: NoConnection = ProtocolViolation(f"{peer} broke the protocol ({reason}); the connection "
                                                "to it was dropped")
    else:
        error = NoConnection(f"connection to {peer} lost: {reason}")
    error.__cause__ = reason
    return error


class Refused(Exception):
    """Raised by the checks here as a frame is read: it breaks the rule of ``pending``'s answer
    (``error`` says how; ``pending`` is None for a frame that belongs to no request)."""

    def __init__(self, pending: Pending | None, error: Exception) -> None:
        super().__init__(str(error))
        self.pending = pending
        self.error = error


def answered(pending: Pending) -> bool:
    return pending.future.done() and not pending.future.cancelled() and pending.future.exception() is None


class Pending:
    __slots__ = ("future", "chunks", "cmd", "file", "max_bytes", "announced", "received", "head_rule", "json_cap")

    def __init__(self, loop: asyncio.AbstractEventLoop, streamed: bool, cmd: str = "",
                 max_bytes: int | None = None, head_rule: Callable[[Any], object] | None = None) -> None:
        self.future: asyncio.Future[Frame] = loop.create_future()
        self.chunks: asyncio.Queue[bytes | BaseException | None] | None = asyncio.Queue() if streamed else None
        self.cmd = cmd
        self.file = streamed  # a download: a data stream must follow the head
        self.max_bytes = max_bytes
        self.announced: int | None = None
        self.received = 0
        self.head_rule = head_rule  # raises MalformedAnswer for a head its caller refuses (a path in it)
        self.json_cap: int | None = None  # an answer streamed as JSON: the most it may hold (json_answer.min_size)


def check_head(peer: str, pending: Pending, header: dict[str, Any]) -> None:
    """A download's head must announce a data stream of at most ``max_bytes``: _Refused otherwise."""
    cmd, announced = pending.cmd, header.get("size")
    if header.get("json"):  # a result where a file was to come: nothing to write
        raise Refused(pending, MalformedAnswer(f"the answer of {peer} to {cmd} is a JSON result, not the "
                                                "data stream of a download"))
    if not header.get("stream"):
        raise Refused(pending, MalformedAnswer(f"the answer of {peer} to {cmd} has no data stream"))
    if announced is None:
        return
    if not isinstance(announced, int) or isinstance(announced, bool) or announced < 0:
        raise Refused(pending, MalformedAnswer(f"the answer of {peer} to {cmd} announces a size of "
                                                f"{announced!r:.40}, not a number of bytes"))
    if pending.max_bytes is not None and announced > pending.max_bytes:
        raise Refused(pending, AnswerTooLarge(cmd, announced, pending.max_bytes, announced=True, peer=peer))
    pending.announced = announced
    if pending.head_rule is not None:
        try:
            pending.head_rule(header.get("data"))
        except MalformedAnswer as exc:
            raise Refused(pending, exc) from None

def check_size(peer: str, pending: Pending) -> None:
    """What a download (or an answer streamed as JSON) received so far is within what it announced and
    its receiver takes."""
    if pending.json_cap is not None and pending.received > pending.json_cap:
        raise Refused(pending, NoConnection(f"the answer to {pending.cmd} grew past {pending.json_cap:,} bytes: the "
                                            f"peer is broken or hostile"))
    if pending.max_bytes is not None and pending.received > pending.max_bytes:
        raise Refused(pending, AnswerTooLarge(pending.cmd, pending.received, pending.max_bytes, announced=False,
                                               peer=peer))
    if pending.announced is not None and pending.received > pending.announced:
        raise Refused(pending, MalformedAnswer(f"the answer of {peer} to {pending.cmd} sent more than the "
                                                f"{pending.announced} bytes it announced; refused"))


def check_end(peer: str, pending: Pending, error: Any) -> None:
    """A download's ``end`` (without ``error``) comes after all the bytes it announced: Refused otherwise."""
    if pending.file and not error and pending.announced is not None and pending.received < pending.announced:
        raise Refused(pending, MalformedAnswer(f"the answer of {peer} to {pending.cmd} ended after {pending.received} "
                                               f"of the {pending.announced} bytes it announced; refused"))
