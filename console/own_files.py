"""The console's own files (settings, history, its log, caches under the XDG dirs) are the user's
alone: files 0600 in folders 0700, created so whatever the umask and tightened when found open
(final security tester, session 11, finding 4: they were 0644 in 0755 folders). Downloads are
not the console's own files: they follow the user's umask (README, "Files").

Owns only modes: what goes into the files is its callers'. A daemon's workspace is console.private_files'.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(folder: Path) -> Path:
    """``folder``, made with every missing parent 0700 (as the XDG base directory spec asks), and
    made 0700 itself if group or others could use it. Raises OSError when it cannot be made."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        try:
            parent.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # another console made it meanwhile
            pass
    _tighten(folder, FOLDER_MODE)
    return folder


def private_file(path: Path) -> Path:
    """``path`` in a private folder (``private_folder``), created empty 0600 when missing, made 0600
    if group or others could read it; its content is left as it is. Raises OSError."""
    private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "w", encoding: str | None = "utf-8"):  # noqa: ANN201 - open()'s file
    """``open(path, mode)`` ("w" or "a"), a file it creates being 0600 from the start (an existing
    one is tightened). Raises OSError."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)
    except BaseException:
        os.close(fd)
        raise


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, mode)
