"""A problem with one of the user's own local paths, in words: which path, what is wrong, what to do.

For the files and folders a command names on this machine (a download's destination, a batch's ``-f``
file, a job folder to submit), never Python's ``[Errno 17] File exists: '/etc/passwd'``. Owns the
wording only: it reads nothing but what it is told to describe, and raises nothing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: What an errno means for a path the user named, in the words of one who typed it.
_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENOTDIR: "a part of it is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "it is on a read-only file system",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "it is a loop of symbolic links",
}


def is_local_path_error(exc: BaseException) -> bool:
    """An OSError about a file or folder of this machine (it names one), not a network error."""
    return (isinstance(exc, OSError) and not isinstance(exc, ConnectionError)
            and getattr(exc, "filename", None) is not None)


def reason(exc: OSError) -> str:
    """What is wrong with the path, as "it does not exist"; the system's own words for the rarer ones."""
    said = _REASONS.get(exc.errno or 0)
    if said is not None:
        return said
    return (exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__).lower()


def path_problem(exc: OSError, what: str = "", todo: str = "") -> str:
    """``cannot use PATH as WHAT: REASON; TODO`` (``what`` as "the download folder"; either may be empty).
    The path is the one the error names, the first of two for a rename."""
    path = os.fsdecode(exc.filename) if exc.filename is not None else "the path"
    role = f" as {what}" if what else ""
    return f"cannot use {path}{role}: {reason(exc)}" + (f"; {todo}" if todo else "")


def missing_job_folder(given: str, looked: list[Path]) -> str:
    """A job folder that is not there: FLARE's words first (``job_definition_path 'x' is not a valid folder``,
    as FLARE 2.9's Session says), then where it was looked for and why each is not it, and what to do."""
    found = []
    for place in looked:
        if place.is_file():
            found.append(f"{place} is a file")
        elif not place.exists():
            found.append(f"{place} does not exist")
        else:
            found.append(f"{place} cannot be read")
    where = "; ".join(dict.fromkeys(found))
    return (f"job_definition_path '{given}' is not a valid folder: {where}; give the path of a job folder "
            "(one holding meta.json), or the name of one in the kit's upload folder")
