"""Security finding 6: an upload that goes silent is cut at the pace of connection_limits, its
partial file removed at once, and one identity's uploads under way are bounded in bytes.

A real server on loopback with small numbers in its kit (1 s of grace, then 4 MiB/s; 3 MiB of
uploads in flight per identity), driven frame by frame with the tester's stalled-upload shape:
submit_job requests that send their data and never their end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest

from console.flare_api import new_secure_session

from attacks import RawPeer
from conftest import ADMIN, ServerProcess, make_project, set_connection_limits, wait_until
from jobs import waiting_for_sites

LEAD = "lead@example.com"
MIB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("uploads")
    project = make_project(root, extra=[{"name": LEAD, "type": "admin", "org": "example", "role": "lead"}])
    set_connection_limits(project.server_kit, transfer_floor_seconds=1.0, min_transfer_bytes_per_second=4 * MIB,
                          max_upload_bytes_per_identity=3 * MIB)
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["max_upload_bytes"] = 2 * MIB  # so the budget of 3 MiB is not raised to it
    config_path.write_text(json.dumps(config))
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        yield {"project": project, "incoming": project.server_kit / "store" / "incoming", "root": root}
    finally:
        server.stop()
        server.kill()


@pytest.fixture
def target(server: dict) -> Iterator[dict]:
    """The shared server, and the raw peers a test opens (closed after it, also on failure)."""
    peers: list[RawPeer] = []
    try:
        yield {**server, "peers": peers}
    finally:
        for peer in peers:
            peer.close()


def _peer(target: dict, who: str) -> RawPeer:
    peer = RawPeer(target["project"].kit(who), timeout=30)
    target["peers"].append(peer)
    assert peer.login().get("ok"), who
    return peer


def _stalled_uploads(peer: RawPeer, ids: range, mib: int) -> None:
    """submit_job uploads of ``mib`` MiB each that never send their end."""
    chunk = os.urandom(MIB)
    for request_id in ids:
        peer.send({"k": "req", "id": request_id, "cmd": "submit_job", "stream": True,
                   "args": {"job_folder": f"j{request_id}", "signature": "AAAA"}})
        for _ in range(mib):
            peer.send({"k": "data", "id": request_id}, chunk)


def _answers(peer: RawPeer, ids: set[int], timeout: float) -> dict[int, tuple[dict, float]]:
    """The answers to ``ids`` (pushed events skipped), each with when it came."""
    started = time.monotonic()
    peer.sock.settimeout(timeout)
    got: dict[int, tuple[dict, float]] = {}
    while set(got) != ids:
        frame = peer.read()
        if frame.get("k") == "res" and frame.get("id") in ids:
            got[frame["id"]] = (frame, time.monotonic() - started)
    return got


@pytest.mark.timeout(90)
def test_stalled_uploads_are_cut_at_the_pace_and_bounded_per_identity(target) -> None:
    incoming = target["incoming"]
    admin = _peer(target, ADMIN)
    _stalled_uploads(admin, range(1, 9), 1)  # the tester's shape: many stalled uploads on one connection
    answers = _answers(admin, set(range(1, 9)), timeout=30)
    refused = {i for i, (frame, _) in answers.items() if "already has" in frame["error"]["message"]}
    slow = {i for i, (frame, _) in answers.items() if "came too slowly" in frame["error"]["message"]}
    # 3 MiB in flight for this identity: three uploads are taken, the other five refused at once...
    assert refused == set(range(4, 9)), answers
    assert "max_upload_bytes_per_identity" in answers[4][0]["error"]["message"]
    # ... and the three, silent after 1 MiB, are cut within 1 s + 1 MiB / (4 MiB/s).
    assert slow == {1, 2, 3}, answers
    assert all(answers[i][0]["error"]["message"].endswith("cut off and nothing was stored") for i in slow)
    assert max(answers[i][1] for i in slow) < 15, answers
    wait_until(lambda: not any(incoming.iterdir()), 5, "the partial uploads to be removed")
    admin.send({"k": "req", "id": 20, "cmd": "list_jobs", "args": {}})  # the connection still serves
    assert _answers(admin, {20}, timeout=10)[20][0]["ok"]


@pytest.mark.timeout(90)
def test_one_identity_full_budget_leaves_others_and_real_submits_alone(target) -> None:
    admin, lead = _peer(target, ADMIN), _peer(target, LEAD)
    _stalled_uploads(admin, range(1, 4), 1)  # the admin's budget is full...
    _stalled_uploads(lead, range(1, 3), 1)  # ... the lead's is its own
    lead_answers = _answers(lead, {1, 2}, timeout=30)
    assert all("came too slowly" in frame["error"]["message"] for frame, _ in lead_answers.values()), lead_answers
    # Once the admin's uploads are cut, its budget is free again: a real submit (keeping the pace
    # easily, on a new connection of the same identity) is taken.
    _answers(admin, {1, 2, 3}, timeout=30)
    session = new_secure_session(ADMIN, str(target["project"].admin_kit), timeout=30)
    try:
        job_id = session.submit_job(str(waiting_for_sites(target["root"], name="real-one")))
        assert session.get_job_meta(job_id)["status"] == "SUBMITTED"
    finally:
        session.close()
