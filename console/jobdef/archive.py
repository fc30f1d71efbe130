"""Zip archives of job folders and workspaces, and extraction that cannot escape its target.

Extraction refuses absolute paths, ``..``, links, too many entries and more bytes than
allowed; sizes are counted while writing, so an archive that lies in its headers cannot
fill the disk.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from console.jobdef.validate import JobDefinitionError

_SKIPPED_NAMES = {"__pycache__", ".DS_Store"}
_COPY_BLOCK = 1 << 20


class UnsafeArchiveError(JobDefinitionError):
    """An archive entry would land outside its target or is not a plain file."""


def _members(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_NAMES)
        for name in sorted(filenames):
            if name in _SKIPPED_NAMES or name.endswith(".pyc"):
                continue
            files.append(Path(dirpath) / name)
    return files


def zip_dir_to_file(folder: Path, out: Path | BinaryIO, arcname_prefix: str = "") -> None:
    """Zip the files under ``folder`` (sorted, relative paths); links pointing outside are refused."""
    folder = Path(folder).resolve()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in _members(folder):
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(folder):
                    raise JobDefinitionError(f"{path} is a link to {target}, outside the folder; copy the file in")
            archive.write(path, arcname_prefix + path.relative_to(folder).as_posix())


def zip_job_folder(folder: Path, out: Path | BinaryIO) -> None:
    zip_dir_to_file(folder, out)


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"archive entry {name!r} has an absolute path")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"archive entry {name!r} climbs out with '..'")
    return path


def safe_extract(zip_path: Path, dest: Path, *, max_total_bytes: int, max_entries: int = 10000) -> None:
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise JobDefinitionError(f"not a valid zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise UnsafeArchiveError(f"archive has {len(infos)} entries; the limit is {max_entries}")
        if sum(info.file_size for info in infos) > max_total_bytes:
            raise UnsafeArchiveError(f"archive unpacks to more than the limit of {max_total_bytes} bytes")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written = 0
        for info in infos:
            relative = _safe_relative(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(f"archive entry {info.filename!r} is a link; links are not allowed")
            target = (root / relative).resolve()
            if not target.is_relative_to(root):
                raise UnsafeArchiveError(f"archive entry {info.filename!r} lands outside the target folder")
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
                                f"archive unpacks to more than the limit of {max_total_bytes} bytes"
                            )
                        out.write(block)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
                raise JobDefinitionError(f"not a valid zip archive: entry {info.filename!r}: {exc}") from None

