"""A downloaded job result, unpacked: ``meta.json``, ``job/``, ``workspace/`` and ``sites/<site>/``.

The server streams a job's stored zips as they are, one after another (``download_job``'s head
lists them in ``parts``: each a ``name`` and a ``size`` in bytes, in the order sent). Each zip is
unpacked straight from its place in the received file, with ``safe_extract``'s checks, so nothing
is copied twice. A head without ``parts`` (a server from before) announces one archive holding
the whole result, unpacked as it is. Part names and sizes come from the wire: only the names
below are taken, each once, and the sizes must add up to what was received.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

from console.jobdef.archive import JobLimits, safe_extract
from console.jobdef.errors import JobDefinitionError
from console.wire.exceptions import InternalError
from console.wire.requesting import MalformedAnswer

#: job_limits as a server has them by default: their ratio and entry count hold a download's parts.
DEFAULT_LIMITS = JobLimits()

#: Largest ``meta.json`` part taken (a job's meta is a few KB).
MAX_META_BYTES = 8 << 20
_SITE_PART = re.compile(r"^sites/([A-Za-z0-9_-][A-Za-z0-9._@-]{0,127})\.zip$")  # a site name as provisioned
_FOLDERS = {"job.zip": "job", "workspace.zip": "workspace"}


class FileSlice(io.RawIOBase):
    """``size`` bytes of ``file`` from ``start``, read as a file of their own (zipfile seeks in it)."""

    def __init__(self, file: BinaryIO, start: int, size: int) -> None:
        super().__init__()
        self._file, self._start, self._size, self._at = file, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._at)
        if want <= 0:
            return 0
        self._file.seek(self._start + self._at)
        got = self._file.readinto(memoryview(buffer)[:want])
        self._at += got or 0
        return got or 0


def _folder(name: Any) -> str:
    """Where a part goes in the result folder; MalformedAnswer for a name that is none of ours."""
    if name == "meta.json":
        return name
    if isinstance(name, str) and name in _FOLDERS:
        return _FOLDERS[name]
    site = _SITE_PART.match(name) if isinstance(name, str) else None
    if site is None:
        raise MalformedAnswer(f"the server's download_job answer has a part named {name!r:.80}, which is no "
                              "part of a job's result; refused, nothing was written")
    return f"sites/{site.group(1)}"


def planned_parts(parts: Any, received: int) -> list[tuple[str, int]]:
    """``(where, size)`` per part, in the order sent; MalformedAnswer for parts that are not a list of
    ``{name, size}`` with known names, each once, whose sizes add up to the ``received`` bytes."""
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise MalformedAnswer("the server's download_job answer lists its parts as no list of objects; refused")
    plan: list[tuple[str, int]] = []
    for part in parts:
        size = part.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MalformedAnswer(f"the server's download_job answer gives part {part.get('name')!r:.80} a size "
                                  f"of {size!r:.40}, not a number of bytes; refused")
        where = _folder(part.get("name"))
        if any(where == seen for seen, _ in plan):
            raise MalformedAnswer(f"the server's download_job answer sends {where} twice; refused")
        if where == "meta.json" and size > MAX_META_BYTES:
            raise MalformedAnswer(f"the server's download_job answer has a meta.json of {size} bytes, over the "
                                  f"limit of {MAX_META_BYTES}; refused")
        plan.append((where, size))
    total = sum(size for _, size in plan)
    if total != received:
        raise MalformedAnswer(f"the server's download_job answer lists parts of {total} bytes in all but sent "
                              f"{received}; refused")
    return plan


def _extract_part(source: Path | BinaryIO, dest: Path, left: int) -> int:
    """One archive of the result, with the job upload's checks and the default ``job_limits`` ratio
    (the console does not know the server's settings; an honest zip stays far below it)."""
    return safe_extract(source, dest, max_total_bytes=left, max_entries=DEFAULT_LIMITS.max_entries,
                        max_ratio=DEFAULT_LIMITS.max_expansion_ratio, ratio_floor_bytes=DEFAULT_LIMITS.ratio_floor_bytes)


def unpack_result(received: Path, head: Any, dest: Path, max_total_bytes: int) -> list[tuple[str, str]]:
    """Unpack the received result into ``dest`` (made here), writing at most ``max_total_bytes`` in
    all; the parts skipped, ``(folder, why)`` each: an archive that is unsafe or broken is left out
    (nothing of it written) and the others are unpacked. Raises MalformedAnswer for parts that do
    not fit the answer, JobDefinitionError if the one archive of a head without parts is refused;
    ``dest`` may then hold some parts (the caller's to remove)."""
    if not isinstance(head, dict) or "parts" not in head:
        _extract_part(received, dest, max_total_bytes)
        return []
    plan = planned_parts(head["parts"], received.stat().st_size)
    dest.mkdir(parents=True)
    left, skipped = max_total_bytes, []
    with open(received, "rb") as file:
        start = 0
        for where, size in plan:
            if where == "meta.json":
                file.seek(start)
                (dest / where).write_bytes(file.read(size))
            else:
                try:
                    left -= _extract_part(FileSlice(file, start, size), dest / where, left)
                except JobDefinitionError as exc:  # safe_extract left nothing of it behind
                    skipped.append((where, str(exc)))
            start += size
    return skipped


class IncompleteDownload(InternalError):
    """A download delivered without some of its parts, each refused by the archive checks: ``path``
    (the result folder, delivered) and ``skipped`` (``(folder, why)`` per part left out)."""

    def __init__(self, job_id: str, path: str, skipped: list[tuple[str, str]]) -> None:
        self.path, self.skipped = path, skipped
        parts = "; ".join(f"{where} ({_whose(where)}) was refused and left out: {why}" for where, why in skipped)
        super().__init__(f"job {job_id} was downloaded to {path} without {len(skipped)} of its parts: {parts}; "
                         "the other parts are there")


def _whose(where: str) -> str:
    if where.startswith("sites/"):
        return f"site {where.removeprefix('sites/')}'s workspace"
    return {"job": "the job's own archive", "workspace": "the server's workspace"}.get(where, where)
