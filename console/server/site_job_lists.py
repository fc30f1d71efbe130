"""Per-site lists of job IDs kept beside the job store in a JSON file, so they outlive a restart.

Owns reading and writing such a file (``{site: [job_id, ...]}``, sites with no job left out); what
the lists mean stays their owner's: the workspaces of deleted jobs still on sites that were away
(``sites.py``), the workspaces of abandoned jobs still to collect (``abandoned.py``).
"""

from __future__ import annotations

import json
import os
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


def save_site_jobs(path: Path, lists: dict[str, list[str]]) -> None:
    """``lists`` into ``path`` (written aside and renamed over it: never half written)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({site: jobs for site, jobs in lists.items() if jobs}))
    os.replace(tmp, path)
