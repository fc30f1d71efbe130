"""Where a task's model and its results lie in a job's workspace (``.transfer/``, ``TRANSFER_DIR``).

Owns these file names, shared by the daemons that move the files (the server's deployment, a site's
job runner) and the job processes that read and write them (``console.runtime.context``,
``console.runtime.site_app``). Must not import numpy or the model format (``console.runtime.arrays``):
the server and site daemons only name these files, and a daemon's start should not pay for numpy.
"""

from __future__ import annotations

from pathlib import Path

from console.runtime.child import TRANSFER_DIR


def task_file(workspace: Path, task_id: int) -> Path:
    """The model a task sends out: ``.transfer/task-ID.model``, on the server and on each site."""
    return workspace / TRANSFER_DIR / f"task-{task_id}.model"


def result_file(workspace: Path, task_id: int, site: str | None = None) -> Path:
    """A site's answer to a task: ``.transfer/result-ID.model`` in the site's job workspace; on the
    server, one per site, ``.transfer/result-ID-SITE.model``."""
    return workspace / TRANSFER_DIR / (f"result-{task_id}-{site}.model" if site else f"result-{task_id}.model")
