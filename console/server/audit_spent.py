"""What each identity has spent of its audit allowance, kept across the server's restarts.

Without it every start gave every identity a fresh burst (1 MiB, and 64 KiB of compact change
lines): a lead allowed ``restart`` could refill its own allowance at will and wipe the 110 MiB trail
in about half an hour (security tester, session 10, item 2). The audit log saves here, at its
close and at most every ``SAVE_SECONDS`` while lines are written, the buckets of the identities that
owe something (``{cn: [tokens, change_tokens, unix time]}``); at start each comes back as saved,
refilled for the time the server was down. A kill -9 loses at most the last ``SAVE_SECONDS`` of
spending.

Owns that file (``audit/audit_spent.json`` in the server's workspace: it tells who was active and how
much, so it lies where no file command reaches, as the trail does; a server before session 11 kept it
beside ``audit/``, where ``cat server audit_spent.json`` served it: ``moved_in`` takes it in once);
the buckets' rules stay ``console.server.audit``'s.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("console.server.audit_spent")

SPENT_FILE = "audit_spent.json"
#: How often, at most, the file is written while the trail is written to.
SAVE_SECONDS = 5.0
#: Identities restored at most (the audit log remembers as many at once).
MAX_SAVED = 4096


def moved_in(old: Path, new: Path) -> None:
    """The file an older server kept at ``old`` (the workspace's root) moved to ``new`` (in ``audit/``);
    where both are there the newer place wins and the old file goes. Errors are said in the log (the
    old file then stays where it was, and its spending is not restored)."""
    try:
        if new.exists():
            old.unlink(missing_ok=True)
        elif old.exists():
            os.replace(old, new)
    except OSError as exc:
        log.warning("%s could not be moved into %s: %s", old, new.parent, exc)


def load_spent(path: Path) -> dict[str, tuple[float, float, float]]:
    """Each identity's saved ``(tokens, change_tokens, unix time saved)``; empty when the file is
    missing; a file not of that shape is said in the log and ignored (entries not of it dropped)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s could not be read (%s): every identity starts with its whole audit allowance", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    spent: dict[str, tuple[float, float, float]] = {}
    for identity, entry in data.items():
        if (isinstance(entry, list) and len(entry) == 3
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in entry)):
            spent[str(identity)] = (float(entry[0]), float(entry[1]), float(entry[2]))
    return spent


def restore(path: Path, burst: float, change_burst: float, now: float) -> dict[str, tuple[float, float, float]]:
    """Each saved identity's ``(tokens, change_tokens, at)``: its buckets as saved (capped at their
    bursts, as the limits may be lower now) and ``at``, the monotonic time ``now`` less the time since
    they were saved, so their refill counts the time the server was down (never less than none)."""
    wall = time.time()
    return {name: (min(tokens, burst), min(change_tokens, change_burst), now - max(0.0, wall - saved))
            for name, (tokens, change_tokens, saved) in list(load_spent(path).items())[:MAX_SAVED]}


def save_spent(path: Path, spent: dict[str, tuple[float, float, float]]) -> None:
    """``spent`` into ``path`` (written aside and renamed over it: never half written); an error is
    said in the log, never raised (the trail goes on)."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({k: [round(v, 1) for v in entry] for k, entry in spent.items()}))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("%s could not be written: %s", path, exc)
