"""Per-site lists of job IDs kept beside the job store in a JSON file, so they outlive a restart.

Owns reading and writing such a file (``{site: [job_id, ...]}``, sites with no job left out); what
the lists mean stays their owner's: the workspaces of deleted jobs still on sites that were away
(``sites.py``), the workspaces of abandoned jobs still to collect (``abandoned.py``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


def load_site_jobs(path: Path) -> dict[str, list[str]]:
    """The lists in ``path``; empty when it is missing, unreadable or not of that shape (entries that are
    not job IDs dropped)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(site): [j for j in jobs if isinstance(j, str)] for site, jobs in data.items()
            if isinstance(jobs, list)}


def _text(lists: dict[str, list[str]]) -> str:
    return json.dumps({site: jobs for site, jobs in lists.items() if jobs})


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_site_jobs(path: Path, lists: dict[str, list[str]]) -> None:
    """``lists`` into ``path`` (written aside and renamed over it: never half written). One writer at a
    time: from several threads, ``SiteJobsFile``."""
    _write(path, _text(lists))


class SiteJobsFile:
    """``path`` written from worker threads: each save's lists taken where they change (the event loop),
    written one at a time, and a save taken earlier never replaces a later one. Two saves at once wrote the
    same ``.tmp`` file together, and the file read back as ``{}`` plus the rest of the longer one: not JSON,
    so the next start forgot every list (seen in tests/test_abandoned_jobs.py as two sites' collections ended)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._taken = 0
        self._written = 0

    def taken(self, lists: dict[str, list[str]]) -> tuple[int, str]:
        """The lists as they are now, to ``write`` (in a thread)."""
        self._taken += 1
        return self._taken, _text(lists)

    def write(self, taken: tuple[int, str]) -> None:
        with self._lock:
            if taken[0] < self._written:
                return
            _write(self.path, taken[1])
            self._written = taken[0]
