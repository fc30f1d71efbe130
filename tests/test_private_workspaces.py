"""What a server and its sites keep is for their own operating-system user only, and the server's
private files are out of the file commands' reach (security tester, session 11, items 1 and 2).

Real server and sites started with the usual umask 022, a real job run through them, then the
workspaces walked as they are on disk."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import make_project, running_federation, wait_until
from jobs import numpy_job

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def _open_to_others(root: Path) -> list[str]:
    """Every file and folder under ``root`` (itself included, links not followed) that the group or
    others may read, write or enter, with its mode. Files a running job removes meanwhile are passed over."""
    found = []
    paths = [str(root)]
    for folder, folders, files in os.walk(root):  # an error (a folder gone meanwhile) is passed over
        paths += [os.path.join(folder, name) for name in (*folders, *files)]
    for path in paths:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
            found.append(f"{os.path.relpath(path, root.parent)} {stat.filemode(info.st_mode)}")
    return found


def _answer(call: Callable[[], str]) -> str:
    """What a user reads: the command's output, or its refusal's words."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 (the refusal's text is what is checked)
        return str(exc)


@pytest.mark.timeout(180)
def test_what_the_server_and_sites_keep_is_their_users_only_whatever_the_umask(tmp_path: Path) -> None:
    """Item 1: with umask 022, the store, jobs.db, every job's archive and signature, each site's
    workspace zip and job workspace (its .transfer/ models too), log.txt and the audit trail's
    spending were 0644/0755. The daemons set umask 077 and tighten what is there from before (an
    older version's files), so after a job nothing in either workspace is open to other users.
    Item 2: the audit spending lay in the server's root, where ``cat server audit_spent.json``
    served it; it is moved into audit/, out of every file command's reach, and not listed."""
    with umask(0o022):
        project = make_project(tmp_path)
        server_kit = project.server_kit
        # What an older version left: the spending file in the root, a job folder and a log open to all.
        (server_kit / "audit_spent.json").write_text('{"lead@example.com": [10.0, 10.0, 1.0]}')
        old = server_kit / "old-folder"
        old.mkdir(mode=0o755)
        (old / "notes.txt").write_text("from before\n")
        (project.kit("site-1") / "log.txt").write_text("from before\n")
        kits = [server_kit, project.kit("site-1"), project.kit("site-2")]
        assert any(_open_to_others(kit) for kit in kits)  # so the walk below can see them
        job = numpy_job(tmp_path / "jobs", rounds=2, sleep=1.0)
        with running_federation(project) as (_, session):
            job_id = session.submit_job(str(job))
            # While it runs: the models in transit (.transfer/), the store's archive and signature.
            transfers = [kit / job_id / ".transfer" for kit in kits]

            def in_transit() -> bool:
                for folder in transfers:
                    with contextlib.suppress(FileNotFoundError):  # a site's goes as its job ends
                        if any(folder.iterdir()):
                            return True
                return False

            wait_until(in_transit, 60, "a model in transit")
            running = [line for kit in kits for line in _open_to_others(kit)]
            assert not running, "open to other users while the job ran:\n" + "\n".join(running)
            meta = session.wait_for_job(job_id, timeout=90, poll_interval=0.2)
            assert meta["status"] == "FINISHED:COMPLETED", meta
            for kit in kits:
                assert (kit / job_id).is_dir() or kit == server_kit, f"no workspace of the job in {kit}"
            assert (server_kit / "store").is_dir()
            open_now = [line for kit in kits for line in _open_to_others(kit)]
            assert not open_now, "open to other users after the job:\n" + "\n".join(open_now)

            listing = session.ls_target("server", "-a")
            assert "audit_spent.json" not in listing, listing
            assert "No such file or directory" in _answer(lambda: session.cat_target("server", file="audit_spent.json"))
            for name in ("audit/audit_spent.json", "./audit/audit.log", "audit"):
                for read in (session.cat_target, session.head_target, session.tail_target):
                    assert "audit/ folder (keys, certificates, policy, the server's records) is never shown" in \
                        _answer(lambda: read("server", file=name)), name  # noqa: B023 (called at once)
                assert "never shown" in _answer(lambda: session.grep_target("server", "-F", "lead", name))  # noqa: B023
            # The workspace's root holds the job folders, log.txt (with its rotations) and the closed folders.
            shown = {name.rstrip("/") for name in session.ls_target("server", "-a").split()}
            assert shown <= {".", "..", "startup", "local", "store", "audit", "log.txt", "server-stderr.txt",
                             "old-folder", job_id}, shown
        open_after = [line for kit in kits for line in _open_to_others(kit)]
        assert not open_after, "open to other users after the run:\n" + "\n".join(open_after)
        assert (server_kit / "audit" / "audit_spent.json").is_file()
        assert not (server_kit / "audit_spent.json").exists()
