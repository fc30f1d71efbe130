"""What a site process leaves half-done in its folder when it dies (kill -9, power loss), and
clearing it at the next start.

A live site makes these temporary files, each removed when its work ends normally:

- ``.incoming-<job>.zip``: a job's archive while it is received (``deploy_job``);
- ``.outgoing-<job>-<hex>.zip``: a job's workspace zip while it is sent to the server
  (``get_workspace``), and ``..outgoing-<job>-<hex>.zip.<random>.part``, the same zip while
  it is written (``console.jobdef.packing`` writes beside the target and renames);
- ``<job>/.transfer/``: the models in flight of a running job (task in, result out, and
  their ``.part`` files);
- ``<job>/.unpacking-<random>/``: a job's app while it is unpacked before it is moved in place.

None of them is a result: a job's results are its workspace's other files, which stay for the
server to collect. Two site processes may share one folder (a second one started with the
same kit is turned away by the server, and keeps trying): only the process holding the
folder's lock (``.site.lock``, released by the kernel however the holder dies) clears, so a
second process never removes the live one's files. Owns no job state; the site calls it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from console.names import is_server_job_id
from console.runtime.child import TRANSFER_DIR

try:
    import fcntl
except ImportError:  # not POSIX: no lock, so nothing is cleared (a second process may be live)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("console.site.leftovers")

INCOMING_PREFIX = ".incoming-"
OUTGOING_PREFIX = ".outgoing-"
UNPACKING_PREFIX = ".unpacking-"
LOCK_FILE = ".site.lock"
#: Names listed in the one log line; the count says how many more.
_NAMED = 10


def incoming_zip(root: Path, job_id: str) -> Path:
    """Where a job's archive is received on a site."""
    return root / f"{INCOMING_PREFIX}{job_id}.zip"


def outgoing_zip(root: Path, job_id: str) -> Path:
    """A fresh path for a job's workspace zip on its way to the server."""
    return root / f"{OUTGOING_PREFIX}{job_id}-{os.urandom(4).hex()}.zip"


def _is_leftover_file(name: str) -> bool:
    if name.startswith((INCOMING_PREFIX, OUTGOING_PREFIX)) and name.endswith(".zip"):
        return True
    # packing's temporary file beside an outgoing zip: "." + the zip's name + "." + random + ".part"
    return name.startswith("." + OUTGOING_PREFIX) and name.endswith(".part")


def find_leftovers(root: Path, running: frozenset[str] = frozenset()) -> list[Path]:
    """The temporary files and folders under a site's folder ``root`` (see the module's docstring);
    those of the jobs in ``running`` (this process runs them) are not leftovers."""
    found: list[Path] = []
    try:
        children = list(root.iterdir())
    except OSError:
        return found
    for child in children:
        if child.is_symlink():
            continue  # never followed: a link is nothing the site made
        if child.is_file() and _is_leftover_file(child.name):
            found.append(child)
        elif child.is_dir() and is_server_job_id(child.name) and child.name not in running:
            with contextlib.suppress(OSError):
                for inner in child.iterdir():
                    if inner.is_symlink() or not inner.is_dir():
                        continue
                    if inner.name == TRANSFER_DIR or inner.name.startswith(UNPACKING_PREFIX):
                        found.append(inner)
    return sorted(found)


class FolderLock:
    """The site folder's lock: held by one site process at a time, for its whole life."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_take(self) -> bool:
        """Take the lock if no other process holds it; whether this process holds it now. Raises
        OSError when the lock file cannot be opened (a folder this process cannot write)."""
        if self._fd is not None:
            return True
        if fcntl is None:
            raise OSError("file locks need a POSIX system")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


def clear_leftovers(root: Path, running: frozenset[str] = frozenset()) -> list[str]:
    """Remove what :func:`find_leftovers` finds; their paths relative to ``root``, as removed.
    Call it only while holding the folder's :class:`FolderLock`."""
    removed = []
    for path in find_leftovers(root, running):
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            log.warning("could not remove %s, left by a site process that stopped mid-work: %s", path, exc)
            continue
        removed.append(path.relative_to(root).as_posix())
    return removed


def clear_at_start(root: Path, lock: FolderLock, running: frozenset[str] = frozenset()) -> bool:
    """Take ``lock`` and clear the leftovers, said in one log line (none: nothing said); whether
    the lock is held. Not taken (another site process works in this folder): nothing is touched.
    ``running``: the jobs this process runs already (it worked while another held the lock)."""
    if not lock.try_take():
        return False
    removed = clear_leftovers(root, running)
    if removed:
        names = ", ".join(removed[:_NAMED]) + (f" and {len(removed) - _NAMED} more" if len(removed) > _NAMED else "")
        log.info("cleared %d temporary file(s) a site process left half-done when it stopped without tidying "
                 "(killed, or the machine went down): %s", len(removed), names)
    return True
