"""Zip archives of job folders and workspaces, and extraction that cannot escape its target.

Extraction checks every entry before writing anything (absolute paths, drive letters,
``..``, links, duplicates, too many entries, declared sizes), then counts the bytes it
actually writes, so an archive that lies in its headers cannot fill the disk. A refused
or broken archive leaves nothing behind in the target.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from console.jobdef.validate import JobDefinitionError

log = logging.getLogger(__name__)

_SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store"})
_SKIPPED_SUFFIXES = (".pyc",)
_COPY_BLOCK = 1 << 20
# What a malformed archive can raise from zipfile and the decompressors while being read.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error,
                NotImplementedError, RuntimeError)


class UnsafeArchiveError(JobDefinitionError):
    """An archive entry would land outside its target or is not a plain file."""


class LinkPolicy(Enum):
    """What zipping does with a link that points out of the folder being zipped."""

    REFUSE = "refuse"  # a job folder: the submitter must fix it
    SKIP = "skip"  # a workspace: keep the rest of the job's results, never the linked file


@dataclass(frozen=True)
class _Member:
    path: Path
    arcname: str


def _skipped(name: str) -> bool:
    return name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES)


def _outside_link(path: Path, root: Path, policy: LinkPolicy) -> bool:
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
    log.warning("not archiving %s: it links to %s, outside %s", path, target, root)
    return True


def _members(root: Path, prefix: str, policy: LinkPolicy, exclude: Path | None) -> list[_Member]:
    members: list[_Member] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        # os.walk never descends into linked folders; a link inside the folder is archived
        # under its real path anyway, and one out of it is refused or skipped here.
        linked = {d for d in dirnames if (here / d).is_symlink()}
        for name in sorted(linked):
            if not _skipped(name):
                _outside_link(here / name, root, policy)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d) and d not in linked)
        for name in filenames:
            path = here / name
            if _skipped(name) or _outside_link(path, root, policy):
                continue
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:  # vanished meanwhile, or a dangling link inside the folder
                continue
            # A FIFO or socket would block or fail the archive; they are never job content.
            if not stat.S_ISREG(mode) or (exclude is not None and path.resolve() == exclude):
                continue
            members.append(_Member(path, prefix + path.relative_to(root).as_posix()))
    return sorted(members, key=lambda m: m.arcname)


def _write_zip(folder: Path, out: Path | BinaryIO, prefix: str, policy: LinkPolicy,
               max_bytes: int | None = None) -> None:
    root = Path(folder).resolve()
    if not root.is_dir():
        raise JobDefinitionError(f"{folder} is not a folder; nothing to archive")
    prefix = prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    if not isinstance(out, str | os.PathLike):
        _write_members(out, _members(root, prefix, policy, None), max_bytes)
        return
    out = Path(out)
    members = _members(root, prefix, policy, out.resolve())
    # Write beside the target and rename, so a failure never leaves a half-written archive.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            _write_members(tmp, members, max_bytes)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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


def _within_budget(members: list[_Member], max_bytes: int | None) -> tuple[list[_Member], list[str]]:
    """The members that fit in ``max_bytes`` (by their size on disk, smallest first so logs and
    metrics survive a huge model file), and the names of those left out."""
    if max_bytes is None:
        return members, []
    sized = []
    for member in members:
        try:
            sized.append((member.path.stat().st_size, member))
        except OSError:
            continue
    kept, left_out, total = [], [], 0
    for size, member in sorted(sized, key=lambda item: (item[0], item[1].arcname)):
        if total + size > max_bytes:
            left_out.append(f"{member.arcname} ({size} bytes)")
            continue
        total += size
        kept.append(member)
    return sorted(kept, key=lambda m: m.arcname), left_out


def _write_members(out: BinaryIO, members: list[_Member], max_bytes: int | None = None) -> None:
    members, left_out = _within_budget(members, max_bytes)
    # strict_timestamps=False: files dated before 1980 (zip's epoch) are archived, not refused.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1, strict_timestamps=False) as archive:
        if left_out:
            log.warning("archive over its limit of %d bytes: %d file(s) left out", max_bytes, len(left_out))
            archive.writestr(TRUNCATION_NOTE, f"This archive is limited to {max_bytes} bytes; left out:\n"
                             + "\n".join(left_out) + "\n")
        for member in members:
            try:
                archive.write(member.path, member.arcname, compress_type=_compression_for(member.path))
            except FileNotFoundError:  # a workspace file removed while archiving
                log.warning("not archiving %s: it disappeared while the folder was being archived", member.path)


def zip_job_folder(folder: Path, out: BinaryIO | Path) -> None:
    """Zip a job folder's contents (relative paths, sorted); a link out of the folder is refused."""
    _write_zip(folder, out, "", LinkPolicy.REFUSE)


def zip_dir_to_file(folder: Path, out: Path | BinaryIO, arcname_prefix: str = "",
                    links: LinkPolicy = LinkPolicy.SKIP, max_bytes: int | None = None) -> None:
    """Zip a workspace folder under ``arcname_prefix``; by default links out of it are left out (logged).

    With ``max_bytes``, files past that many bytes in all are left out (biggest first) and named in
    ``ARCHIVE_TRUNCATED.txt`` inside the archive.
    """
    _write_zip(folder, out, arcname_prefix, links, max_bytes)


#: Longest entry name, deepest nesting and longest single name (the file systems' NAME_MAX) accepted.
MAX_ENTRY_NAME_BYTES = 1024
MAX_ENTRY_DEPTH = 32
MAX_NAME_PART_BYTES = 255


def _check_name_bounds(name: str, path: PurePosixPath) -> None:
    """A clear refusal for names the file system would fail on with an OSError halfway through."""
    if len(name.encode()) > MAX_ENTRY_NAME_BYTES:
        raise UnsafeArchiveError(f"archive entry {name[:60]!r}... has a name of {len(name.encode())} bytes; "
                                 f"the limit is {MAX_ENTRY_NAME_BYTES}")
    if len(path.parts) > MAX_ENTRY_DEPTH:
        raise UnsafeArchiveError(f"archive entry {name[:60]!r}... is {len(path.parts)} folders deep; "
                                 f"the limit is {MAX_ENTRY_DEPTH}")
    for part in path.parts:
        if len(part.encode()) > MAX_NAME_PART_BYTES:
            raise UnsafeArchiveError(f"archive entry {name[:60]!r}... has a file or folder name of "
                                     f"{len(part.encode())} bytes; the limit is {MAX_NAME_PART_BYTES}")
        if "\x00" in part:
            raise UnsafeArchiveError(f"archive entry {name[:60]!r} holds a NUL character")


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    _check_name_bounds(name, path)
    if not path.parts or path == PurePosixPath("."):
        raise UnsafeArchiveError(f"archive entry {name!r} has an empty name")
    if path.is_absolute() or ":" in path.parts[0]:
        raise UnsafeArchiveError(f"archive entry {name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"archive entry {name!r} climbs out with '..'")
    return path


def _plan(infos: list[zipfile.ZipInfo], root: Path, max_total_bytes: int,
          max_entries: int) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Every entry's target, checked before a single byte is written."""
    if len(infos) > max_entries:
        raise UnsafeArchiveError(f"archive has {len(infos)} entries; the limit is {max_entries}")
    declared = sum(info.file_size for info in infos)
    if declared > max_total_bytes:
        raise UnsafeArchiveError(
            f"archive unpacks to {declared} bytes, more than the limit of {max_total_bytes} bytes"
        )
    plan: list[tuple[zipfile.ZipInfo, Path]] = []
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for info in infos:
        relative = _safe_relative(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchiveError(f"archive entry {info.filename!r} is a link; links are not allowed")
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(f"archive entry {info.filename!r} is encrypted; send it unencrypted")
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise UnsafeArchiveError(f"archive entry {info.filename!r} lands outside the target folder")
        parents = set(relative.parents) - {PurePosixPath(".")}
        if info.is_dir():
            parents.add(relative)
        elif relative in files:
            # Two entries of one name: tools disagree on which one wins, so neither is trusted.
            raise UnsafeArchiveError(f"archive entry {info.filename!r} appears twice")
        else:
            files.add(relative)
        folders |= parents
        plan.append((info, target))
    clash = files & folders
    if clash:
        raise UnsafeArchiveError(f"archive entry {sorted(clash)[0]!s} is both a file and a folder")
    return plan


def _extract_all(archive: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, Path]], max_total_bytes: int) -> int:
    written = 0
    for info, target in plan:
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as src, open(target, "wb") as out:
                while block := src.read(_COPY_BLOCK):
                    written += len(block)
                    if written > max_total_bytes:
                        raise UnsafeArchiveError(
                            f"archive unpacks to more than the limit of {max_total_bytes} bytes "
                            f"(entry {info.filename!r} is larger than its header says)"
                        )
                    out.write(block)
        except _READ_ERRORS as exc:
            if isinstance(exc, JobDefinitionError):
                raise
            raise JobDefinitionError(f"not a valid zip archive: entry {info.filename!r}: {exc}") from None
    return written


def _snapshot(dest: Path) -> set[Path] | None:
    """What ``dest`` held before extracting (None: it did not exist), so a failure can undo exactly that."""
    if not dest.exists():
        return None
    return {Path(dirpath) / name for dirpath, dirs, files in os.walk(dest) for name in (*dirs, *files)}


def _undo(dest: Path, before: set[Path] | None) -> None:
    if before is None:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for dirpath, dirs, files in os.walk(dest, topdown=False):
        for name in (*files, *dirs):
            path = Path(dirpath) / name
            if path not in before:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


@dataclass(frozen=True)
class JobLimits:
    """How much disk one job may take on a participant (``job_limits`` in its startup config).

    ``max_unpacked_bytes``: a job archive unpacked; ``max_expansion_ratio``: unpacked size over
    archive size, so a small zip cannot become a huge folder (archives up to ``ratio_floor_bytes``
    unpacked are never held to the ratio); ``max_workspace_bytes``: a job workspace archived when
    the job ends (what the server collects from each site and keeps of its own);
    ``max_queued_per_submitter``: the server's queue share of one submitter.
    """

    max_unpacked_bytes: int = 4 << 30
    max_expansion_ratio: int = 100
    ratio_floor_bytes: int = 64 << 20
    max_workspace_bytes: int = 1 << 30
    #: Jobs one submitter may have waiting (SUBMITTED) on the server at once.
    max_queued_per_submitter: int = 256

    def extract(self, zip_path: Path, dest: Path) -> None:
        """``safe_extract`` held to these limits."""
        safe_extract(zip_path, dest, max_total_bytes=self.max_unpacked_bytes, max_ratio=self.max_expansion_ratio,
                     ratio_floor_bytes=self.ratio_floor_bytes)


def safe_extract(zip_path: Path | BinaryIO, dest: Path, *, max_total_bytes: int, max_entries: int = 10000,
                 max_ratio: int | None = None, ratio_floor_bytes: int = JobLimits.ratio_floor_bytes) -> int:
    """Extract ``zip_path`` (a path, or a seekable file) into ``dest``; the bytes written. Anything
    unsafe or broken raises and leaves ``dest`` as it was.

    At most ``max_total_bytes`` are written, and with ``max_ratio`` at most that many times the
    archive's size (but always up to ``ratio_floor_bytes``); both are counted while writing, so an
    archive that lies in its headers stops at the limit, not after it.
    """
    if max_ratio is not None:
        if isinstance(zip_path, str | os.PathLike):
            size = Path(zip_path).stat().st_size if Path(zip_path).is_file() else 0
        else:
            size = zip_path.seek(0, os.SEEK_END)
        max_total_bytes = min(max_total_bytes, max(size * max_ratio, ratio_floor_bytes))
    try:
        archive = zipfile.ZipFile(zip_path)
    except (*_READ_ERRORS, OSError) as exc:
        raise JobDefinitionError(f"not a valid zip archive: {exc}") from None
    with archive:
        dest = Path(dest)
        plan = _plan(archive.infolist(), dest.resolve(), max_total_bytes, max_entries)
        before = _snapshot(dest)
        try:
            dest.mkdir(parents=True, exist_ok=True)
            return _extract_all(archive, plan, max_total_bytes)
        except BaseException:
            _undo(dest, before)
            raise


def content_hash(zip_path: Path) -> str:
    """SHA-256 of a job archive's content: each file's name and bytes, in name order, so the same
    folder zipped again (other timestamps, other compression) hashes the same. Used to tell a
    retried submit from a new job under the same submit token, as FLARE 2.9's canonical hash."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(zip_path) as archive:
        infos = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
        for info in infos:
            name = info.filename.replace("\\", "/").encode()
            digest.update(len(name).to_bytes(8, "big") + name + info.file_size.to_bytes(8, "big"))
            with archive.open(info) as src:
                while block := src.read(_COPY_BLOCK):
                    digest.update(block)
    return digest.hexdigest()
