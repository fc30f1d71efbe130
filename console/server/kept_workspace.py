"""What the server keeps of a job's workspace once the job ends, and what it tidies at start.

A job's server workspace (``<server>/<job_id>/``) is archived into the store as
``workspace.zip`` when the job ends: without the files that are copies of the job's own
archive (its server app unpacked: ``job.zip`` keeps them), without the models in flight
(``.transfer/``), and within ``job_limits.max_workspace_bytes`` plus the size of ``job.zip``
(a job that brings an N-byte model may leave an N-byte final model), its logs, metrics and
final model kept first. Anything left out is said in the job's ``job_errors``. The folder
is then removed but for its ``log.txt`` (a few KB: ``follow`` and ``tail server JOB/log.txt``
still read it after the end), as FLARE removes its run folder once saved.

At start, a job the server was running when it died (``FINISHED:ABANDONED``) gets the same:
what its workspace held then is archived (its log up to the stop first), ``.transfer/`` goes,
and its ``job_errors`` say so, and which sites' workspaces are collected as they connect again
(``console.server.abandoned``). Folders of finished jobs still whole are trimmed; folders of
jobs the store no longer knows are removed. Owns no job state; the runner and the server's
start call it.
"""

from __future__ import annotations

import logging
import shutil
import uuid
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from console.jobdef.archive import JobLimits
from console.jobdef.packing import READ_ERRORS, TRUNCATION_NOTE, KnownFiles, LinkPolicy, zip_dir_to_file
from console.runtime.child import TRANSFER_DIR
from console.server.job_errors import JobErrors, Supersedes
from console.server.status import JobStatus

log = logging.getLogger("console.server.kept_workspace")

SERVER_APP_DIR = "app_server"
LOG_FILE = "log.txt"
#: What stays of a job's server workspace folder once it is archived.
KEPT_AFTER_ARCHIVE = frozenset({LOG_FILE})
#: Files named in a job_errors entry about what an archive left out; the archive's note names all.
_NAMED = 5


def workspace_limit(limits: JobLimits, job_zip: Path) -> int:
    """The bytes a job's server workspace archive may hold: ``max_workspace_bytes`` + its job.zip's size."""
    try:
        return limits.max_workspace_bytes + job_zip.stat().st_size
    except OSError:
        return limits.max_workspace_bytes


def left_out_error(left_out: list[str], limit: str, where: str) -> str:
    """The job_errors entry for a workspace archive that left files out (``where``: its folder in a download)."""
    names = ", ".join(left_out[:_NAMED]) + (f" and {len(left_out) - _NAMED} more" if len(left_out) > _NAMED else "")
    return (f"its workspace archive was over its limit of {limit}; left out: {names} (all named in "
            f"{where}{TRUNCATION_NOTE} of the download); raise job_limits.max_workspace_bytes to keep them")


def archive_workspace(workspace: Path, job_zip: Path, app_name: str, target: Path, limits: JobLimits,
                      submitter: str | None = None) -> str | None:
    """Archive ``workspace`` into ``target`` (see the module's docstring) and trim the folder to its
    log; the job_errors entry to record if files were left out, else None. Raises OSError (the
    folder is then kept whole: the results are only there). ``submitter``: the job's, by whom the
    lines about files left out are summed up."""
    shutil.rmtree(workspace / TRANSFER_DIR, ignore_errors=True)  # models in flight, not results
    known = KnownFiles(job_zip, app_name, SERVER_APP_DIR) if app_name else None
    limit = workspace_limit(limits, job_zip)
    left_out = zip_dir_to_file(workspace, target, "", LinkPolicy.SKIP, limit, known, limits.max_entries, submitter)
    trim(workspace)
    if not left_out:
        return None
    return left_out_error(left_out, f"{limit} bytes (the server's job_limits.max_workspace_bytes plus the size of "
                          "the job's archive)", "workspace/")


def trim(workspace: Path) -> None:
    """Remove an archived workspace but for its log."""
    for child in workspace.iterdir():
        if child.name in KEPT_AFTER_ARCHIVE and child.is_file() and not child.is_symlink():
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def site_left_out(site_zip: Path) -> list[str]:
    """What a site's workspace archive says it left out for the site's limit (none: [])."""
    try:
        with zipfile.ZipFile(site_zip) as archive:
            if TRUNCATION_NOTE not in archive.namelist():
                return []
            with archive.open(TRUNCATION_NOTE) as note:  # its first 64 KiB, never the whole entry into memory
                text = note.read(64 << 10).decode(errors="replace")
    except (OSError, KeyError, *READ_ERRORS):
        return []
    return [line for line in text.splitlines()[1:] if line.strip()]


class JobFiles(Protocol):
    """What tidying needs of the job store (``console.server.store.JobStore``)."""

    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def job_zip(self, job_id: str) -> Path: ...
    def workspace_zip(self, job_id: str) -> Path: ...
    def update_meta(self, job_id: str, **updates: Any) -> None: ...


def job_folders(root: Path) -> list[str]:
    """The job workspace folders under the server's folder (named by a job ID) now."""
    found = []
    for child in root.iterdir():
        try:
            uuid.UUID(child.name)
        except ValueError:
            continue
        if child.is_dir() and not child.is_symlink():
            found.append(child.name)
    return found


def tidy_at_start(root: Path, store: JobFiles, limits: JobLimits, folders: list[str],
                  abandoned: Mapping[str, set[str]], server_app: Callable[[dict[str, Any]], str],
                  done: Callable[[str], None] = lambda job_id: None) -> None:
    """At start (the server's folders listed before any job ran): archive and note the abandoned
    jobs' workspaces, trim the finished ones still whole, remove those of deleted jobs, and the
    result files a kill cut short (``clear_partial_files``) of all of those. A job
    deleted meanwhile is skipped. ``abandoned``: each abandoned job's sites, whose workspaces are
    collected as they connect again; ``server_app``: a job meta's server app; ``done(job_id)``:
    called (in this thread) as each job's folder is dealt with, archived or not."""
    for job_id in sorted(set(abandoned) | set(folders)):  # their result files may have been half-written
        if removed := clear_partial_files(store.job_zip(job_id).parent):
            log.info("job %s: removed result files cut short when the server stopped: %s", job_id, ", ".join(removed))
    for job_id in folders:
        try:
            _tidy_one(root / job_id, job_id, store, limits, abandoned.get(job_id), server_app)
        except Exception:  # one job's leftovers must not keep the others' untidied
            log.exception("job %s: its workspace folder could not be tidied", job_id)
        finally:
            done(job_id)
    for job_id in sorted(set(abandoned) - set(folders)):
        note(store, job_id, f"{ABANDONED}; it had no server workspace yet; {sites_note(abandoned[job_id])}")


ABANDONED = "the server stopped while the job was running (FINISHED:ABANDONED)"


def clear_partial_files(job_dir: Path) -> list[str]:
    """What a server killed while it wrote a job's result files left in the job's store folder:
    the temporary ``.part`` files beside ``workspace.zip`` and the sites' zips, and site zips cut
    short (a download would hand them out as the site's workspace). Their names, as removed."""
    removed = []
    for folder in (job_dir, job_dir / "sites"):
        try:
            children = list(folder.iterdir())
        except OSError:
            continue
        for child in children:
            if not child.is_file() or child.is_symlink():
                continue
            if child.name.endswith(".part") or (folder.name == "sites" and child.suffix == ".zip"
                                                and not _whole_zip(child)):
                child.unlink(missing_ok=True)
                removed.append(child.relative_to(job_dir).as_posix())
    return removed


def _whole_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path):
            return True
    except (OSError, zipfile.BadZipFile):
        return False


def sites_note(sites: set[str]) -> str:
    """What an abandoned job's errors say of its sites' workspaces at start."""
    if not sites:
        return "it ran on no site"
    return (f"its sites' workspaces ({', '.join(sorted(sites))}) are collected as each connects again: "
            "each site's entry here says when")


def _tidy_one(workspace: Path, job_id: str, store: JobFiles, limits: JobLimits, abandoned: set[str] | None,
              server_app: Callable[[dict[str, Any]], str]) -> None:
    meta = store.get(job_id)
    if meta is None:  # deleted, and its folder stayed (a crash during delete_job)
        shutil.rmtree(workspace, ignore_errors=True)
        log.info("job %s: removed the workspace folder of a job the store no longer has", job_id)
        return
    if not JobStatus(meta["status"]).is_final:
        return
    target = store.workspace_zip(job_id)
    left_out = None
    try:  # its log's last line is the last sign of its run: when the server stopped, near enough (job_errors' time)
        stopped_at: float | None = (workspace / LOG_FILE).stat().st_mtime
    except OSError:
        stopped_at = None
    if target.is_file():  # archived already (the server died after that): what stayed beside it goes
        trim(workspace)
    else:
        left_out = archive_workspace(workspace, store.job_zip(job_id), server_app(meta), target, limits,
                                     meta.get("submitter_name"))
        log.info("job %s: archived its workspace at start%s", job_id, " (abandoned)" if abandoned is not None else "")
    if abandoned is not None:
        note(store, job_id, f"{ABANDONED}; what its server workspace held then is archived ({LOG_FILE} up to "
                            f"the stop, in the download's workspace/); {sites_note(abandoned)}", at=stopped_at)
    if left_out:
        note(store, job_id, left_out)


def note(store: JobFiles, job_id: str, message: str, who: str = "server", supersedes: Supersedes | None = None,
         at: float | None = None) -> None:
    """Add ``message`` to the job's ``job_errors`` under ``who``, stamped now (or ``at``, epoch seconds), in
    place of the earlier note it ``supersedes`` if that is there (``console.server.job_errors``). A read and a
    write: call it where no other write of the job's errors comes in between, as the store's writer thread."""
    meta = store.get(job_id)
    if meta is None:
        return
    errors = JobErrors.from_meta(meta)
    errors.add(who, message, supersedes, at)
    store.update_meta(job_id, **errors.meta())
