"""A job's errors: what went wrong per target, when each note was recorded, and a later note that
settles an earlier one taking that one's place.

Shape, as ``get_job_meta`` (and ``list_jobs -d``) return it and the store keeps it:

- ``job_errors``: ``{target: [message, ...]}`` (``server`` or a site's name; unchanged, so a FLARE-API
  caller reads it as before);
- ``job_error_times``: ``{target: [time, ...]}``, the same targets, one time per message in the same
  order: when the server recorded that note, ISO 8601 local time with its offset (the format of
  ``start_time``, ``submit_time_iso``). ``null`` for a note recorded before times were kept. The note of
  a job the server was running when it was killed (``FINISHED:ABANDONED``, written at its next start)
  has the time of its server log's last line, the last sign of its run (when it had one).

A note that settles an earlier one (a site away when its job ended: "its workspace was not collected
... it is collected when the site connects again"; then, at its next login, "its workspace was
collected") takes its place rather than standing after it: the earlier note and its time go, and the
later one says what the earlier said and when (session 12's user: two notes, no times, contradicting).

Limits (``console.runtime.limits``): a message is cut at 4 KiB, at most 100 notes a target (the last
says that more were dropped).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.runtime.limits import MAX_ERRORS_PER_TARGET, cut

#: The meta keys (kept beside the meta row: ``console.server.store.SIDE_KEYS``).
ERRORS_KEY = "job_errors"
TIMES_KEY = "job_error_times"
DROPPED = f"more errors were dropped (at most {MAX_ERRORS_PER_TARGET} are kept)"


def now_iso(epoch: float | None = None) -> str:
    """``epoch`` (now when None) as the meta's times are written: local ISO 8601 with offset."""
    return datetime.fromtimestamp(time.time() if epoch is None else epoch).astimezone().isoformat()


def _short(stamp: str) -> str:
    """A note's time inside another note's text as the shell shows the notes' times (``YYYY-MM-DD HH:MM:SS``,
    ``console.shell.human.local_time``), in the stamp's own (the server's local) time: the replacing note
    then names the earlier one's time as a person read it beside that note."""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


@dataclass(frozen=True)
class Supersedes:
    """What a new note settles: the ``earlier`` message it takes the place of (exactly as recorded), and
    ``was``, a clause saying what that one said, for the new note (``the site was away when the job ended``)."""

    earlier: str
    was: str


@dataclass
class JobErrors:
    """A job's notes per target (``messages``) and when each was recorded (``times``, parallel lists)."""

    messages: dict[str, list[str]] = field(default_factory=dict)
    times: dict[str, list[str | None]] = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> JobErrors:
        """A stored meta's errors (times missing from an older record are ``None``)."""
        errors = meta.get(ERRORS_KEY) if isinstance(meta.get(ERRORS_KEY), dict) else {}
        times = meta.get(TIMES_KEY) if isinstance(meta.get(TIMES_KEY), dict) else {}
        found = cls()
        for target, messages in errors.items():
            if not isinstance(messages, list):
                continue
            stamps = times.get(target) if isinstance(times.get(target), list) else []
            found.messages[str(target)] = [str(m) for m in messages]
            found.times[str(target)] = [stamps[i] if i < len(stamps) and isinstance(stamps[i], str) else None
                                        for i in range(len(messages))]
        return found

    def __bool__(self) -> bool:
        return bool(self.messages)

    def get(self, target: str) -> list[str]:
        return self.messages.get(target, [])

    def meta(self) -> dict[str, Any]:
        """The meta keys to store: ``{"job_errors": ..., "job_error_times": ...}`` (copies)."""
        return {ERRORS_KEY: {t: list(m) for t, m in self.messages.items()},
                TIMES_KEY: {t: list(self.times.get(t, [None] * len(m))) for t, m in self.messages.items()}}

    def add(self, target: str, message: str, supersedes: Supersedes | None = None, at: float | None = None) -> None:
        """Record ``message`` under ``target``, stamped now (or ``at``, epoch seconds), within the limits;
        with ``supersedes``, in place of that earlier note when it is there (then the message says what
        that one said, and when)."""
        messages = self.messages.setdefault(target, [])
        times = self.times.setdefault(target, [])
        times += [None] * (len(messages) - len(times))
        if supersedes is not None and supersedes.earlier in messages:
            at_index = messages.index(supersedes.earlier)
            when = times[at_index]
            del messages[at_index], times[at_index]
            message = f"{message} (in place of the note {'of ' + _short(when) + ' ' if when else ''}" \
                      f"that said {supersedes.was})"
        stamp = now_iso(at)
        if len(messages) < MAX_ERRORS_PER_TARGET - 1:
            messages.append(cut(message))
            times.append(stamp)
        elif len(messages) == MAX_ERRORS_PER_TARGET - 1:
            messages.append(DROPPED)
            times.append(stamp)


def add_error(errors: JobErrors, target: str, message: str, supersedes: Supersedes | None = None) -> None:
    """Record ``message`` under ``target`` in a job's ``errors``, stamped now (``JobErrors.add``)."""
    errors.add(target, message, supersedes)
