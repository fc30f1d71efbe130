"""A site killed mid-work (kill -9) leaves temporary files in its folder: the next site process
to start there clears them and says so once in its log, while a second process started with the
same kit (turned away by the server) touches nothing of the live one's. Real server and sites."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from console.runtime.child import TRANSFER_DIR
from console.site.leftovers import UNPACKING_PREFIX, incoming_zip, outgoing_zip

from conftest import SiteProcess, wait_until

CLEARED = "temporary file(s) a site process left half-done"


def _plant(folder: Path, job_id: str) -> tuple[list[Path], list[Path]]:
    """What a site killed while packing, receiving and running a job leaves: (leftovers, results)."""
    workspace = folder / job_id
    (workspace / TRANSFER_DIR).mkdir(parents=True)
    (workspace / TRANSFER_DIR / "task-3.model").write_bytes(b"\0" * 100)
    (workspace / TRANSFER_DIR / ".result-3.model.part").write_bytes(b"\0" * 10)
    (workspace / f"{UNPACKING_PREFIX}k2j4h1").mkdir()
    outgoing = outgoing_zip(folder, job_id)
    outgoing.write_bytes(b"PK half a zip")
    packing = folder / f".{outgoing.name}.x81ns0a.part"  # packing.py's name beside its target
    packing.write_bytes(b"PK")
    incoming = incoming_zip(folder, job_id)
    incoming.write_bytes(b"PK")
    results = [workspace / "log.txt", workspace / "models" / "final.npz", workspace / "tmpkeep"]
    for path in results:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"a result")
    return [workspace / TRANSFER_DIR, workspace / f"{UNPACKING_PREFIX}k2j4h1", outgoing, packing, incoming], results


@pytest.mark.timeout(90)
def test_a_restarted_site_clears_what_a_killed_one_left_and_a_second_process_touches_nothing(
        server, project, session) -> None:
    folder = project.kit("site-1")
    site = SiteProcess(folder).start()
    second = SiteProcess(folder)
    second.stderr_path = folder / "second-stderr.txt"
    try:
        wait_until(lambda: len(session.get_system_info().client_info) == 1, 20, "site-1 to register")
        leftovers, results = _plant(folder, str(uuid.uuid4()))
        # A second process on the same folder while site-1 lives: the live one's files stay.
        second.start(wait=False)
        second.wait_for_line("another site process works in", 20)
        assert "temporary files a stopped site process left here are left alone" in second.stderr
        second.stop()
        assert all(path.exists() for path in leftovers + results)

        site.kill()
        site.start()
        wait_until(lambda: CLEARED in site.stderr, 20, "the restarted site to clear the leftovers")
        assert not [path for path in leftovers if path.exists()]
        assert all(path.is_file() for path in results)  # results stay for the server to collect
        log = site.stderr
        assert log.count(CLEARED) == 1, log
        line = next(line for line in log.splitlines() if CLEARED in line)
        assert f"cleared {len(leftovers)} " in line and outgoing_zip(folder, "x").name[:10] in line, line
        # The site works on: it registers again, and its log says nothing more of leftovers.
        wait_until(lambda: len(session.get_system_info().client_info) == 1, 20, "site-1 to register again")
    finally:
        second.stop()
        second.kill()
        site.stop()
        site.kill()
