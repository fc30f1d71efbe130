"""What one admin session's ``follow`` of a job is: its subscription, and its arguments as they
come off the wire (``resume`` offsets, a site's answer, a site's refusal). Used by
``console.server.log_relay``, which owns the streams; nothing here reads a log or sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.server.authz import principal
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import Peer

#: Lines of a log and the offset after them.
Part = tuple[list[str], int]


@dataclass(eq=False)
class Subscription:
    connection: Peer
    job_id: str
    targets: set[str]
    ended: set[str] = field(default_factory=set)
    #: target -> bytes of its log up to the last line sent (resume and de-duplication)
    offsets: dict[str, int] = field(default_factory=dict)
    #: target -> lines pushed (None: the log's end) while a site is asked for what this follower lacks
    holding: dict[str, list[tuple[list[str], int | None] | None]] = field(default_factory=dict)
    #: targets whose live lines its connection had no room for (or too many came while held): read
    #: from the log, paced (log_pacing); ``pacing``: those whose reading is under way
    lagging: set[str] = field(default_factory=set)
    pacing: set[str] = field(default_factory=set)
    #: events held until every target has accepted the follow (a refusal sends none of them)
    pending: list[tuple[str, dict[str, Any]]] | None = field(default_factory=list)

    @property
    def live(self) -> bool:
        return not self.connection.closed


def offset_of(data: dict[str, Any]) -> int | None:
    """The ``offset`` of a site's push or answer; None when absent or not a byte offset."""
    at = data.get("offset")
    return at if isinstance(at, int) and not isinstance(at, bool) and at >= 0 else None


def refused(site: str, exc: Exception) -> RemoteError:
    """A site's own policy refusal (``AuthorizationError`` from it) as the follower's error."""
    return RemoteError(ErrorType.AUTHORIZATION, f"{site}'s own policy refuses: {exc}")


def who(sub: Subscription) -> dict[str, str]:
    """The follower, as a site checks it against its own policy (``follow_log``, ``read_log``)."""
    user = principal(sub.connection)
    return {"user_name": user.name, "user_org": user.org, "user_role": user.role}


#: Digits an offset may have at most: a log of 10**18 bytes is beyond any disk.
MAX_OFFSET_DIGITS = 18


def resume_offsets(words: list[str] | None) -> dict[str, int]:
    """``["server=1234", "site-1=0"]`` as ``{target: offset}``. Raises RemoteError
    (InvalidArgumentError naming the entry) for an entry that is not TARGET=OFFSET with an
    offset of ASCII digits (at most ``MAX_OFFSET_DIGITS``): ``str.isdigit`` also takes
    Unicode digits ("²", "١٢"), and ``int`` refuses strings past 4300 digits."""
    offsets: dict[str, int] = {}
    for word in words or []:
        name, sep, number = str(word).rpartition("=")
        if (not sep or not name or not number or len(number) > MAX_OFFSET_DIGITS
                or not (number.isascii() and number.isdigit())):
            shown = repr(word) if len(str(word)) <= 60 else repr(str(word)[:60]) + f" ({len(str(word))} characters)"
            raise RemoteError(ErrorType.INVALID_ARGUMENT,
                              f"follow: resume entry {shown} is not TARGET=OFFSET (OFFSET: a byte offset, "
                              f"1 to {MAX_OFFSET_DIGITS} ASCII digits)")
        offsets[name] = int(number)
    return offsets
