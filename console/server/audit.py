"""The server's audit trail: who ran which command, with what outcome; sites and admins coming and going.

One JSON object per line in ``<workspace>/audit/audit.log`` (the folder is 0700 and, like the
kit and the store, out of reach of the file commands ``ls``/``cat``/...: only the server's
operator reads it). A line is written once the outcome is known:

- ``"kind": "command"``: ``time`` (UTC, ISO 8601), ``event`` (an ID of its own, as FLARE's
  audit.log has), ``user``, ``org``, ``role`` (from the certificate), ``peer`` (address:port),
  ``command``, ``args`` (as sent, each value cut; client-filled values such as the job's
  signature left out), ``job_id`` (the job a job ID or prefix resolved to; ``new_job_id`` for
  the job a submit or clone made), ``outcome`` (``done``; ``refused`` with the ``right`` that
  was missing; ``error`` with the ``error`` the user got).
- ``"kind": "login"``/``"logout"`` for admin sessions (a login with the ``username`` it sent),
  ``"site_login"``/``"site_logout"`` for sites (``site`` instead of ``user``; ``reason``: why a
  site left).
- ``"kind": "refused_connection"``: a connection turned away before a login could be judged or
  a site let in (``what``: the TLS handshake, a login never sent, a second connection of a site, a
  cap; ``peer``, ``reason``), written as the server's log is: the first of a quiet spell, then one
  summary a period (``count``, ``addresses``), so a flood writes a few lines, not one each.

Lines cannot be forged by what they quote: JSON with ``ensure_ascii`` escapes newlines, every
control character and everything not ASCII (U+2028 too), so one record is always one line.
Bounded: past ``MAX_BYTES`` the file is rotated to ``audit.log.1`` (``.1`` to ``.2``, ...),
keeping ``BACKUPS`` old files; the oldest is dropped. Owns only that folder; the serving side
(``console.wire.serving``) and the site registry call it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.wire.errors import ErrorType, RemoteError

AUDIT_FOLDER = "audit"
AUDIT_FILE = "audit.log"
#: Size at which the file is rotated, and how many rotated files are kept: at most 110 MiB in all.
MAX_BYTES = 10 << 20
BACKUPS = 10
#: Longest text kept of one argument value or error; longest list; most keys of an object.
MAX_TEXT = 256
MAX_ITEMS = 20


def _cut_text(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...(+{len(text) - limit} chars)"


def cut(value: Any, depth: int = 0) -> Any:
    """``value`` with every text cut to ``MAX_TEXT`` characters, lists and objects to ``MAX_ITEMS``
    entries, nesting to 3 levels: what one hostile request can put in a line is bounded."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cut_text(value)
    if depth >= 3:
        return _cut_text(json.dumps(value, default=str))
    if isinstance(value, list | tuple):
        items = [cut(v, depth + 1) for v in value[:MAX_ITEMS]]
        return items + [f"...(+{len(value) - MAX_ITEMS} more)"] if len(value) > MAX_ITEMS else items
    if isinstance(value, dict):
        kept = {_cut_text(str(k), 64): cut(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
        if len(value) > MAX_ITEMS:
            kept["..."] = f"+{len(value) - MAX_ITEMS} more"
        return kept
    return _cut_text(repr(value))


def _address(peer: Any) -> str | None:
    if isinstance(peer, tuple | list) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return None if peer is None else str(peer)


class AuditLog:
    """Append-only, size-rotated JSON lines under ``workspace/audit/``; thread-safe (the handler's lock)."""

    def __init__(self, workspace: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        folder = workspace / AUDIT_FOLDER
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        self.path = folder / AUDIT_FILE
        self._handler = logging.handlers.RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                                             encoding="ascii", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, kind: str, **fields: Any) -> None:
        """One line: ``time``, ``event``, ``kind``, then ``fields`` (None values left out)."""
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": str(uuid.uuid4()),
                  "kind": kind, **{k: v for k, v in fields.items() if v is not None}}
        line = json.dumps(record, ensure_ascii=True, separators=(", ", ": "), default=str)
        self._handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))

    def command(self, who: tuple[str, str, str], peer: Any, command: Any, args: Any, notes: dict[str, Any],
                error: BaseException | None, left_out: frozenset[str] = frozenset()) -> None:
        """The line of one admin request. ``who``: (CN, org, role) of the certificate; ``notes``: what
        the handler recorded (``job_id``, ``new_job_id``); ``error``: None when it was done;
        ``left_out``: argument names whose value is replaced by its size."""
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
        name, org, role = who
        self.write("command", user=cut(name), org=cut(org), role=cut(role), peer=_address(peer),
                   command=cut(command), args=cut(shown), **{k: cut(v) for k, v in notes.items()},
                   outcome=outcome, right=right, error=None if message is None else _cut_text(message, 1000))

    def session(self, kind: str, who: tuple[str, str, str], peer: Any, error: str | None = None,
                username: Any = None) -> None:
        """An admin's ``login`` (refused: ``error`` says why; ``username``: the name it sent, which
        may not be the certificate's) or ``logout``."""
        name, org, role = who
        self.write(kind, user=cut(name), org=cut(org), role=cut(role), peer=_address(peer),
                   username=None if username is None else cut(username if isinstance(username, str) else
                                                               repr(username)),
                   outcome="done" if error is None else "refused", error=None if error is None else cut(error))

    def site(self, kind: str, name: str, org: str | None, peer: Any, why: str | None = None) -> None:
        """A site's ``site_login`` or ``site_logout`` (``why``: why it left). A site turned away is
        a ``refused``, summed up."""
        self.write(kind, site=cut(name), org=cut(org), peer=_address(peer), outcome="done",
                   reason=None if why is None else cut(why))

    def refused(self, *, what: str, peer: Any, reason: str, count: int | None = None, addresses: str | None = None,
                period_seconds: float | None = None) -> None:
        """A connection refused before any login could be judged (``what``: the TLS handshake, an
        admin certificate on the site port, a login never sent, a second connection of a site...),
        as the server's log has it: the first of a quiet spell, then one summary per period
        (``count`` more, from ``addresses``, the latest ``peer`` and ``reason``), never one line each."""
        self.write("refused_connection", what=what, peer=_address(peer), reason=_cut_text(str(reason), 1000),
                   count=count, addresses=addresses, period_seconds=period_seconds, outcome="refused")

    def close(self) -> None:
        self._handler.close()
