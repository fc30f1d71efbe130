"""A server's or site's log lines that peers can make many of, summed up instead of written one each.

One rule for every per-connection line kind (a line that one connection, one bad frame or one
closed socket can cause): a *kind* is the logger and the message's format string (``"dropping
%s (%s): %s"``, whichever peer and reason fill it). The first ``burst`` lines of a kind in a
period are written as they come; the rest are counted, and when the period ends one line says
how many more there were, with the latest in full. A flood that goes on is summed up again each
period, never line by line; a kind that is quiet for a period starts afresh. It is the rule the
refused TLS handshakes follow (``console.wire.tls.HandshakeFailureLog``), with the same period
(``connection_limits.refusal_log_seconds``), for lines that had none:

- every line of the wire layer's serving side (``console.wire.*``: bad frames, "connection closed
  inside a frame", connections lost, answers not sent), except the loggers that sum themselves
  up already (``console.wire.tls``, ``console.wire.gate``);
- asyncio's own (``socket.send() raised exception.``, SSL errors of a peer's connection), which
  otherwise reach stderr through Python's last-resort handler, one per write to a closed socket;
- any line logged with ``extra=per_peer(who)``, the one way to mark a line that one identity can
  repeat at will, summed up per kind *and per identity* (security tester, session 10, item 4; final
  tester, session 10, item 4; session 11): one identity's flood leaves every other's line of the
  kind as it comes. Keyed by: an admin's login, by the admin; a site connecting or leaving, by the
  site's CN (whose key job code there can read), as what a site says it runs at login, its malformed
  answers and its log pushes not relayed; a deleted job on the server, by who deleted it;
  a job's status change (and one refused, the job being final already) on the server, its deploy,
  end and delete on a site, what archiving its workspace left out (links out of it, unseen
  names) on either, and what its code sends the server that cannot be read, by the job's submitter, who can make job lives again and again with clone_job
  and delete_job. ``who`` None (not known) sums up with every other line of its kind not known.

Owns no file: :func:`console.process.setup_logging` puts it in front of the handlers it makes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def per_peer(who: object) -> dict[str, object]:
    """``extra=`` of a log call whose line ``who`` (a certificate CN, a job's submitter; None or "":
    not known) can repeat at will: its floods are summed up per kind and per ``who``."""
    return {"per_connection": True, "flood_key": str(who)[:128] if who else None}

#: Lines of one kind written as they come in one period before the rest are summed up.
BURST = 10
#: Loggers whose lines are per connection: the wire layer, asyncio's own.
_PER_CONNECTION_LOGGERS = ("console.wire.", "asyncio")
#: Wire loggers that sum up their floods themselves (refused handshakes, logins, connections).
_SUMMED_ALREADY = ("console.wire.tls", "console.wire.gate")
#: Kinds remembered at once: format strings are few, but asyncio's carry reprs.
_MAX_KINDS = 1024


def per_connection(record: logging.LogRecord) -> bool:
    """Whether ``record``'s kind is one a peer can repeat at will (the module's list)."""
    if getattr(record, "per_connection", False):
        return True
    name = record.name
    if name.startswith(_SUMMED_ALREADY):
        return False
    return name == "asyncio" or name.startswith(_PER_CONNECTION_LOGGERS)


def _kind(record: logging.LogRecord) -> tuple[str, str, str | None]:
    # asyncio formats its messages itself (no args): its first line, without the reprs after it.
    text = str(record.msg)
    return record.name, (text if record.args else text.split("\n", 1)[0][:80]), getattr(record, "flood_key", None)


@dataclass
class _Kind:
    period_ends: float
    written: int = 0
    held: int = 0
    latest: logging.LogRecord | None = None
    timer: threading.Timer | None = None


class FloodSummary(logging.Handler):
    """Hands records to ``targets`` (stderr, ``log.txt``), summing up floods of one kind (the
    module's rule). Thread-safe: the summary of a period comes from a timer thread even when
    the flood has stopped, so its last burst is reported too."""

    def __init__(self, targets: list[logging.Handler], period: float, burst: int = BURST,
                 flooding: Callable[[logging.LogRecord], bool] = per_connection) -> None:
        super().__init__()
        self.targets = targets
        self.period = period
        self.burst = burst
        self.flooding = flooding
        self._kinds: dict[tuple[str, str, str | None], _Kind] = {}
        self._guard = threading.Lock()

    def _forward(self, record: logging.LogRecord) -> None:
        for target in self.targets:
            if record.levelno >= target.level:
                target.handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.flooding(record):
            self._forward(record)
            return
        key, now = _kind(record), time.monotonic()
        with self._guard:
            kind = self._kinds.get(key)
            if kind is None or (now >= kind.period_ends and not kind.held):
                if kind is None and len(self._kinds) >= _MAX_KINDS:
                    for old in [k for k, v in self._kinds.items() if not v.held][: _MAX_KINDS // 2]:
                        del self._kinds[old]
                kind = self._kinds[key] = _Kind(now + self.period)
            if kind.written < self.burst and not kind.held:
                kind.written += 1
                write = True
            else:
                write = False
                kind.held += 1
                kind.latest = record
                if kind.timer is None:
                    kind.timer = threading.Timer(max(0.0, kind.period_ends - now), self._summarise, (key,))
                    kind.timer.daemon = True
                    kind.timer.start()
        if write:
            self._forward(record)

    def _summarise(self, key: tuple[str, str, str | None]) -> None:
        with self._guard:
            kind = self._kinds.get(key)
            if kind is None or not kind.held or kind.latest is None:
                return
            held, latest = kind.held, kind.latest
            # The flood goes on being summed up a period from now, never line by line.
            kind.held, kind.latest, kind.timer, kind.written = 0, None, None, self.burst
            kind.period_ends = time.monotonic() + self.period
        try:
            text = latest.getMessage()
        except Exception:  # a record whose args do not fit its format: said as it came
            text = f"{latest.msg!r} {latest.args!r}"
        summary = logging.makeLogRecord({
            "name": latest.name, "levelno": latest.levelno, "levelname": latest.levelname,
            "msg": "%d more line(s) like this in the last %g s (a flood, summed up%s); the latest: %s",
            "args": (held, self.period, "" if key[2] is None else f"; by {key[2]}", text)})
        self._forward(summary)

    def close(self) -> None:
        """Write what is held, then stop the timers (a process that stops says its last flood too)."""
        with self._guard:
            keys = [k for k, v in self._kinds.items() if v.held]
            for kind in self._kinds.values():
                if kind.timer is not None:
                    kind.timer.cancel()
        for key in keys:
            self._summarise(key)
        super().close()
