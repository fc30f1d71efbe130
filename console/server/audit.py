"""The server's audit trail: who ran which command, with what outcome; sites and admins coming and going.

One JSON object per line in ``<workspace>/audit/audit.log`` (the folder is 0700 and, like the
kit and the store, out of reach of the file commands ``ls``/``cat``/...: only the server's
operator reads it). A line is written once the outcome is known:

- ``"kind": "command"``: ``time`` (UTC, ISO 8601), ``event`` (an ID of its own, as FLARE's
  audit.log has), ``user``, ``org``, ``role`` (from the certificate), ``peer`` (address:port),
  ``command``, ``args`` (as sent, each value cut; client-filled values such as the job's
  signature left out), ``job_id`` (the job a job ID or prefix resolved to; ``new_job_id`` for
  the job a submit or clone made), ``outcome`` (``done``; ``refused`` with the ``right`` that
  was missing, ``view`` for a job outside the user's view, which the user was told does not
  exist; ``error`` with the ``error`` the user got); ``unchanged`` when a changing command found
  nothing to change (enable_client of an enabled site).
- ``"kind": "login"``/``"logout"`` for admin sessions (a login with the ``username`` it sent),
  ``"site_login"``/``"site_logout"`` for sites (``site`` instead of ``user``; ``reason``: why a
  site left).
- ``"kind": "refused_connection"``: a connection turned away before a login could be judged or
  a site let in (``what``: the TLS handshake, a login never sent, a second connection of a site, a
  cap; ``peer``, ``reason``), written as the server's log is: the first of a quiet spell, then one
  summary a period (``count``, ``addresses``), so a flood writes a few lines, not one each.

Each line is bounded and cannot be forged by what it quotes (``console.server.audit_lines``).
Each identity's share of the file is bounded, so that one identity can neither wipe nor flood it
(security tester, session 9, item 3; session 10, item 2), whatever its rights:

- each identity (an admin's or a site's certificate CN: lines before a login count for the CN that
  sent them) may write ``IDENTITY_BURST_BYTES`` at once and ``IDENTITY_BYTES_PER_SECOND`` on
  average, its summary lines included; past that its lines are only counted, and one
  ``"kind": "summary"`` line a ``SUMMARY_SECONDS`` says "N lines of USER summarised" (their
  commands and outcomes counted; a summary due while the identity owes its allowance waits until
  it does not), so a flood reaches the file summarised and the lines of everyone else stay;
- a command that changed something (``CommandSpec.changes_state``: submit, clone, abort, delete,
  shutdown, site admin) and was done is never lost in a count (final tester, session 9, item 2):
  within that allowance it is written in full; past it, in a compact line (who, the command, its
  job or site; ``"compact": true``) from a budget of changes of its own
  (``CHANGE_BURST_BYTES``, ``CHANGE_BYTES_PER_SECOND``); past that too, the summary counts it and
  names the jobs and sites changed (the first ``_SUMMARY_JOBS``/``_SUMMARY_SITES`` of a period,
  how many more). A change that changed nothing (``unchanged``), was refused or failed is held
  as a read is. So one identity adds at most about (rate + change rate) a second whatever it
  runs: 496 bytes, 41 MiB a day, by default;
- past ``MAX_BYTES`` the file is rotated to ``audit.log.1`` (``.1`` to ``.2``, ...), keeping
  ``BACKUPS`` old files; the oldest is dropped.

Owns only that folder; the serving side (``console.wire.serving``) and the site registry call it.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.server.audit_lines import MAX_LINE, args_field, bounded_line, compact, cut, cut_text
from console.server.audit_spent import SAVE_SECONDS, SPENT_FILE, moved_in, restore, save_spent
from console.wire.errors import ErrorType, RemoteError
from console.wire.peer_address import peer_address

__all__ = ["AUDIT_FILE", "AUDIT_FOLDER", "MAX_LINE", "UNCHANGED", "VIEW_REFUSED", "AuditLog"]

AUDIT_FOLDER = "audit"  # one of console.runtime.target_commands.SERVER_PRIVATE: no file command opens it
AUDIT_FILE = "audit.log"
#: Size at which the file is rotated, and how many rotated files are kept: at most 110 MiB in all.
MAX_BYTES = 10 << 20
BACKUPS = 10
#: What one identity may write in full: a burst (about 2,500 ordinary lines), and the rate it comes
#: back at (about an ordinary line a second, 37 MiB a day, its summaries included); past it, its
#: lines are summarised. The server takes them from its connection_limits (audit_burst_bytes,
#: audit_bytes_per_second).
IDENTITY_BURST_BYTES = 1 << 20
IDENTITY_BYTES_PER_SECOND = 448
#: What one identity's changes may write in compact lines past that allowance: a burst (about 250
#: lines) and its rate (one every ~6 s, 4 MiB a day); connection_limits audit_change_burst_bytes,
#: audit_change_bytes_per_second. Allowance and change budget together: 41 MiB a day, so the
#: 110 MiB trail keeps others' lines for 2.7 days of one identity's flood that never stops.
CHANGE_BURST_BYTES = 64 << 10
CHANGE_BYTES_PER_SECOND = 48
#: How often a summary line is written for an identity whose lines are held (the server: its
#: refusal_log_seconds, as for refused connections); most commands, jobs and sites named in one,
#: and its longest line.
SUMMARY_SECONDS = 10.0
_SUMMARY_COMMANDS = 10
_SUMMARY_JOBS = 12
_SUMMARY_SITES = 8
SUMMARY_LINE = 2048
#: Identities remembered at once (the fullest buckets are forgotten first: they owe nothing).
_MAX_IDENTITIES = 4096
#: A handler's note (``ctx.notes``) that its changing command changed nothing (why, as text):
#: the line says so and is held as a read is.
UNCHANGED = "unchanged"
#: A handler's note that it answered "no such job" because the job is outside the user's view (the
#: job's ID, or a text when a prefix matched several): the line is ``refused``, right ``view``.
VIEW_REFUSED = "refused_by_view"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _new_list(names: list[str], more: int, value: Any, limit: int) -> int:
    """Add ``value`` (a name, or a list of them) to ``names`` unless there, up to ``limit``; how many
    did not fit is added to ``more``, which is returned."""
    for name in value if isinstance(value, list) else [value]:
        if not isinstance(name, str) or name in names:
            continue
        if len(names) < limit:
            names.append(cut_text(name, 64))
        else:
            more += 1
    return more


@dataclass
class _Allowance:
    """One identity's buckets (bytes it may still write in full; bytes of compact change lines),
    and what it held back since its last summary line."""

    tokens: float
    change_tokens: float
    at: float  # monotonic time of the last refill
    held: int = 0
    since: str | None = None  # time of the first line held
    due: float = 0.0  # monotonic time its summary is written
    commands: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    changes: int = 0  # of the lines held, changes done (their jobs and sites named below)
    jobs: list[str] = field(default_factory=list)
    jobs_more: int = 0
    sites: list[str] = field(default_factory=list)
    sites_more: int = 0

    def refill(self, now: float, log: AuditLog) -> None:
        elapsed = now - self.at
        # A summary written on credit leaves tokens below zero: they come back from there.
        self.tokens = min(log.burst_bytes, self.tokens + elapsed * log.bytes_per_second)
        self.change_tokens = min(log.change_burst_bytes, self.change_tokens + elapsed * log.change_bytes_per_second)
        self.at = now

    def note_change(self, record: dict[str, Any]) -> None:
        self.changes += 1
        for key in ("job_id", "new_job_id"):
            if key in record:
                self.jobs_more = _new_list(self.jobs, self.jobs_more, record[key], _SUMMARY_JOBS)
        args = record.get("args")
        for key in ("site", "targets"):
            if isinstance(args, dict) and key in args:
                self.sites_more = _new_list(self.sites, self.sites_more, args[key], _SUMMARY_SITES)

    def reset(self) -> None:
        self.held, self.since, self.changes, self.jobs_more, self.sites_more = 0, None, 0, 0, 0
        self.commands, self.outcomes, self.jobs, self.sites = {}, {}, [], []


class AuditLog:
    """Append-only, size-rotated JSON lines under ``workspace/audit/``, each bounded and each
    identity's share rate-limited (the module's docstring); thread-safe (its own lock)."""

    def __init__(self, workspace: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS, *,
                 burst_bytes: float = IDENTITY_BURST_BYTES, bytes_per_second: float = IDENTITY_BYTES_PER_SECOND,
                 change_burst_bytes: float = CHANGE_BURST_BYTES,
                 change_bytes_per_second: float = CHANGE_BYTES_PER_SECOND,
                 summary_seconds: float = SUMMARY_SECONDS) -> None:
        folder = workspace / AUDIT_FOLDER
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        self.path = folder / AUDIT_FILE
        self._handler = logging.handlers.RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                                             encoding="ascii", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self.burst_bytes = burst_bytes
        self.bytes_per_second = bytes_per_second
        self.change_burst_bytes = change_burst_bytes
        self.change_bytes_per_second = change_bytes_per_second
        self.summary_seconds = summary_seconds
        self._lock = threading.RLock()
        self._allowances: dict[str, _Allowance] = {}
        self._holding: set[str] = set()  # identities with lines held: a summary due
        self._timer: asyncio.TimerHandle | None = None
        # What each identity spent before a restart stays spent (console.server.audit_spent).
        self._spent_file = folder / SPENT_FILE
        moved_in(workspace / SPENT_FILE, self._spent_file)
        self._saved_at = time.monotonic()
        for name, buckets in restore(self._spent_file, burst_bytes, change_burst_bytes, self._saved_at).items():
            self._allowances[name] = _Allowance(*buckets)

    def _save_spent(self, now: float) -> None:
        self._saved_at = now
        for allowance in self._allowances.values():
            allowance.refill(now, self)
        wall = time.time()
        save_spent(self._spent_file, {name: (a.tokens, a.change_tokens, wall) for name, a in self._allowances.items()
                                      if a.tokens < self.burst_bytes or a.change_tokens < self.change_burst_bytes})

    def _emit(self, line: str) -> None:
        self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))

    def write(self, kind: str, identity: str | None = None, *, change: bool = False, **fields: Any) -> None:
        """One line: ``time``, ``event``, ``kind``, then ``fields`` (None values left out), bounded
        (:func:`bounded_line`).
        ``identity`` (a CN): whose allowance it is charged to; past it, only counted for a summary.
        None (refused connections, summed up by their own log) is never held. A ``change`` (done)
        past the allowance is written compact from the change budget, or named in the summary."""
        record = {"time": _now(), "event": str(uuid.uuid4()), "kind": kind,
                  **{k: v for k, v in fields.items() if v is not None}}
        line = bounded_line(record)
        with self._lock:
            if identity is None:
                self._emit(line)
                return
            now = time.monotonic()
            allowance = self._allowance(identity, now)
            self._write_due(now)
            if now - self._saved_at >= SAVE_SECONDS:
                self._save_spent(now)
            if allowance.tokens >= len(line) + 1:
                allowance.tokens -= len(line) + 1
                self._emit(line)
                return
            if change:
                short = bounded_line(compact(record))
                if allowance.change_tokens >= len(short) + 1:
                    allowance.change_tokens -= len(short) + 1
                    self._emit(short)
                    return
            self._hold(identity, allowance, record.get("command", record.get("kind")), record.get("outcome"),
                       record if change else None)

    # -- each identity's allowance ---------------------------------------------------------

    def _allowance(self, identity: str, now: float) -> _Allowance:
        allowance = self._allowances.get(identity)
        if allowance is None:
            if len(self._allowances) >= _MAX_IDENTITIES:  # forget those that owe nothing
                for name in [n for n, a in self._allowances.items() if not a.held][: _MAX_IDENTITIES // 2]:
                    del self._allowances[name]
            allowance = self._allowances[identity] = _Allowance(self.burst_bytes, self.change_burst_bytes, now)
        allowance.refill(now, self)
        return allowance

    def over(self, identity: str, command: Any = None, outcome: str | None = None) -> bool:
        """Whether ``identity``'s next line (not a change done) would be held whatever its size (it
        is holding lines and has less than ``MAX_LINE`` left): then it is counted here, and the
        caller builds nothing."""
        with self._lock:
            now = time.monotonic()
            allowance = self._allowance(identity, now)
            self._write_due(now)
            if not allowance.held or allowance.tokens >= MAX_LINE:
                return False
            self._hold(identity, allowance, command, outcome)
            return True

    def _hold(self, identity: str, allowance: _Allowance, command: Any, outcome: str | None,
              change: dict[str, Any] | None = None) -> None:
        self._holding.add(identity)
        if not allowance.held:
            allowance.since = _now()
            allowance.due = time.monotonic() + self.summary_seconds
            self._schedule()
        allowance.held += 1
        name = command if isinstance(command, str) else repr(command)
        name = cut_text(name, 32)
        if name in allowance.commands or len(allowance.commands) < _SUMMARY_COMMANDS:
            allowance.commands[name] = allowance.commands.get(name, 0) + 1
        else:
            allowance.commands["(others)"] = allowance.commands.get("(others)", 0) + 1
        key = outcome or "-"
        allowance.outcomes[key] = allowance.outcomes.get(key, 0) + 1
        if change is not None:
            allowance.note_change(change)

    def _schedule(self) -> None:
        """A summary comes when due even if the identity says nothing more: a timer on the server's
        loop (without one, the next line written, or ``close``, writes it)."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.summary_seconds, self._on_timer)

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._write_due(time.monotonic())
            if self._holding:
                self._schedule()

    def _write_due(self, now: float, every: bool = False) -> None:
        for identity in list(self._holding):
            allowance = self._allowances[identity]
            # A summary is charged to the identity's allowance too, on credit: one due while it owes
            # waits (its counts grow), so summaries never add to what the identity may write.
            if every or (allowance.due <= now and allowance.tokens >= 0):
                self._summarise(identity, allowance)
                self._holding.discard(identity)

    def _summarise(self, identity: str, allowance: _Allowance) -> None:
        who = cut_text(identity, 64)
        message = (f"{allowance.held} lines of {who} summarised: over its audit allowance "
                   f"({self.burst_bytes:.0f} bytes at once, {self.bytes_per_second:.0f} a second)")
        record: dict[str, Any] = {
            "time": _now(), "event": str(uuid.uuid4()), "kind": "summary", "user": who, "message": message,
            "lines": allowance.held, "since": allowance.since, "period_seconds": self.summary_seconds,
            "commands": allowance.commands, "outcomes": allowance.outcomes}
        if allowance.changes:
            record["message"] = (f"{message}; {allowance.changes} of them changes past its change budget too "
                                 f"({self.change_burst_bytes:.0f} bytes at once, {self.change_bytes_per_second:.0f} "
                                 "a second): the jobs and sites they changed are named")
            record.update(changes=allowance.changes, jobs=allowance.jobs, jobs_more=allowance.jobs_more or None,
                          sites=allowance.sites or None, sites_more=allowance.sites_more or None)
        line = bounded_line({k: v for k, v in record.items() if v is not None}, SUMMARY_LINE)
        self._emit(line)
        allowance.tokens -= len(line) + 1
        allowance.reset()

    def command(self, who: tuple[str, str, str], peer: Any, command: Any, args: Any, notes: dict[str, Any],
                error: BaseException | None, left_out: frozenset[str] = frozenset(), changes: bool = False) -> None:
        """The line of one admin request. ``who``: (CN, org, role) of the certificate; ``notes``: what
        the handler recorded (``job_id``, ``new_job_id``; ``UNCHANGED``, ``VIEW_REFUSED``); ``error``:
        None when it was done; ``left_out``: argument names whose value is replaced by its size;
        ``changes``: the command changes something (its spec's ``changes_state``), so done (and not
        ``UNCHANGED``) it is a change, never lost in a count (the module's docstring)."""
        shown = args
        if isinstance(args, dict) and left_out:
            shown = {k: (f"<left out: {len(str(v))} chars>" if k in left_out else v) for k, v in args.items()}
        outcome, right, message = "done", None, None
        if isinstance(error, RemoteError):
            refused = error.error_type in (ErrorType.AUTHORIZATION, ErrorType.AUTHENTICATION)
            outcome = "refused" if refused else "error"
            right = getattr(error, "right", None)
            message = f"{error.error_type.value}: {error.message}"
        elif isinstance(error, asyncio.CancelledError):
            outcome, message = "error", "cancelled: the session ended before the answer"
        elif error is not None:
            outcome = "error"
            message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        notes = dict(notes)
        hidden = notes.pop(VIEW_REFUSED, None)
        if hidden is not None:  # the user was told "not found" (or shown an empty folder): we say why
            outcome, right = "refused", "view"
            notes.setdefault("job_id", hidden)
            told = f"{message} (told the user; " if message else "(told the user its folder is not there; "
            message = f"{told}the job is outside the user's view)"
        name, org, role = who
        change = changes and outcome == "done" and not notes.get(UNCHANGED)
        if not change and self.over(str(name), command, outcome):  # a flood: counted, no line built
            return
        self.write("command", identity=str(name), change=change, user=cut(name), org=cut(org), role=cut(role),
                   peer=peer_address(peer), command=cut(command), **args_field(shown),
                   **{k: cut(v) for k, v in notes.items()}, outcome=outcome, right=right,
                   error=None if message is None else cut_text(message, 1000))

    def session(self, kind: str, who: tuple[str, str, str], peer: Any, error: str | None = None,
                username: Any = None) -> None:
        """An admin's ``login`` (refused: ``error`` says why; ``username``: the name it sent, which
        may not be the certificate's) or ``logout``."""
        name, org, role = who
        self.write(kind, identity=str(name), user=cut(name), org=cut(org), role=cut(role), peer=peer_address(peer),
                   username=None if username is None else cut(username if isinstance(username, str) else
                                                               repr(username)),
                   outcome="done" if error is None else "refused", error=None if error is None else cut(error))

    def site(self, kind: str, name: str, org: str | None, peer: Any, why: str | None = None) -> None:
        """A site's ``site_login`` or ``site_logout`` (``why``: why it left). A site turned away is
        a ``refused``, summed up."""
        self.write(kind, identity=str(name), site=cut(name), org=cut(org), peer=peer_address(peer), outcome="done",
                   reason=None if why is None else cut(why))

    def refused(self, *, what: str, peer: Any, reason: str, count: int | None = None, addresses: str | None = None,
                period_seconds: float | None = None) -> None:
        """A connection refused before any login could be judged (``what``: the TLS handshake, an
        admin certificate on the site port, a login never sent, a second connection of a site...),
        as the server's log has it: the first of a quiet spell, then one summary per period
        (``count`` more, from ``addresses``, the latest ``peer`` and ``reason``), never one line each."""
        self.write("refused_connection", what=what, peer=peer_address(peer), reason=cut_text(str(reason), 1000),
                   count=count, addresses=addresses, period_seconds=period_seconds, outcome="refused")

    def close(self) -> None:
        """Write every pending summary, then close the file."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._write_due(time.monotonic(), every=True)
            self._save_spent(time.monotonic())
            self._handler.close()
