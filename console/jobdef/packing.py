"""Zip archives of job folders and workspaces: what goes in, in which order, within which limit.

A job folder is zipped whole (a link out of it refused); a workspace without links out of it,
without the files that are copies of the job's own archive (``KnownFiles``), and within a size
limit that keeps its logs, metrics and final model first and names what it left out in
``ARCHIVE_TRUNCATED.txt``. Extraction is ``console.jobdef.archive``'s.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from console.jobdef.validate import JobDefinitionError
from console.log_floods import per_peer
from console.names import unseen_in

log = logging.getLogger(__name__)

_SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store"})
_SKIPPED_SUFFIXES = (".pyc",)
_COPY_BLOCK = 1 << 20
# What a malformed archive can raise from zipfile and the decompressors while being read.
READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error,
               NotImplementedError, RuntimeError)


class LinkPolicy(Enum):
    """What zipping does with a link that points out of the folder being zipped, and with a file or
    folder whose name holds a control or invisible character (``console.names.UNSEEN``: every
    receiver's ``check_archive`` refuses such an entry, and the whole archive with it)."""

    REFUSE = "refuse"  # a job folder: the submitter must fix it
    SKIP = "skip"  # a workspace: keep the rest of the job's results, never the linked file


@dataclass(frozen=True)
class _Member:
    path: Path
    arcname: str
    relative: str  # its place in the folder archived, whatever the archive's prefix


def _skipped(name: str) -> bool:
    return name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES)


def _outside_link(path: Path, root: Path, policy: LinkPolicy, flood: dict[str, object]) -> bool:
    """True if ``path`` is a link out of ``root`` to be skipped; raises if the policy refuses it."""
    if not path.is_symlink():
        return False
    target = path.resolve()
    if target.is_relative_to(root):
        return False
    if policy is LinkPolicy.REFUSE:
        raise JobDefinitionError(
            f"{path} is a link to {target}, outside the folder; copy the file into the folder instead"
        )
    log.warning("not archiving %s: it links to %s, outside %s", path, target, root, extra=flood)
    return True


def _unseen_name(path: Path, name: str, policy: LinkPolicy, flood: dict[str, object]) -> bool:
    """True if ``name`` (of ``path``) holds a control or invisible character and is to be skipped;
    raises if the policy refuses it."""
    unseen = unseen_in(name)
    if unseen is None:
        return False
    if policy is LinkPolicy.REFUSE:
        raise JobDefinitionError(f"{str(path)!r} has the control or invisible character {unseen!r} in its name; "
                                 "the server refuses such names in a job: rename it")
    log.warning("not archiving %r: its name holds the control or invisible character %r", str(path), unseen,
                extra=flood)
    return True


def _members(root: Path, prefix: str, policy: LinkPolicy, exclude: Path | None,
             flood: dict[str, object]) -> list[_Member]:
    members: list[_Member] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not _unseen_name(here / d, d, policy, flood)]
        # os.walk never descends into linked folders; a link inside the folder is archived
        # under its real path anyway, and one out of it is refused or skipped here.
        linked = {d for d in dirnames if (here / d).is_symlink()}
        for name in sorted(linked):
            if not _skipped(name):
                _outside_link(here / name, root, policy, flood)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d) and d not in linked)
        for name in filenames:
            path = here / name
            if _skipped(name) or _unseen_name(path, name, policy, flood) or _outside_link(path, root, policy, flood):
                continue
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:  # vanished meanwhile, or a dangling link inside the folder
                continue
            # A FIFO or socket would block or fail the archive; they are never job content.
            if not stat.S_ISREG(mode) or (exclude is not None and path.resolve() == exclude):
                continue
            relative = path.relative_to(root).as_posix()
            members.append(_Member(path, prefix + relative, relative))
    return sorted(members, key=lambda m: m.arcname)


def _write_zip(folder: Path, out: Path | BinaryIO, prefix: str, policy: LinkPolicy,
               max_bytes: int | None = None, known: KnownFiles | None = None,
               max_entries: int | None = None, owner: str | None = None) -> list[str]:
    flood = per_peer(owner)  # every line below is one the owner's job code can cause again and again
    root = Path(folder).resolve()
    if not root.is_dir():
        raise JobDefinitionError(f"{folder} is not a folder; nothing to archive")
    prefix = prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    if not isinstance(out, str | os.PathLike):
        return _write_members(out, _unknown(_members(root, prefix, policy, None, flood), known, flood), max_bytes,
                              max_entries, flood)
    out = Path(out)
    members = _unknown(_members(root, prefix, policy, out.resolve(), flood), known, flood)
    # Write beside the target and rename, so a failure never leaves a half-written archive.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            left_out = _write_members(tmp, members, max_bytes, max_entries, flood)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return left_out


class KnownFiles:
    """The files of a job's archive (job.zip) as a workspace holds them unpacked: ``app_dir/...``
    for the app's entries ``app_name/...``. A workspace file with the same size and CRC-32 as its
    entry is a copy of what the job's archive keeps already: a workspace archive leaves it out
    (a 1 GB initial model would otherwise be stored twice, and crowd out the job's results)."""

    def __init__(self, job_zip: Path, app_name: str, app_dir: str) -> None:
        self.entries: dict[str, tuple[int, int]] = {}
        source = app_name.strip("/") + "/"
        try:
            with zipfile.ZipFile(job_zip) as archive:
                for info in archive.infolist():
                    name = info.filename.replace("\\", "/")
                    if not info.is_dir() and name.startswith(source):
                        self.entries[f"{app_dir.strip('/')}/{name[len(source):]}"] = (info.file_size, info.CRC)
        except (*READ_ERRORS, OSError) as exc:  # nothing is known: the workspace is archived whole
            log.warning("cannot read %s to leave its copies out of the workspace archive: %s", job_zip, exc)

    def holds(self, member: _Member) -> bool:
        entry = self.entries.get(member.relative)
        if entry is None:
            return False
        try:
            if member.path.stat().st_size != entry[0]:
                return False
            crc = 0
            with open(member.path, "rb") as src:
                while block := src.read(_COPY_BLOCK):
                    crc = zlib.crc32(block, crc)
        except OSError:
            return False
        return crc == entry[1]


def _unknown(members: list[_Member], known: KnownFiles | None, flood: dict[str, object]) -> list[_Member]:
    """``members`` without the copies of files the job's archive holds."""
    if known is None or not known.entries:
        return members
    kept = [member for member in members if not known.holds(member)]
    if len(kept) < len(members):
        log.info("not archiving %d file(s) of %s: the job's archive holds the same", len(members) - len(kept),
                 members[0].path.parent, extra=flood)
    return kept


_SAMPLE_BYTES = 1 << 20


def _compression_for(path: Path) -> int:
    """Deflate, except for big files whose first MiB shrinks by less than a quarter (model weights,
    archives, random data): deflating 100 MB of float32 weights costs seconds to save ~10 %."""
    try:
        if path.stat().st_size <= _SAMPLE_BYTES:
            return zipfile.ZIP_DEFLATED
        with open(path, "rb") as src:
            sample = src.read(_SAMPLE_BYTES)
    except OSError:
        return zipfile.ZIP_DEFLATED
    return zipfile.ZIP_STORED if len(zlib.compress(sample, 1)) > 0.75 * len(sample) else zipfile.ZIP_DEFLATED


#: Written into an archive that hit its size limit: what was left out.
TRUNCATION_NOTE = "ARCHIVE_TRUNCATED.txt"
#: Largest such note: past it, the names left out are only counted.
TRUNCATION_NOTE_BYTES = 1 << 20


#: What a workspace archive over its limit keeps first: the job's logs and metrics, then its final model.
_LOG_NAMES = ("log.txt",)
_RESULT_PREFIXES = ("final_model", "FL_global_model", "best_model", "FL_best_model")


def _rank(member: _Member) -> int:
    """0: a log or metrics, 1: a final model (ours, FLARE's persistors'), 2: anything else."""
    name = member.path.name
    if name in _LOG_NAMES or name.endswith(".log") or name.startswith("metrics"):
        return 0
    return 1 if name.startswith(_RESULT_PREFIXES) else 2


def _within_budget(members: list[_Member], max_bytes: int | None,
                   max_entries: int | None = None) -> tuple[list[_Member], list[str]]:
    """The members that fit in ``max_bytes`` (by their size on disk: logs and metrics first, then the
    final model, then the rest smallest first, so a job's results survive a huge file of its own)
    and in ``max_entries`` (one place kept for the note), and the names of those left out."""
    if max_bytes is None and max_entries is None:
        return members, []
    sized = []
    for member in members:
        try:
            sized.append((member.path.stat().st_size, member))
        except OSError:
            continue
    places = len(sized) if max_entries is None else max(max_entries - 1, 0)
    kept, left_out, total = [], [], 0
    for size, member in sorted(sized, key=lambda item: (_rank(item[1]), item[0], item[1].arcname)):
        if (max_bytes is not None and total + size > max_bytes) or len(kept) >= places:
            left_out.append(f"{member.arcname} ({size} bytes)")
            continue
        total += size
        kept.append(member)
    return sorted(kept, key=lambda m: m.arcname), left_out


def _limits(max_bytes: int | None, max_entries: int | None) -> str:
    return " and ".join(part for part in (f"{max_bytes} bytes" if max_bytes is not None else "",
                                          f"{max_entries} entries" if max_entries is not None else "") if part)


def _note(max_bytes: int | None, max_entries: int | None, left_out: list[str]) -> str:
    """``TRUNCATION_NOTE``'s text, at most ``TRUNCATION_NOTE_BYTES``: the names past that are counted."""
    head = f"This archive is limited to {_limits(max_bytes, max_entries)} (logs, metrics and the final model were kept first); left out:\n"
    lines, size = [], len(head.encode()) + 100
    for number, name in enumerate(left_out):
        size += len(name.encode()) + 1
        if size > TRUNCATION_NOTE_BYTES:
            lines.append(f"... and {len(left_out) - number} more")
            break
        lines.append(name)
    return head + "\n".join(lines) + "\n"


def _write_members(out: BinaryIO, members: list[_Member], max_bytes: int | None, max_entries: int | None,
                   flood: dict[str, object]) -> list[str]:
    members, left_out = _within_budget(members, max_bytes, max_entries)
    # strict_timestamps=False: files dated before 1980 (zip's epoch) are archived, not refused.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1, strict_timestamps=False) as archive:
        if left_out:
            log.warning("archive over its limit of %s: %d file(s) left out", _limits(max_bytes, max_entries),
                        len(left_out))
            archive.writestr(TRUNCATION_NOTE, _note(max_bytes, max_entries, left_out))
        for member in members:
            try:
                archive.write(member.path, member.arcname, compress_type=_compression_for(member.path))
            except FileNotFoundError:  # a workspace file removed while archiving
                log.warning("not archiving %s: it disappeared while the folder was being archived", member.path,
                            extra=flood)
    return left_out


def zip_job_folder(folder: Path, out: BinaryIO | Path) -> None:
    """Zip a job folder's contents (relative paths, sorted); a link out of the folder is refused."""
    _write_zip(folder, out, "", LinkPolicy.REFUSE)


def zip_dir_to_file(folder: Path, out: Path | BinaryIO, arcname_prefix: str = "",
                    links: LinkPolicy = LinkPolicy.SKIP, max_bytes: int | None = None,
                    known: KnownFiles | None = None, max_entries: int | None = None,
                    owner: str | None = None) -> list[str]:
    """Zip a workspace folder under ``arcname_prefix``; by default links out of it are left out (logged).
    ``owner``: whose job code made the folder (the job's submitter), who can make such folders again
    and again: the lines about what is left out are summed up per owner (``console.log_floods``).

    With ``known``, files that are copies of the job archive's (its app unpacked) are left out.
    With ``max_bytes`` (``max_entries``), files past that many bytes (entries) in all are left out
    (logs, metrics and the final model are kept first) and named in ``ARCHIVE_TRUNCATED.txt``
    inside the archive, so the archive passes the receiver's ``check_archive`` of those limits.
    Returns what was left out for the limit: ``"name (N bytes)"`` each.
    """
    return _write_zip(folder, out, arcname_prefix, links, max_bytes, known, max_entries, owner)
