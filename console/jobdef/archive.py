"""Extraction of job archives that cannot escape its target, held to a participant's JobLimits.

Extraction checks every entry before writing anything (absolute paths, drive letters,
``..``, names with control or invisible characters, links, duplicates, too many entries, declared
sizes), then counts the bytes it actually writes, so an archive that lies in its headers cannot fill the disk. A refused
or broken archive leaves nothing behind in the target.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from console.jobdef.packing import (  # noqa: F401  (zipping is packing's; its names stay importable here)
    READ_ERRORS,
    TRUNCATION_NOTE,
    TRUNCATION_NOTE_BYTES,
    KnownFiles,
    LinkPolicy,
    zip_dir_to_file,
    zip_job_folder,
)
from console.jobdef.validate import JobDefinitionError
from console.names import unseen_in

_COPY_BLOCK = 1 << 20


class UnsafeArchiveError(JobDefinitionError):
    """An archive entry would land outside its target or is not a plain file."""


#: Entries one archive may hold, unless job_limits.max_entries says otherwise.
MAX_ENTRIES = 10000
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
    unseen = unseen_in(name)
    if unseen is not None:
        raise UnsafeArchiveError(f"archive entry {name[:80]!r} holds the control or invisible character "
                                 f"{unseen!r}: file names must not (shown, it would act on the terminal "
                                 "or hide text)")


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


@dataclass(frozen=True)
class _Bound:
    """How many bytes an archive may unpack to, and the rule that says so (for the refusal)."""

    limit: int
    rule: str

    def refusal(self, unpacked: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"archive unpacks to {unpacked}, {self.rule}")


def _bound(archive_bytes: int, max_total_bytes: int, total_setting: str | None, max_ratio: int | None,
           ratio_floor_bytes: int) -> _Bound:
    total = _Bound(max_total_bytes, f"more than the limit of {max_total_bytes} bytes" + (
        f" ({total_setting}); make the job smaller, or ask the operator to raise {total_setting}"
        if total_setting else ""))
    if max_ratio is None:
        return total
    by_ratio = max(archive_bytes * max_ratio, ratio_floor_bytes)
    if by_ratio >= max_total_bytes:
        return total
    return _Bound(by_ratio, (
        f"more than {max_ratio} times the archive's {archive_bytes} bytes: an archive that unpacks to more "
        f"than {ratio_floor_bytes} bytes (job_limits.ratio_floor_bytes) may unpack to at most "
        f"{max_ratio} times its size (job_limits.max_expansion_ratio). Data this uniform (a model of zeros, "
        "say) compresses so far: ask the operator to raise job_limits.max_expansion_ratio in the startup config "
        "(fed_server.json, and fed_client.json of each site), or send data that compresses less"))


def _plan(infos: list[zipfile.ZipInfo], root: Path, bound: _Bound,
          max_entries: int) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Every entry's target, checked before a single byte is written."""
    if len(infos) > max_entries:
        raise UnsafeArchiveError(f"archive has {len(infos)} entries; the limit is {max_entries}")
    declared = sum(info.file_size for info in infos)
    if declared > bound.limit:
        raise bound.refusal(f"{declared} bytes")
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


def _unpack(archive: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, Path]], bound: _Bound,
            write: bool = True) -> int:
    """Decompress every entry of ``plan``, counting the bytes against ``bound`` as they come (headers
    can lie); written to their targets if ``write``, else only checked. The bytes it unpacks to."""
    written = 0
    for info, target in plan:
        if info.is_dir():
            if write:
                target.mkdir(parents=True, exist_ok=True)
            continue
        if write:
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as src, (open(target, "wb") if write else contextlib.nullcontext()) as out:
                while block := src.read(_COPY_BLOCK):
                    written += len(block)
                    if written > bound.limit:
                        raise bound.refusal(f"more than {bound.limit} bytes (entry {info.filename!r} is "
                                            "larger than its header says)")
                    if out is not None:
                        out.write(block)
        except READ_ERRORS as exc:
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
    unpacked are never held to the ratio). Its default, 1100, is above what one deflate stream can
    reach (about 1032:1, a model of zeros zipped at level 9; 229:1 at our level 1): however uniform a
    job's data (zero-initialised layers), an archive whose entries each hold their own data passes,
    and ``max_unpacked_bytes`` bounds the disk it takes; the ratio refuses what no honest zip
    makes (entries sharing their data, a zip bomb; bzip2 of zeros). ``max_workspace_bytes``: what
    is kept of a job workspace when the job ends: each site's, and the server's plus the size of the
    job's archive (a job that brings an N-byte model may leave an N-byte final model);
    ``max_queued_per_submitter``: the server's queue share of one submitter.
    """

    max_unpacked_bytes: int = 4 << 30
    max_expansion_ratio: int = 1100
    ratio_floor_bytes: int = 64 << 20
    max_workspace_bytes: int = 1 << 30
    #: Jobs one submitter may have waiting (SUBMITTED) on the server at once.
    max_queued_per_submitter: int = 256
    #: Entries (files and folders) one archive may hold: a job's, a workspace's.
    max_entries: int = MAX_ENTRIES

    def extract(self, zip_path: Path, dest: Path) -> None:
        """``safe_extract`` held to these limits; a refusal names the setting that decided it."""
        safe_extract(zip_path, dest, max_total_bytes=self.max_unpacked_bytes, max_entries=self.max_entries,
                     max_ratio=self.max_expansion_ratio, ratio_floor_bytes=self.ratio_floor_bytes,
                     total_setting="job_limits.max_unpacked_bytes")

    def check_workspace(self, zip_path: Path) -> int:
        """``check_archive`` of a job workspace's archive as a site sends it: held to these limits, its
        size to ``max_workspace_bytes`` plus room for the note naming what it left out (``workspace_unpacked_limit``).
        The bytes it unpacks to; raises UnsafeArchiveError or JobDefinitionError naming the rule."""
        return check_archive(zip_path, max_total_bytes=self.workspace_unpacked_limit(), max_entries=self.max_entries,
                             max_ratio=self.max_expansion_ratio, ratio_floor_bytes=self.ratio_floor_bytes,
                             total_setting="job_limits.max_workspace_bytes")

    def workspace_unpacked_limit(self) -> int:
        """Bytes a workspace archive may unpack to: its files (``max_workspace_bytes``) and its note."""
        return self.max_workspace_bytes + TRUNCATION_NOTE_BYTES


def _opened(zip_path: Path | BinaryIO, max_total_bytes: int, total_setting: str | None, max_ratio: int | None,
            ratio_floor_bytes: int) -> tuple[zipfile.ZipFile, _Bound]:
    if max_ratio is None:
        size = 0
    elif isinstance(zip_path, str | os.PathLike):
        size = Path(zip_path).stat().st_size if Path(zip_path).is_file() else 0
    else:
        size = zip_path.seek(0, os.SEEK_END)
    bound = _bound(size, max_total_bytes, total_setting, max_ratio, ratio_floor_bytes)
    try:
        return zipfile.ZipFile(zip_path), bound
    except (*READ_ERRORS, OSError) as exc:
        raise JobDefinitionError(f"not a valid zip archive: {exc}") from None


def safe_extract(zip_path: Path | BinaryIO, dest: Path, *, max_total_bytes: int, max_entries: int = MAX_ENTRIES,
                 max_ratio: int | None = None, ratio_floor_bytes: int = JobLimits.ratio_floor_bytes,
                 total_setting: str | None = None) -> int:
    """Extract ``zip_path`` (a path, or a seekable file) into ``dest``; the bytes written. Anything
    unsafe or broken raises and leaves ``dest`` as it was.

    At most ``max_total_bytes`` are written (``total_setting``: the setting it comes from, named in
    a refusal), and with ``max_ratio`` at most that many times the archive's size (but always up to
    ``ratio_floor_bytes``); both are counted while writing, so an archive that lies in its headers
    stops at the limit, not after it. A refusal says which rule, its numbers and what to do.
    """
    archive, bound = _opened(zip_path, max_total_bytes, total_setting, max_ratio, ratio_floor_bytes)
    with archive:
        dest = Path(dest)
        plan = _plan(archive.infolist(), dest.resolve(), bound, max_entries)
        before = _snapshot(dest)
        try:
            dest.mkdir(parents=True, exist_ok=True)
            return _unpack(archive, plan, bound)
        except BaseException:
            _undo(dest, before)
            raise


#: Where ``check_archive`` pretends to unpack: only names are resolved against it, nothing is written.
_NOWHERE = Path("/nonexistent-archive-check")


def check_archive(zip_path: Path | BinaryIO, *, max_total_bytes: int, max_entries: int = MAX_ENTRIES,
                  max_ratio: int | None = None, ratio_floor_bytes: int = JobLimits.ratio_floor_bytes,
                  total_setting: str | None = None) -> int:
    """What ``safe_extract`` would refuse, found without writing anything: every entry's name, kind
    and count, then its bytes decompressed and counted against the same bounds (and their CRCs
    checked). The bytes it unpacks to; raises UnsafeArchiveError or JobDefinitionError like it."""
    archive, bound = _opened(zip_path, max_total_bytes, total_setting, max_ratio, ratio_floor_bytes)
    with archive:
        return _unpack(archive, _plan(archive.infolist(), _NOWHERE, bound, max_entries), bound, write=False)


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
