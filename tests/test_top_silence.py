"""``top`` tells the truth about parts that stop answering, on our engine (session 12's user, items 2 and 3).

- A frozen site (SIGSTOP) is ``no reply``, as on FLARE, also once our server dropped its link for a missed
  heartbeat (it may come back: ``console.server.dropped_sites``), and ``connected`` again after SIGCONT; ``gone``
  stays for a site whose link closed (its process died, it left, an admin removed it). ``check_status`` says the
  same: the site among ``clients_not_answering``, ``no_reply`` in ``check_status client``.
- A frozen server: top's title says it has not answered for N s, counting, from the toolbar's source (the
  heartbeat's ``silent_for``), before the link is judged lost; it clears when the server answers again.

A real server and sites of the module's own (frozen here, so shared with no other module), a real console in a
pty. Every frozen process gets its SIGCONT in a ``finally``; the fixture stops them all.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, PROMPT, console_env, run_console

from conftest import (
    ADMIN,
    PartProcess,
    Project,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)

ROWS, COLUMNS = 30, 160


@dataclass
class Parts:
    project: Project
    server: PartProcess
    sites: dict[str, PartProcess]
    session: Any


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parts]:
    from console.flare_api import new_secure_session

    project = make_project(tmp_path_factory.mktemp("frozen"))
    server = ServerProcess(project.server_kit)
    sites = {name: SiteProcess(project.kit(name)) for name in ("site-1", "site-2")}
    session = None
    try:
        server.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        start_together(list(sites.values()))
        yield Parts(project, server, sites, session)
    finally:
        for part in (server, *sites.values()):  # never left stopped, whatever failed
            if part.process is not None and part.process.poll() is None:
                os.kill(part.process.pid, signal.SIGCONT)
        if session is not None:
            session.close()
        stop_together(list(sites.values()))
        stop_together([server])


@pytest.fixture
def top(parts: Parts, tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    """A console in a pty with top open, both sites connected on it."""
    wait_until(lambda: len(parts.session.get_system_info().client_info) == 2, 30, "both sites to be connected")
    (tmp_path / "tmp").mkdir()
    shell = pexpect.spawn(CONSOLE, ["--kit", str(parts.project.admin_kit)], encoding="utf-8", timeout=30,
                          dimensions=(ROWS, COLUMNS),
                          env=console_env(tmp_path, NO_COLOR="1", TMPDIR=str(tmp_path / "tmp")))
    try:
        shell.expect(PROMPT)
        screen = Screen(shell, ROWS, COLUMNS)
        shell.send("top\r")
        screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")
        yield shell, screen
        shell.send("q")
        screen.wait_for(r"on server>\s*\Z", timeout=30)
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=60)
    finally:
        if shell.isalive():
            shell.terminate(force=True)


def test_a_frozen_site_is_no_reply_not_gone_and_connected_again_after_sigcont(parts: Parts, top, tmp_path: Path
                                                                            ) -> None:
    shell, screen = top
    site = parts.sites["site-2"]
    assert site.process is not None
    dropped = "dropping site site-2: missed heartbeat"
    os.kill(site.process.pid, signal.SIGSTOP)
    try:
        screen.wait_for(r"site-2 +no reply", timeout=30)
        # Our server drops a site that misses its heartbeat (within 15 s): top still says no reply, never gone.
        def dropped_yet() -> bool:
            screen.pump()
            assert not screen.text.count("site-2  gone"), screen.text
            return dropped in parts.server.stderr

        wait_until(dropped_yet, 30, "the server to drop the frozen site", interval=0.1)
        screen.wait_for(r"Sites \(1 connected\)")
        assert "site-2  gone" not in screen.text and "site-2  no reply" in screen.text, screen.text
        # check_status says the same, and so does a snapshot, read from the poll alone (no push).
        status = parts.session.check_status("server")
        assert [c["client_name"] for c in status["clients"]] == ["site-1"], status
        assert [c["client_name"] for c in status["clients_not_answering"]] == ["site-2"], status
        assert {"client_name": "site-2", "status": "no_reply"} in parts.session.get_client_job_status(), status
        assert parts.session.get_client_job_status(["site-2"]) == [{"client_name": "site-2", "status": "no_reply"}]
        snapshot = run_console(tmp_path, "--kit", str(parts.project.admin_kit), "-c", "top", COLUMNS=str(COLUMNS))
        assert snapshot.returncode == 0, snapshot.stdout + snapshot.stderr
        assert "Sites (1 connected)" in snapshot.stdout, snapshot.stdout
        assert [line.split()[:3] for line in snapshot.stdout.splitlines() if line.startswith("site-2")] == [
            ["site-2", "no", "reply"]], snapshot.stdout
    finally:
        os.kill(site.process.pid, signal.SIGCONT)
    screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected", timeout=40)  # it connects again by itself
    assert "clients_not_answering" not in parts.session.check_status("server")
    assert "site-2  gone" not in screen.text, screen.text


def test_a_frozen_site_is_no_reply_at_once_and_holds_no_other_sites_answer(parts: Parts) -> None:
    """Once a frozen site's heartbeat is late (``LATE_HEARTBEAT_SECONDS`` unanswered), and before the server drops
    it, ``check_status client`` and ``sys_info client`` answer within seconds: the frozen site ``no_reply``, not
    asked, the healthy one's rows as ever (session 12: each waited out the 10 s command timeout, so top's rows of
    every site were ~20 s stale, and a snapshot printed nothing for as long)."""
    from console.server.sites import HEARTBEAT_SECONDS, LATE_HEARTBEAT_SECONDS

    session = parts.session
    wait_until(lambda: [r["status"] for r in session.get_client_job_status()] == ["no_jobs", "no_jobs"], 30,
               "both sites to answer")
    site = parts.sites["site-2"]
    assert site.process is not None

    def heartbeat_age() -> float:
        clients = {c["client_name"]: c for c in session.check_status("server")["clients"]}
        return time.time() - clients["site-2"]["client_last_heartbeat"]

    logged = len(parts.server.stderr)  # (an earlier test of the module froze it too)
    os.kill(site.process.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: heartbeat_age() > HEARTBEAT_SECONDS + LATE_HEARTBEAT_SECONDS + 1, 15,
                   "site-2's heartbeat to be late", interval=0.2)
        assert "dropping site site-2" not in parts.server.stderr[logged:]  # connected still: late, not dropped
        began = time.monotonic()
        rows = session.get_client_job_status()
        took = time.monotonic() - began
        assert rows == [{"client_name": "site-1", "status": "no_jobs"},
                        {"client_name": "site-2", "status": "no_reply"}], rows
        assert took < 3, f"check_status client took {took:.1f} s"
        began = time.monotonic()
        infos = session.sys_info("client")
        took = time.monotonic() - began
        assert infos["site-1"]["memory_rss_mib"] > 0, infos
        assert infos["site-2"]["error"].startswith("no reply: site-2 has not answered its heartbeat"), infos
        assert took < 3, f"sys_info client took {took:.1f} s"
    finally:
        os.kill(site.process.pid, signal.SIGCONT)
    wait_until(lambda: [r["status"] for r in session.get_client_job_status()] == ["no_jobs", "no_jobs"], 40,
               "site-2 to answer again")


def test_a_site_whose_process_died_is_gone(parts: Parts, top) -> None:
    """The neighbour: a killed site's link closes (no goodbye): gone at once, not no reply; back when started."""
    shell, screen = top
    site = parts.sites["site-1"]
    site.kill()
    screen.wait_for(r"site-1 +gone")
    assert "clients_not_answering" not in parts.session.check_status("server")
    parts.sites["site-1"] = SiteProcess(parts.project.kit("site-1")).start()
    screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")


def test_top_says_at_once_that_a_frozen_server_has_not_answered_and_counts(parts: Parts, top) -> None:
    shell, screen = top
    assert parts.server.process is not None
    os.kill(parts.server.process.pid, signal.SIGSTOP)
    try:
        # The toolbar's source (the heartbeat notices in about 3 s), before the link is judged lost (about 6 s).
        first = int(screen.wait_for(r"the server has not answered for (\d+) s", timeout=15).group(1))
        later = screen.wait_for(rf"the server has not answered for (?!{first} s)(\d+) s", timeout=5)
        assert int(later.group(1)) > first, screen.text
    finally:
        os.kill(parts.server.process.pid, signal.SIGCONT)
    screen.wait_gone("has not answered", timeout=30)
    screen.wait_gone("disconnected", timeout=30)  # (if the link was judged lost meanwhile: reconnected)
    screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")
