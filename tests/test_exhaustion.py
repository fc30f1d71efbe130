"""Issue 12, finding 3: one peer cannot exhaust the server's memory or connections.

Each flood runs against a real server on loopback (small caps set in its kit, so floods stay
short); while the attacker is still connected, another admin's ``list_jobs`` must answer within
a second and the server's RSS must stay bounded. ``make reliability`` runs bigger floods
(FLOOD_SCALE) and reports the figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from console.flare_api import new_secure_session

from attacks import RawPeer, admin_port, answer_time, half_open, record, rss_mib, scaled
from conftest import ADMIN, ServerProcess, make_project, wait_until
from jobs import waiting_for_sites

MEMBER = "member@example.com"
LIMITS = {"max_in_flight": 16, "max_per_identity": 6, "max_handshakes": 16, "max_handshakes_per_peer": 16}
#: Growth allowed under a flood; unbounded growth was hundreds of MiB (issue 12).
MAX_GROWTH_MIB = 48


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("floods")
    project = make_project(root, extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"}])
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["connection_limits"] = LIMITS
    config_path.write_text(json.dumps(config))
    server = ServerProcess(project.server_kit)
    admin = None
    try:
        server.start()
        admin = new_secure_session(ADMIN, str(project.admin_kit))
        for n in range(5):  # something for list_jobs -d to answer with
            admin.submit_job(str(waiting_for_sites(root, name=f"queued-{n}")))
        yield {"project": project, "server": server, "admin": admin, "pid": server.process.pid}
    finally:
        if admin is not None:
            admin.close()
        server.stop()


def _flood_and_check(target, kind: str, attack) -> dict:
    pid, admin = target["pid"], target["admin"]
    before = rss_mib(pid)
    figures = attack()
    during = rss_mib(pid)
    latency = answer_time(admin)
    figures.update(rss_before_mib=round(before, 1), rss_during_mib=round(during, 1), list_jobs_s=round(latency, 4))
    record(kind, **figures)
    assert during - before < MAX_GROWTH_MIB, figures
    assert latency < 1.0, figures
    return figures


@pytest.mark.timeout(120)
def test_unread_replies_do_not_grow_the_server(target) -> None:
    peer = RawPeer(target["project"].kit(MEMBER))
    try:
        assert peer.login()["ok"]
        count = scaled(100_000)
        figures = _flood_and_check(target, "unread replies", lambda: {
            "requests": count, "sent": peer.flood(count, "list_jobs", {"detailed": True})})
        # The server stopped reading a peer that does not read (or dropped it), long before the end.
        assert figures["sent"] < count
    finally:
        peer.close()


@pytest.mark.timeout(120)
def test_requests_marked_as_streams_are_freed(target) -> None:
    peer = RawPeer(target["project"].kit(MEMBER))
    try:
        assert peer.login()["ok"]
        count = scaled(20000)
        figures = _flood_and_check(target, "stream-marked requests", lambda: {
            "requests": count, "sent": peer.flood(count, "list_jobs", {}, stream=True)})
        assert figures["sent"] < count  # dropped once too many uploads were left open
    finally:
        peer.close()


@pytest.mark.timeout(120)
def test_half_open_handshakes_are_capped(target) -> None:
    sockets: list = []
    try:
        count = scaled(400)

        def attack() -> dict:
            sockets.extend(half_open(admin_port(target["project"].admin_kit), count))
            return {"connections": count, "opened": len(sockets)}

        figures = _flood_and_check(target, "half-open TLS handshakes", attack)
    finally:
        for sock in sockets:
            sock.close()
    # Once they are gone, a new admin logs in as before, and the memory is not kept.
    wait_until(lambda: _logs_in(target["project"]), 20, "a new login after the flood")
    after = rss_mib(target["pid"])
    record("half-open TLS handshakes, after", rss_after_mib=round(after, 1))
    assert after - figures["rss_before_mib"] < MAX_GROWTH_MIB


def _logs_in(project) -> bool:
    try:
        with new_secure_session(ADMIN, str(project.admin_kit), timeout=5) as sess:
            return sess.list_jobs(limit=1) is not None
    except Exception:
        return False


@pytest.mark.timeout(120)
def test_connections_per_identity_are_capped(target) -> None:
    peers: list[RawPeer] = []
    try:
        for _ in range(LIMITS["max_per_identity"]):
            peers.append(RawPeer(target["project"].kit(MEMBER)))
            assert peers[-1].login()["ok"]
        extra = RawPeer(target["project"].kit(MEMBER))
        peers.append(extra)
        refusal = extra.login()  # answered with why, then closed
        assert not refusal["ok"] and "max_per_identity" in refusal["error"]["message"], refusal
        record("connections of one identity", cap=LIMITS["max_per_identity"])
        assert answer_time(target["admin"]) < 1.0  # other identities are not affected
    finally:
        for peer in peers:
            peer.close()


LEAD = "lead@example.com"
STUCK = 250


@pytest.mark.timeout(120)
def test_jobs_that_cannot_start_never_hold_up_one_that_can(tmp_path) -> None:
    from console.server.store import SIGNATURE_FILE, JobStore, Submitter

    from jobs import hello_server

    project = make_project(tmp_path, extra=[{"name": LEAD, "type": "admin", "org": "example", "role": "lead"}])
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["job_limits"] = {"max_queued_per_submitter": STUCK}
    config_path.write_text(json.dumps(config))
    # A lead's backlog for a site that never connects, older than anything submitted later.
    store = JobStore(project.server_kit / "store")
    try:
        for n in range(STUCK):
            archive = store.new_incoming_path()
            archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: never deployed anyway
            store.create_job(f"00000000-0000-4000-8000-{n:012d}", archive,
                             {"name": f"stuck-{n}", "deploy_map": {"app": ["server", "site-9"]}, "min_clients": 1},
                             "stuck", Submitter(LEAD, "example", "lead"), extra_files={SIGNATURE_FILE: b"{}"})
    finally:
        store.close()
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin, \
                new_secure_session(LEAD, str(project.kit(LEAD))) as lead:
            with pytest.raises(Exception, match=f"already has {STUCK} jobs waiting"):
                lead.submit_job(str(hello_server(tmp_path, name="one-more")))
            started = time.monotonic()
            job_id = admin.submit_job(str(hello_server(tmp_path, name="can-start", step_seconds=0.05)))
            meta = admin.wait_for_job(job_id, timeout=30)
            assert meta["status"] == "FINISHED:COMPLETED"
            record("head-of-line blocking", stuck_jobs=STUCK, submit_to_done_s=round(time.monotonic() - started, 2))
    finally:
        server.stop()
