"""What a server or site daemon keeps in its workspace is for its own operating-system user only.

The guide runs each server and site as its own unprivileged user, so other users share the host.
A daemon's workspace holds every job's archive, signature, results, models in transit and logs, and
on the server the job database and the audit trail: with the usual umask 022 all of it was readable by
every local user (security tester, session 11, item 1). So a daemon sets umask 077 as it starts (every
file it and its job processes create is 0600, every folder 0700, whatever the umask of whoever
started it) and tightens what its workspace holds from before (an older version's files, a kit
unpacked with the usual umask): group and other bits off, for the files and folders of its own user.

Owns only the modes; what is written where stays with each part. Links are never followed (a link
in a job's workspace must not make the daemon change a file elsewhere), and another user's files
are left as they are.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The umask of every daemon and job process: nothing for the group or others.
PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def keep_private(workspace: Path) -> int:
    """Set this process's umask to ``PRIVATE_UMASK`` (its children inherit it) and ``tighten``
    ``workspace``; how many files and folders were tightened."""
    os.umask(PRIVATE_UMASK)
    return tighten(workspace)


def _tighten_one(path: str, info: os.stat_result) -> bool:
    """Group and other bits off ``path`` (known by ``lstat`` as ``info``), through a descriptor opened
    without following a link and checked to be the same file; whether it was changed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if stat.S_ISDIR(info.st_mode):
        flags |= os.O_DIRECTORY
    try:
        fd = os.open(path, flags)
    except OSError:  # gone, replaced by a link meanwhile, or not readable by its owner (0200): left as it is
        return False
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino) or now.st_uid != os.geteuid():
            return False
        os.fchmod(fd, stat.S_IMODE(now.st_mode) & ~_OTHERS)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def tighten(root: Path) -> int:
    """Take group and other bits off ``root`` and every file and folder below it that this user
    owns (links neither followed nor changed; other users' files left alone); how many were changed.
    Plain regular files and folders only: a FIFO or device is not opened."""
    me = os.geteuid()
    changed = 0
    todo = [os.fspath(root)]
    while todo:
        path = todo.pop()
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid != me or not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
            continue
        if info.st_mode & _OTHERS and _tighten_one(path, info):
            changed += 1
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(path) as entries:
                    todo.extend(entry.path for entry in entries)
            except OSError:
                continue
    return changed


#: What a daemon logs when it tightened something at start (a count).
TIGHTENED = ("%d file(s) and folder(s) of this workspace were open to other users of this machine: "
             "now for this user only")
