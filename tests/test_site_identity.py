"""Security finding 5: two processes with one site's kit replaced each other ~4.6 times a second.

Now a new connection for a connected site is let in only if the site's current link does not
answer a heartbeat within PROBE_SECONDS: a copied kit is turned away (said once on the server with
both addresses, on the copy with the server's reason, which then backs off), while a site whose old
link went dead without the server noticing (a network loss: here its process frozen, its socket
open and silent) gets in within seconds. Real server and site processes on loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from console.flare_api import new_secure_session
from console.server.sites import PROBE_SECONDS

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, wait_until


def _online(session) -> set[str]:
    return {c.name for c in session.get_connected_client_list()}


@pytest.mark.timeout(120)
def test_a_copied_site_kit_is_turned_away_and_a_site_back_from_a_network_loss_is_let_in(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    copy = tmp_path / "stolen-site-1"
    shutil.copytree(project.kit("site-1"), copy)
    server, site, clone = ServerProcess(project.server_kit), SiteProcess(project.kit("site-1")), SiteProcess(copy)
    back = SiteProcess(copy)  # the same site connecting anew, once the copy is gone
    session = None
    frozen = False
    try:
        server.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        site.start()
        wait_until(lambda: _online(session) == {"site-1"}, 20, "site-1 to register")
        clone.start(wait=False)
        clone.wait_for_line("the server turns this site away: site site-1 is connected already, from 127.0.0.1 port",
                            20)
        # Over a few seconds the site keeps its one link: no swap, no reconnect.
        watch_until = time.monotonic() + 2
        while time.monotonic() < watch_until:
            assert _online(session) == {"site-1"}
            time.sleep(0.2)
        log = server.stderr
        assert "replaced by a new connection" not in log and "disconnected" not in log, log
        assert log.count("site connection from") == 1, log  # once; the next in a summary a period later
        assert "answers its heartbeat: is a second process running with a copy of its startup kit" in log, log
        assert "disconnected from the server" not in site.stderr
        assert clone.stderr.count("turns this site away") == 1, clone.stderr
        clone.stop()

        # A network loss the server did not see: the old link stays open and says nothing.
        assert site.process is not None
        os.kill(site.process.pid, signal.SIGSTOP)
        frozen = True
        started = time.monotonic()
        back.start(timeout=PROBE_SECONDS + 15)
        took = time.monotonic() - started
        assert took < PROBE_SECONDS + 6, took
        assert f"its link did not answer within {PROBE_SECONDS:g} s" in server.stderr, server.stderr
        wait_until(lambda: _online(session) == {"site-1"}, 10, "site-1 to be back")
    finally:
        if frozen and site.process is not None:
            os.kill(site.process.pid, signal.SIGCONT)
        if session is not None:
            session.close()
        for part in (back, clone, site, server):
            part.stop()
            part.kill()
