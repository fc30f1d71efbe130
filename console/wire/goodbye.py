"""How a link ended, as its requesting end knows it: the serving end's ``bye`` (why it closes the link), or
the peer closing it without a word, or this side dropping it.

A site that closes its link in order says why first, in one ``{"k": "bye", "reason", "message"}`` frame
(``reason`` one of ``ByeReason``), then closes it: giving up on a server silent past its silence limit
(``reconnecting``: it connects again, its running jobs go on), stopping (``shutting_down``) or
re-executing itself (``restarting``: its running jobs end with the process). The frame waits in the
socket's buffers through a frozen server, which reads it when it runs again. A site process that died
(kill -9, a crash, out of memory) says nothing: the kernel closes its socket, and the server reads an
end of stream or a reset with no ``bye`` before it (``LinkEnd.PEER_CLOSED``). A network gone sends
nothing at all: the server's own heartbeat drops the link (``LinkEnd.DROPPED_HERE``).

Both ends agree on it first, so that a mixed restart keeps working (docs/protocol.md, "The site
link"): the server's ``login`` request to a site lists ``features: ["bye"]`` (it reads the frame), and
the site's hello lists ``bye`` (it says one before every orderly close). A site sends it only to a
server that listed it (an older server took an unknown frame kind as a broken answer); a server counts
a silent end as a dead process only for a site that listed it (an older site never says why).

Owns the frame's shape and its reading; who sends it is the site's (``console.site.app``), what an end
means for a job is the server's (``console.server.dropped_sites``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

#: The feature name: in a site's hello (it says ``bye``), in the server's login request (it reads one).
BYE = "bye"
#: Characters of a ``bye`` message kept; a reason is one of a few short words.
MAX_BYE_MESSAGE_CHARS = 1000
MAX_BYE_REASON_CHARS = 40


class ByeReason(enum.StrEnum):
    """Why a site closes its link (the ``bye`` frame's ``reason``)."""

    RECONNECTING = "reconnecting"  # gave up on a silent server; connects again, its jobs go on
    SHUTTING_DOWN = "shutting_down"  # the process stops (SIGTERM, ``shutdown``), its jobs with it
    RESTARTING = "restarting"  # the process re-executes itself (``restart``): its jobs end, it connects again


class LinkEnd(enum.Enum):
    """How a link's reading ended."""

    SAID_BYE = "said_bye"  # the peer said why (``Incoming.bye``), then closed it
    PEER_CLOSED = "peer_closed"  # an end of stream, a reset, a broken frame: from the peer, no word before it
    PEER_ERROR = "peer_error"  # the peer dropped it for a protocol error, saying so (an ``error`` frame)
    DROPPED_HERE = "dropped_here"  # this side closed or dropped it (silence, a refused transfer, a newer link)


@dataclass(frozen=True)
class Bye:
    """A peer's ``bye``: ``reason`` as it sent it (a ``ByeReason`` value from this version; a newer
    peer's unknown word is kept as it came, cut), ``message`` in its words (cut)."""

    reason: str
    message: str

    @property
    def returns_with_its_jobs(self) -> bool:
        """Whether the peer will connect again with its running jobs still going (``reconnecting``). An
        unknown reason counts as that too: an older server treats every drop so, and a word it does not
        know must not cost a site its jobs."""
        return self.reason not in (ByeReason.SHUTTING_DOWN, ByeReason.RESTARTING)


def bye_frame(reason: ByeReason, message: str) -> dict[str, Any]:
    """The header of a ``bye`` frame (no body)."""
    return {"k": "bye", "reason": reason.value, "message": message[:MAX_BYE_MESSAGE_CHARS]}


def read_bye(header: dict[str, Any]) -> Bye:
    """A ``bye`` frame's header as a ``Bye``; what is no string is taken as no word (``""``). The peer's
    text goes into logs and job_errors that terminals show: characters that are not printable (an escape
    sequence) are written as escapes, as Python writes them in a string (``\\x1b``)."""
    reason, message = header.get("reason"), header.get("message")
    return Bye(_printable(reason[:MAX_BYE_REASON_CHARS]) if isinstance(reason, str) else "",
               _printable(message[:MAX_BYE_MESSAGE_CHARS]) if isinstance(message, str) else "")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def lists_bye(features: Any) -> bool:
    """Whether a ``features`` value from the wire (a list of names, or anything a peer sent) names ``bye``."""
    return isinstance(features, list | tuple | frozenset | set) and BYE in features


def said_bye(link: Any) -> str | None:
    """What a link's ended reading says of the peer's last word, for a log line (None: nothing to say):
    ``it said bye: reconnecting (...)``, or that a peer that says one closed it without."""
    bye = getattr(link, "bye", None)
    if bye is not None:
        return f"it said bye: {bye.reason or 'no reason'}" + (f" ({bye.message})" if bye.message else "")
    if getattr(link, "ended", None) is LinkEnd.PEER_CLOSED and BYE in getattr(link, "peer_features", ()):
        return "it closed the connection without a bye: its process ended"
    return None
