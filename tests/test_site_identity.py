"""Security finding 5: two processes with one site's kit replaced each other ~4.6 times a second.

Now a new connection for a connected site is let in only if the site's current link does not
answer a heartbeat within PROBE_SECONDS: a copied kit is turned away (said once on the server with
both addresses, on the copy with the server's reason, which then backs off), while a site whose old
link went dead without the server noticing (a network loss: here its process frozen, its socket
open and silent) gets in within seconds. Real server and site processes on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from console.flare_api import new_secure_session
from console.server.sites import PROBE_SECONDS

from conftest import (
    ADMIN,
    ServerProcess,
    SiteProcess,
    make_project,
    set_connection_limits,
    stop_federation,
    wait_until,
)


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


class _SilentFlood:
    """Keeps ``count`` TLS connections open on the site port with one site's key, never answering
    (what job code that read the key could do), opening a new one for each the server closes."""

    def __init__(self, site_kit: Path, count: int) -> None:
        startup = site_kit / "startup"
        server = json.loads((startup / "fed_client.json").read_text())["servers"][0]
        self.port = server["fed_learn_port"]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.check_hostname = False
        self.ctx.load_verify_locations(startup / "rootCA.pem")
        self.ctx.load_cert_chain(startup / "client.crt", startup / "client.key")
        self.count, self.opened, self.closed_by_server = count, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _SilentFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(20)

    def _run(self) -> None:
        held: list[ssl.SSLSocket] = []
        try:
            while not self._stop.is_set():
                for sock in list(held):
                    try:
                        if sock.recv(1 << 16):
                            continue  # the server's login request: left unanswered
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    except OSError:
                        pass
                    held.remove(sock)
                    sock.close()
                    self.closed_by_server += 1
                while len(held) < self.count and not self._stop.is_set():
                    try:
                        sock = self.ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port), timeout=5),
                                                    server_hostname="server")
                    except OSError:
                        break
                    sock.setblocking(False)
                    held.append(sock)
                    self.opened += 1
                self._stop.wait(0.05)
        finally:
            for sock in held:
                sock.close()


@pytest.mark.timeout(120)
def test_one_sites_key_cannot_fill_the_site_port_nor_keep_its_site_out(tmp_path: Path) -> None:
    """Security report 8, item 4: 512 silent connections with site-b1's key filled the site port and
    knocked sites off. Now a site's connections still logging in are capped per site name (the
    oldest dropped past ``max_logins_per_site``): with a port of 12 places, a flood of 16 silent
    connections with site-2's key leaves room for site-1, and site-2 itself still gets in."""
    project = make_project(tmp_path)
    set_connection_limits(project.server_kit, max_site_connections=12, max_logins_per_site=3)
    server = ServerProcess(project.server_kit)
    sites = [SiteProcess(project.kit("site-1")), SiteProcess(project.kit("site-2"))]
    session = None
    try:
        server.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        with _SilentFlood(project.kit("site-2"), 16) as flood:
            wait_until(lambda: flood.opened >= 16, 30, "the flood's connections to open")
            # Past the cap the oldest go at once (not after the 10 s a login may take).
            wait_until(lambda: flood.closed_by_server >= 10, 8, "the server to drop the flood's oldest connections")
            for site in sites:
                site.start(wait=False)
            wait_until(lambda: _online(session) == {"site-1", "site-2"}, 40, "both sites to get in past the flood")
            assert "max_logins_per_site 3): the oldest dropped" in server.stderr, server.stderr
            watch_until = time.monotonic() + 1.5  # and stay in: no probe storm drops either one
            while time.monotonic() < watch_until:
                assert _online(session) == {"site-1", "site-2"}
                time.sleep(0.2)
        assert "disconnected" not in server.stderr, server.stderr
    finally:
        stop_federation(server, sites, session)
