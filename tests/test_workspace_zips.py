"""Zips that come from the wire are checked as they arrive, by the job upload's checker.

A site's workspace archive, answered to the server's ``get_workspace`` when a job ends, is held
to the server's ``job_limits`` (names, links, entries, size, expansion ratio) before it is kept:
a bad one is refused and named in ``job_errors`` (the site named), the rest of the job's result
kept. The console's ``download_job`` holds every part it unpacks to the same rules: a bad part
(a store from before, a hostile server) is skipped and named, the good parts are delivered, and
the batch exits 1 with the reason. Real server, an honest site-1, a hostile site-2
(``tests/hostile_site.py``, real site code) whose workspace answer is a made-up zip.
"""

from __future__ import annotations

import re
import shutil
import stat
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shell_helpers import run_console

from console.jobdef.archive import JobLimits, UnsafeArchiveError, check_archive
from console.jobdef.packing import TRUNCATION_NOTE, zip_dir_to_file

from conftest import ADMIN, PartProcess, ServerProcess, SiteProcess, make_project, wait_until
from jobs import numpy_job

HOSTILE = Path(__file__).parent / "hostile_site.py"
#: Past the ratio's floor (64 MiB, job_limits.ratio_floor_bytes), in a few hundred bytes of bzip2.
BOMB_MIB = 72


def _bomb(path: Path, mib: int = BOMB_MIB) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("zeros.bin")
        info.compress_type = zipfile.ZIP_BZIP2
        with archive.open(info, "w", force_zip64=True) as out:
            block = bytes(1 << 20)
            for _ in range(mib):
                out.write(block)
    return path


def _with_link(path: Path) -> Path:
    """An honest log and one link entry (the tester's link.zip)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("log.txt", "trained\n")
        link = zipfile.ZipInfo("evil_link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return path


def _honest(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("log.txt", "trained\n")
    return path


MADE_UP = {"bomb": (_bomb, "more than 1100 times the archive's"),
           "link": (_with_link, "archive entry 'evil_link' is a link")}


# -- the checker, alone ------------------------------------------------------------------


def _zip_of(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return path


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("names, said", [
    (["ok.txt", "../out.txt"], "climbs out with '..'"),
    (["/etc/cron.d/x"], "has an absolute path"),
    ([f"f{n}" for n in range(11)], "archive has 11 entries; the limit is 10"),
    (["a", "a"], "appears twice"),
    (["ok.txt", "evil\x1b]0;PWN\x07.txt"], "holds the control or invisible character '\\x1b'"),
    (["evil\nname.txt"], "holds the control or invisible character '\\n'"),
    (["gpj.\u202eexe"], "holds the control or invisible character '\\u202e'"),
    (["ad\u200bmin/x.txt"], "holds the control or invisible character '\\u200b'"),
    (["bell\x07/"], "holds the control or invisible character '\\x07'"),
])
def test_check_archive_refuses_what_extraction_would_and_writes_nothing(tmp_path: Path, names: list[str],
                                                                        said: str) -> None:
    archive = _zip_of(tmp_path / "a.zip", names)
    with pytest.raises(UnsafeArchiveError, match=re.escape(said)):
        check_archive(archive, max_total_bytes=1 << 20, max_entries=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_check_archive_counts_the_bytes_past_the_ratio(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.zip", 8)
    with pytest.raises(UnsafeArchiveError, match="more than 1100 times the archive's"):
        check_archive(bomb, max_total_bytes=1 << 30, max_ratio=1100, ratio_floor_bytes=1 << 20)
    assert check_archive(bomb, max_total_bytes=1 << 30, max_ratio=1100, ratio_floor_bytes=16 << 20) == 8 << 20


def test_a_workspace_with_more_files_than_max_entries_is_archived_within_it_naming_the_rest(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "log.txt").write_text("kept first\n")
    for n in range(30):
        (workspace / f"event-{n:02d}.bin").write_bytes(b"e" * n)
    out = tmp_path / "ws.zip"
    left_out = zip_dir_to_file(workspace, out, max_entries=20)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        note = archive.read(TRUNCATION_NOTE).decode()
    assert len(names) == 20 and "log.txt" in names and len(left_out) == 12  # 31 files, 19 places and the note
    assert "limited to 20 entries" in note and all(name in note for name in left_out)
    assert JobLimits(max_entries=20).check_workspace(out) > 0


@pytest.mark.parametrize("name", ["evil\x1b]0;PWN\x07.txt", "two\nlines.txt", "gpj.\u202eexe", "ad\u200bmin"])
def test_names_with_control_characters_are_refused_in_a_job_and_left_out_of_a_workspace(tmp_path: Path,
                                                                                        name: str) -> None:
    """Every receiver refuses such an entry (the checker above): a job folder holding one is refused
    before anything is sent, naming it; a workspace is archived without it (the rest of the results
    kept), also when it names a folder."""
    from console.jobdef.errors import JobDefinitionError
    from console.jobdef.packing import zip_job_folder

    folder = tmp_path / "job"
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "ok.txt").write_text("fine")
    (folder / "app" / name).write_text("x")
    with pytest.raises(JobDefinitionError, match="control or invisible character") as refused:
        zip_job_folder(folder, tmp_path / "job.zip")
    assert repr(name)[1:-1] in str(refused.value) and not (tmp_path / "job.zip").exists()
    (folder / f"d{name}").mkdir()
    (folder / f"d{name}" / "inside.txt").write_text("x")
    zip_dir_to_file(folder, tmp_path / "ws.zip")
    with zipfile.ZipFile(tmp_path / "ws.zip") as archive:
        assert archive.namelist() == ["app/ok.txt"]
    assert check_archive(tmp_path / "ws.zip", max_total_bytes=1 << 20) == 4


# -- a real server, an honest site-1 and a hostile site-2 -----------------------------------


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path, Path]]:
    """(session, project, jobs folder, the file site-2 answers get_workspace with)."""
    from console.flare_api import new_secure_session

    root = tmp_path_factory.mktemp("wszips")
    project = make_project(root / "project")
    answer = _honest(root / "answer.zip")
    server, honest = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1"))
    hostile = SiteProcess(project.kit("site-2"))
    hostile.argv = [sys.executable, str(HOSTILE), str(project.kit("site-2"))]
    hostile.env = {"HOSTILE_WORKSPACE": str(answer)}
    parts: list[PartProcess] = [server, honest, hostile]
    session = None
    try:
        for part in parts:
            part.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        wait_until(lambda: len(session.get_system_info().client_info) == 2, 30, "both sites to register")
        yield session, project, root, answer
    finally:
        if session is not None:
            session.close()
        for part in reversed(parts):
            part.stop()
            part.kill()


def _run_job(session: Any, root: Path) -> dict[str, Any]:
    job_id = session.submit_job(str(numpy_job(root, name="wszip", rounds=1)))
    return session.wait_for_job(job_id, timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(MADE_UP))
def test_a_bad_site_workspace_archive_is_refused_named_and_the_rest_of_the_result_kept(federation, tmp_path: Path,
                                                                                       kind: str) -> None:
    session, project, root, answer = federation
    make, said = MADE_UP[kind]
    make(answer)
    meta = _run_job(session, root)
    assert meta["status"] == "FINISHED:COMPLETED"
    errors = meta.get("job_errors") or {}
    assert list(errors) == ["site-2"], errors
    assert "its workspace archive was refused" in errors["site-2"][0] and said in errors["site-2"][0], errors
    stored = project.server_kit / "store" / "jobs" / meta["job_id"] / "sites"
    assert sorted(p.name for p in stored.iterdir()) == ["site-1.zip"]  # nothing of site-2's kept, not even a part
    result = Path(session.download_job_result(meta["job_id"], str(tmp_path / "dl")))
    assert (result / "sites" / "site-1" / "log.txt").is_file() and (result / "workspace").is_dir()
    assert not (result / "sites" / "site-2").exists()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(MADE_UP))
def test_download_job_skips_a_bad_stored_part_naming_it_delivers_the_rest_and_exits_1(federation, tmp_path: Path,
                                                                                     kind: str) -> None:
    """A store from before the server's check (or a hostile server) holds a bad site part."""
    session, project, root, answer = federation
    _honest(answer)
    meta = _run_job(session, root)
    assert meta["status"] == "FINISHED:COMPLETED" and not meta.get("job_errors"), meta.get("job_errors")
    make, said = MADE_UP[kind]
    make(project.server_kit / "store" / "jobs" / meta["job_id"] / "sites" / "site-2.zip")
    dest = tmp_path / "dl"
    done = run_console(tmp_path / "home", "--kit", str(project.admin_kit), "-c",
                       f"download_job {meta['job_id']} {dest}")
    said_all = done.stdout + done.stderr
    assert done.returncode == 1, said_all
    assert "sites/site-2 (site site-2's workspace) was refused and left out" in said_all and said in said_all
    result = dest / meta["job_id"]
    assert (result / "sites" / "site-1" / "log.txt").is_file() and (result / "workspace").is_dir()
    assert (result / "job").is_dir() and (result / "meta.json").is_file()
    assert not (result / "sites" / "site-2").exists()
    assert sum(f.stat().st_size for f in result.rglob("*") if f.is_file()) < 16 << 20  # the bomb never unpacked
    shutil.rmtree(dest)
