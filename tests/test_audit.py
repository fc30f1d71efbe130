"""The server's audit trail (docs/security.md, "What is logged"): one JSON line per admin command
with who, what and the outcome, per admin and site login and logout; lines that what they quote
cannot forge; rotated by size; out of reach of the file commands."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import ssl
from pathlib import Path

import pytest

from console.flare_api import AuthorizationError, JobNotFound, new_secure_session
from console.jobdef.packing import zip_job_folder
from console.jobdef.signing import sign_archive
from console.server.audit import AUDIT_FILE, AUDIT_FOLDER, AuditLog

from attacks import RawPeer
from conftest import (
    ADMIN,
    EXAMPLES,
    ServerProcess,
    SiteProcess,
    make_project,
    set_connection_limits,
    wait_until,
)
from jobs import waiting_for_sites

MEMBER = {"name": "member@example.com", "type": "admin", "org": "example", "role": "member"}
LEAD = {"name": "lead@example.com", "type": "admin", "org": "example", "role": "lead"}


def _lines(server_kit: Path) -> list[str]:
    path = server_kit / AUDIT_FOLDER / AUDIT_FILE
    return path.read_text().splitlines() if path.exists() else []


def _records(server_kit: Path) -> list[dict]:
    return [json.loads(line) for line in _lines(server_kit)]


def _find(server_kit: Path, **wanted: object) -> dict:
    """The last record with every field of ``wanted``, waited for (the server writes it as it answers)."""

    def found() -> dict | None:
        matches = [r for r in _records(server_kit) if all(r.get(k) == v for k, v in wanted.items())]
        return matches[-1] if matches else None

    return wait_until(found, 10, f"an audit line with {wanted}")  # type: ignore[return-value]


@pytest.mark.timeout(90)
def test_commands_logins_and_sites_leave_their_lines(tmp_path: Path) -> None:
    project = make_project(tmp_path, extra=[MEMBER, LEAD])
    kit = project.server_kit
    server = ServerProcess(kit)
    site = SiteProcess(project.kit("site-1"))
    try:
        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin, \
                new_secure_session(MEMBER["name"], str(project.kit(MEMBER["name"]))) as member, \
                new_secure_session(LEAD["name"], str(project.kit(LEAD["name"]))) as lead:
            login = _find(kit, kind="login", user=MEMBER["name"])
            assert (login["org"], login["role"], login["outcome"]) == ("example", "member", "done")
            assert login["peer"].startswith("127.0.0.1:") and login["username"] == MEMBER["name"]
            # A second login on a logged-in connection: refused, with the name it tried.
            with pytest.raises(Exception, match="already logged in"):
                member._call(member.client.request("login", {"username": ADMIN}, timeout=10))
            again = _find(kit, kind="login", user=MEMBER["name"], outcome="refused")
            assert again["username"] == ADMIN and "already logged in" in again["error"], again

            job_id = admin.submit_job(str(EXAMPLES / "hello-server"))
            submit = _find(kit, command="submit_job", outcome="done")
            assert (submit["user"], submit["role"], submit["new_job_id"]) == (ADMIN, "project_admin", job_id)
            assert submit["args"]["job_folder"] == "hello-server"
            assert submit["args"]["signature"].startswith("<left out: ")  # large, and the client's own

            # Refused before the job is looked at (the role has no manage_job at all) ...
            with pytest.raises(AuthorizationError):
                member.abort_job(job_id)
            refused = _find(kit, command="abort_job", user=MEMBER["name"])
            assert refused["outcome"] == "refused" and refused["right"] == "manage_job"
            assert refused["args"] == {"job_id": job_id} and "lacks the right 'manage_job'" in refused["error"]
            # ... or on the job (only their own): a prefix is logged as typed, with the job it resolved to.
            with pytest.raises(AuthorizationError):
                lead.abort_job(job_id[:8])
            refused = _find(kit, command="abort_job", user=LEAD["name"])
            assert (refused["outcome"], refused["right"], refused["role"]) == ("refused", "manage_job", "lead")
            assert refused["args"] == {"job_id": job_id[:8]} and refused["job_id"] == job_id

            assert member.get_job_meta(job_id)["job_id"] == job_id
            done = _find(kit, command="get_job_meta", user=MEMBER["name"])
            assert (done["outcome"], done["job_id"]) == ("done", job_id) and "error" not in done

            with pytest.raises(JobNotFound):
                member.get_job_meta("ffffffff")
            missing = _find(kit, command="get_job_meta", outcome="error")
            assert missing["error"].startswith("JobNotFound: no such job") and "job_id" not in missing

            # The trail is the operator's: no file command reaches it, whoever asks.
            with pytest.raises(Exception, match="never shown"):
                admin.cat_target("server", file=f"{AUDIT_FOLDER}/{AUDIT_FILE}")

            site.start()
            joined = _find(kit, kind="site_login", site="site-1")
            assert (joined["org"], joined["outcome"]) == ("example", "done")
            site.stop()
            _find(kit, kind="site_logout", site="site-1")
        _find(kit, kind="logout", user=MEMBER["name"])
        _find(kit, kind="logout", user=ADMIN)
    finally:
        site.stop()
        server.stop()
        server.kill()
    assert all(line.isascii() for line in _lines(kit))


HOSTILE = [
    'x"}\n{"kind": "command", "user": "someone@else", "command": "delete_job", "outcome": "done"}',
    "x\r\n\x1b[2Kforged\x00\u2028\u2029{}\x85",
    "y" * 100_000,
]


@pytest.mark.timeout(60)
def test_a_hostile_argument_cannot_add_a_line(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    kit = project.server_kit
    server = ServerProcess(kit)
    try:
        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin:
            for text in HOSTILE:
                for cmd, args in (("get_job_meta", {"job_id": text}), ("cat", {"target": "server", "file": text}),
                                  (text, {text: text})):
                    before = len(_lines(kit))
                    with contextlib.suppress(Exception):  # each fails (or answers) in its own way: the line counts
                        admin._call(admin.client.request(cmd, args, timeout=10))
                    wait_until(lambda n=before: len(_lines(kit)) > n, 10, f"the audit line of {cmd[:20]!r}")
                    added = _lines(kit)[before:]
                    assert len(added) == 1, added
                    record = json.loads(added[0])
                    assert record["user"] == ADMIN and record["kind"] == "command"
                    assert len(added[0]) < 3000  # values are cut: one request cannot write megabytes
    finally:
        server.stop()
        server.kill()
    records = _records(kit)
    assert not any(r.get("user") == "someone@else" for r in records)
    forged = next(r for r in records if r.get("command") == "get_job_meta" and "forged" in str(r["args"]))
    assert forged["args"]["job_id"] == HOSTILE[1]  # kept exactly, only escaped


def test_rotation_keeps_the_trail_bounded(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path, max_bytes=4096, backups=3)
    for n in range(400):
        audit.command(("admin@example.com", "example", "project_admin"), ("127.0.0.1", 5000), "list_jobs",
                      {"n": n}, {}, None)
    audit.close()
    folder = tmp_path / AUDIT_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == [AUDIT_FILE, *(f"{AUDIT_FILE}.{i}" for i in (1, 2, 3))]
    assert all(p.stat().st_size <= 4096 for p in folder.iterdir())
    assert folder.stat().st_mode & 0o777 == 0o700
    newest = [json.loads(line) for line in (folder / AUDIT_FILE).read_text().splitlines()]
    assert newest[-1]["args"] == {"n": 399}  # the newest lines are kept, the oldest go first


@contextlib.contextmanager
def _store_writes_held(server_kit: Path):
    """The server's job store taken for writing by another connection (as a long write would hold
    it): the server's next commit waits in its thread until the block ends (within SQLite's 5 s)."""
    db = sqlite3.connect(server_kit / "store" / "jobs.db", isolation_level=None, timeout=10)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        db.close()


def _new_job_folder(server_kit: Path, known: set[str]) -> str:
    """The job folder the store made for a commit under way (before its row is written)."""
    def made() -> str | None:
        new = {p.name for p in (server_kit / "store" / "jobs").iterdir()} - known
        return new.pop() if new else None

    return wait_until(made, 20, "the store to start the job's commit")  # type: ignore[return-value]


@pytest.mark.timeout(90)
def test_a_commit_cut_off_by_a_closed_connection_is_recorded_as_done(tmp_path: Path) -> None:
    """A submit or clone whose connection closes while the store commits it: the job is stored, so
    the audit line says done with its new_job_id (never an error) and the SUBMITTED event goes out."""
    project = make_project(tmp_path)
    kit = project.server_kit
    admin_kit = project.admin_kit
    folder = waiting_for_sites(tmp_path)  # it stays SUBMITTED: no site is connected
    archive = tmp_path / "job.zip"
    zip_job_folder(folder, archive)
    signature = sign_archive(archive, admin_kit / "startup" / "client.key")
    server = ServerProcess(kit)
    try:
        server.start()
        with new_secure_session(ADMIN, str(admin_kit)) as watcher:
            heard: list[dict] = []
            watcher.client.add_event_listener(lambda topic, data: heard.append({"topic": topic, **data}))
            source = watcher.submit_job(str(folder))
            requests = {
                "submit_job": ({"job_folder": folder.name, "signature": signature}, archive.read_bytes()),
                "clone_job": ({"job_id": source}, None),
            }
            for command, (args, upload) in requests.items():
                known = {p.name for p in (kit / "store" / "jobs").iterdir()}
                logouts = len([r for r in _records(kit) if r.get("kind") == "logout"])
                with _store_writes_held(kit):
                    peer = RawPeer(admin_kit)
                    assert peer.login()["ok"]
                    peer.send({"k": "req", "id": 1, "cmd": command, "args": args, "stream": upload is not None})
                    if upload is not None:
                        peer.send({"k": "data", "id": 1}, upload)
                        peer.send({"k": "end", "id": 1})
                    job_id = _new_job_folder(kit, known)
                    peer.close()  # the request is cancelled while its commit waits for the store
                    wait_until(lambda n=logouts: len([r for r in _records(kit) if r.get("kind") == "logout"]) > n,
                               10, "the server to see the connection close")
                line = _find(kit, command=command, new_job_id=job_id)
                assert line["outcome"] == "done" and "error" not in line, line
                assert line["answer"].startswith("not delivered")
                assert watcher.get_job_meta(job_id)["status"] == "SUBMITTED"
                wait_until(lambda j=job_id: any(e.get("job_id") == j and e.get("status") == "SUBMITTED"
                                                for e in heard), 10, f"the SUBMITTED event of {command}'s job")
    finally:
        server.stop()
        server.kill()


@pytest.mark.timeout(90)
def test_refused_connections_are_in_the_trail_summed_up_as_the_log_does(tmp_path: Path) -> None:
    """A revoked admin (TLS handshake refused), an admin certificate on the site port and a
    connection that never logs in leave ``refused_connection`` lines: the first of a quiet spell at
    once, the rest of a burst in one summary a period (``count``), never a line each."""
    import yaml

    from console.provision.kits import provision

    project = make_project(tmp_path, extra=[MEMBER])
    project_file = tmp_path / f"{project.name}.yml"
    data = yaml.safe_load(project_file.read_text())
    data["participants"] = [p for p in data["participants"] if p["name"] != MEMBER["name"]]  # revoked
    project_file.write_text(yaml.safe_dump(data))
    prod = Path(provision(project_file, tmp_path / "workspace"))
    kit = prod / "server"
    set_connection_limits(kit, refusal_log_seconds=2)
    server = ServerProcess(kit)
    silent = None
    try:
        server.start()
        silent = RawPeer(prod / ADMIN)  # through TLS, and then nothing: no login
        attempts = 5
        for _ in range(attempts):
            with pytest.raises(Exception, match="revoked"):
                new_secure_session(MEMBER["name"], str(project.kit(MEMBER["name"])), timeout=5).close()
        first = _find(kit, kind="refused_connection", what="TLS handshake")
        assert "revoked" in first["reason"] and first["peer"].startswith("127.0.0.1:"), first
        assert first["outcome"] == "refused"

        def handshakes() -> list[dict]:
            return [r for r in _records(kit) if r.get("kind") == "refused_connection" and r["what"] == "TLS handshake"]

        wait_until(lambda: sum(r.get("count", 1) for r in handshakes()) >= attempts, 20,
                   "the rest of the revoked attempts summed up")
        assert len(handshakes()) < attempts, handshakes()
        assert all("revoked" in r["reason"] for r in handshakes())

        fed = json.loads((prod / "site-1" / "startup" / "fed_client.json").read_text())["servers"][0]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(prod / ADMIN / "startup" / "rootCA.pem")
        ctx.load_cert_chain(prod / ADMIN / "startup" / "client.crt", prod / ADMIN / "startup" / "client.key")
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", fed["fed_learn_port"]), timeout=5),
                             server_hostname="server"):
            on_site_port = _find(kit, kind="refused_connection", what="site TLS handshake")
        assert f"{ADMIN!r} holds an admin certificate" in on_site_port["reason"], on_site_port

        anonymous = wait_until(lambda: next((r for r in _records(kit) if r.get("kind") == "refused_connection"
                                             and r["what"] == "admin login"), None), 20, "the silent connection")
        assert f"{ADMIN!r} sent no login within 10 s" in anonymous["reason"], anonymous
    finally:
        if silent is not None:
            silent.close()
        server.stop()
        server.kill()
