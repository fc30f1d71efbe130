"""Authentication failures, connection failures, and a server killed with SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import time
from pathlib import Path

import pytest

from console.flare_api import AuthenticationError, NoConnection, new_secure_session
from console.provision.certs import CertKind, issue_cert, load_cert, load_key, write_pem_cert, write_pem_key
from console.provision.kits import root_ca_paths

from conftest import ADMIN, Served, ServerProcess, make_project, wait_until
from jobs import hello_server, waiting_for_sites


def _point_kit_at(kit: Path, port: int) -> None:
    config_path = kit / "startup" / "fed_admin.json"
    config = json.loads(config_path.read_text())
    config["admin"]["port"] = port
    config_path.write_text(json.dumps(config))


def _kit_with_cert(project, tmp_path: Path, **validity) -> Path:
    """A copy of the admin kit whose certificate has the given validity window."""
    kit = tmp_path / "expired-kit"
    shutil.copytree(project.admin_kit, kit)
    ca_cert_path, ca_key_path = root_ca_paths(project.workspace, project.name)
    cert, key = issue_cert(load_cert(ca_cert_path), load_key(ca_key_path), cn=ADMIN, org="example",
                           kind=CertKind.ADMIN, role="project_admin", **validity)
    (kit / "startup" / "client.crt").unlink()
    (kit / "startup" / "client.key").unlink()
    write_pem_cert(kit / "startup" / "client.crt", cert)
    write_pem_key(kit / "startup" / "client.key", key)
    return kit


def _raw_attempt(kit: Path) -> bytes:
    """Connect with the kit's certificate, skipping every client-side check; what the server answers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(kit / "startup" / "rootCA.pem"))
    ctx.load_cert_chain(str(kit / "startup" / "client.crt"), str(kit / "startup" / "client.key"))
    port = json.loads((kit / "startup" / "fed_admin.json").read_text())["admin"]["port"]
    with socket.create_connection(("localhost", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="server") as tls:
                tls.sendall(b"\0" * 8)
                return tls.recv(1)
        except (ssl.SSLError, ConnectionError):
            return b""


def test_kit_from_another_project_is_refused(served: Served, tmp_path: Path) -> None:
    project = served.project
    other = make_project(tmp_path / "other", name="other_project")
    _point_kit_at(other.admin_kit, json.loads((project.admin_kit / "startup" / "fed_admin.json")
                                              .read_text())["admin"]["port"])
    with pytest.raises(AuthenticationError, match="another project"):
        new_secure_session(ADMIN, str(other.admin_kit), timeout=5)


def test_expired_certificate_is_refused(server, project, tmp_path: Path) -> None:
    # A server of its own: the log of failed handshakes says one at once, then one per period.
    now = dt.datetime.now(dt.UTC)
    kit = _kit_with_cert(project, tmp_path, not_before=now - dt.timedelta(days=30),
                         not_after=now - dt.timedelta(days=1))
    with pytest.raises(AuthenticationError, match=rf"^this kit's certificate \S+client\.crt expired on "
                       rf"{now - dt.timedelta(days=1):%Y-%m-%d} \d\d:\d\d UTC; ask the project admin for a new kit$"):
        new_secure_session(ADMIN, str(kit), timeout=5)

    # The server refuses it too, and says so in its log, when a client skips its own check.
    assert _raw_attempt(kit) == b"", "the server answered a client whose certificate expired"
    wait_until(lambda: "expired" in server.stderr, 5, "the server to log the refusal")


def test_a_certificate_not_signed_by_the_kits_own_root_is_named_before_connecting(project, tmp_path: Path) -> None:
    """Report 10 #14 on our engine: client.crt signed by another key is said with what to do, before any connection
    (no server runs here: the check is the kit's own files)."""
    from console.provision.certs import make_root_ca

    kit = tmp_path / "wrongly-signed"
    shutil.copytree(project.admin_kit, kit)
    other_ca, other_key = make_root_ca("other_project")
    cert, key = issue_cert(other_ca, other_key, cn=ADMIN, org="example", kind=CertKind.ADMIN, role="project_admin")
    write_pem_cert(kit / "startup" / "client.crt", cert)
    write_pem_key(kit / "startup" / "client.key", key)
    with pytest.raises(AuthenticationError) as refused:
        new_secure_session(ADMIN, str(kit), timeout=5)
    assert str(refused.value) == (
        f"this kit's certificate {kit / 'startup' / 'client.crt'} is not signed by the kit's rootCA.pem "
        f"({kit / 'startup' / 'rootCA.pem'}): the kit's files come from different provisionings, and no server of "
        "its project will take it; ask the project admin for a new kit")


@pytest.mark.timeout(60)
def test_a_server_that_takes_the_connection_and_says_nothing_did_not_answer(project, tmp_path: Path) -> None:
    """Report 10 #16 (a stopped server: its kernel still takes connections): 'did not answer within N s', not
    'cannot connect'."""
    kit = tmp_path / "kit"
    shutil.copytree(project.admin_kit, kit)
    with socket.socket() as silent:  # listens, never accepts: the kernel completes the TCP handshakes
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        _point_kit_at(kit, silent.getsockname()[1])
        host = json.loads((kit / "startup" / "fed_admin.json").read_text())["admin"]["host"]
        with pytest.raises(NoConnection) as failed:
            new_secure_session(ADMIN, str(kit), timeout=1.0)
    assert str(failed.value) == (
        f"the server at {host}:{_port(kit)} took the connection but did not "
        "answer within 1 s; is it stopped or overloaded? Its log and its machine's load may say (a longer "
        "--timeout helps only a slow one)")


def _port(kit: Path) -> int:
    return int(json.loads((kit / "startup" / "fed_admin.json").read_text())["admin"]["port"])


def test_not_yet_valid_certificate_is_refused(served: Served, tmp_path: Path) -> None:
    project = served.project
    now = dt.datetime.now(dt.UTC)
    kit = _kit_with_cert(project, tmp_path, not_before=now + dt.timedelta(days=2),
                         not_after=now + dt.timedelta(days=30))
    with pytest.raises(AuthenticationError, match="not valid before"):
        new_secure_session(ADMIN, str(kit), timeout=5)


def test_username_must_be_the_certificate_cn(served: Served) -> None:
    server, project = served.server, served.project
    with pytest.raises(AuthenticationError, match="does not match the certificate's CN"):
        new_secure_session("someone@else.org", str(project.admin_kit), timeout=5)
    wait_until(lambda: "someone@else.org" in server.stderr, 5, "the server to log the refusal")


def test_unreachable_server_raises_no_connection_within_timeout(project) -> None:
    started = time.monotonic()
    with pytest.raises(NoConnection, match="cannot connect"):
        new_secure_session(ADMIN, str(project.admin_kit), timeout=1.0)
    assert time.monotonic() - started < 5


def test_session_reconnects_after_server_restart(server, project) -> None:
    with new_secure_session(ADMIN, str(project.admin_kit)) as sess:
        assert sess.list_jobs() == []
        server.stop()
        server.start()
        assert sess.list_jobs() == []  # the next call reconnects and logs in again


def test_jobs_survive_kill_9(server, project, tmp_path: Path) -> None:
    with new_secure_session(ADMIN, str(project.admin_kit)) as sess:
        waiting = sess.submit_job(str(waiting_for_sites(tmp_path)))
        done = sess.submit_job(str(hello_server(tmp_path, steps=1, step_seconds=0.05)))
        wait_until(lambda: sess.get_job_status(done) == "FINISHED:COMPLETED", 20, "the short job")
        running = sess.submit_job(str(hello_server(tmp_path, steps=500, step_seconds=0.1)))
        wait_until(lambda: sess.get_job_status(running) == "RUNNING", 20, "the long job to run")
        assert _processes_mentioning(running)
        leftovers = _leave_leftovers(project.server_kit, done, running)
        server.kill()
        # The job's process sees its stdin close and stops: no orphan outlives the server.
        wait_until(lambda: not _processes_mentioning(running), 10, "the orphaned job process to stop")
        server.start()
        assert sess.get_job_status(waiting) == "SUBMITTED"
        assert sess.get_job_status(done) == "FINISHED:COMPLETED"
        assert sess.get_job_status(running) == "FINISHED:ABANDONED"
        assert {row["job_id"] for row in sess.list_jobs()} == {waiting, done, running}
        # Scale 7, finding 7: the abandoned job's workspace is archived (its log up to the kill),
        # its models in flight are gone, and its errors say so. Finding 4: leftovers are tidied.
        meta = wait_until(lambda: (m := sess.get_job_meta(running)).get("job_errors") and m, 30,
                          "the abandoned job's workspace to be archived")
        assert "the server stopped while the job was running" in meta["job_errors"]["server"][0]
        result = Path(sess.download_job_result(running, str(tmp_path / "dl")))
        assert f"job {running}: server app started" in (result / "workspace" / "log.txt").read_text()
        assert not (result / "workspace" / ".transfer").exists()
        wait_until(lambda: not any(path.exists() for path in leftovers), 30, "the leftovers to be removed")
        for job in (done, running):
            assert [p.name for p in (project.server_kit / job).iterdir()] == ["log.txt"]
        assert "job_errors" not in sess.get_job_meta(done)


def _leave_leftovers(server_kit: Path, done: str, running: str) -> list[Path]:
    """What an older server, or a kill, leaves: a model in flight, a finished job's folder still
    whole, a deleted job's folder. The paths that must go at the next start."""
    relay = server_kit / running / ".transfer" / "task-1.model.relay"
    relay.write_bytes(b"\0" * 1000)
    (server_kit / done / "models").mkdir()
    (server_kit / done / "models" / "final_model.npz").write_bytes(b"x" * 1000)
    deleted = server_kit / "0b7e6a53-5a2f-4b67-9d54-08cb1f4d2a1e"
    (deleted / "models").mkdir(parents=True)
    (deleted / "log.txt").write_text("a deleted job's log\n")
    return [relay, server_kit / done / "models", deleted]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_server_refuses_second_instance_on_same_port(served: Served) -> None:
    project = served.project
    second = ServerProcess(project.server_kit)
    second.stderr_path = project.server_kit / "second-stderr.txt"
    with pytest.raises(AssertionError, match="exited"):
        second.start(timeout=10)


def test_ca_certificate_as_a_leaf_is_refused(server, project, tmp_path: Path) -> None:
    # A server of its own, as for an expired certificate: its handshake refusal is logged at once.
    kit = tmp_path / "ca-kit"
    shutil.copytree(project.admin_kit, kit)
    ca_cert_path, ca_key_path = root_ca_paths(project.workspace, project.name)
    for name in ("client.crt", "client.key"):
        (kit / "startup" / name).unlink()
    shutil.copy(ca_cert_path, kit / "startup" / "client.crt")
    shutil.copy(ca_key_path, kit / "startup" / "client.key")
    with pytest.raises(AuthenticationError, match="is a CA certificate"):
        new_secure_session(project.name, str(kit), timeout=5)
    # A client that skips its own check is refused by the server, which logs it.
    assert _raw_attempt(kit) == b""
    wait_until(lambda: "unsuitable certificate purpose" in server.stderr
               or "a CA certificate cannot be used" in server.stderr, 5, "the server to log the refusal")


def test_a_kit_s_key_or_certificate_that_cannot_be_used_is_named_before_connecting(project, tmp_path: Path) -> None:
    """fuser10 #5: another kit's client.key, a client.crt or client.key that is no PEM file, and (FLARE) a kit
    without local/: each named with what to do, not OpenSSL's KEY_VALUES_MISMATCH or cryptography's words."""
    from console.api.login import check_own_certificate
    from console.backends.kits import check_flare_kit_folders

    other = make_project(tmp_path / "other", name="other_project")
    startup = project.admin_kit / "startup"
    cases = {
        "another key": ("client.key", (other.admin_kit / "startup" / "client.key").read_bytes(),
                        r"key \S+client\.key does not belong to its certificate \S+client\.crt: the two come from "
                        "different kits or provisionings; use the kit's own pair, or ask the project admin"),
        "damaged key": ("client.key", b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                        r"key \S+client\.key is not a PEM private key .*; ask the project admin for a new kit$"),
        "damaged certificate": ("client.crt", b"not a certificate\n",
                                r"certificate \S+client\.crt is not a PEM certificate .*; ask the project admin"),
    }
    for name, (file, text, said) in cases.items():
        kit = tmp_path / name.replace(" ", "-")
        shutil.copytree(project.admin_kit, kit)
        (kit / "startup" / file).write_bytes(text)
        with pytest.raises(AuthenticationError, match=rf"^this kit's {said}"):
            new_secure_session(ADMIN, str(kit), timeout=5)
        with pytest.raises(AuthenticationError, match=rf"^this kit's {said}"):  # FLARE's kits: the same check
            check_own_certificate(kit / "startup" / "client.crt", kit / "startup" / "rootCA.pem",
                                  kit / "startup" / "client.key")
    check_own_certificate(startup / "client.crt", startup / "rootCA.pem", startup / "client.key")  # its own pair
    with pytest.raises(AuthenticationError, match=r"^this FLARE admin kit has no local/ folder \(\S+local\), .* "
                       "copy the kit whole as provisioning wrote it, or ask the project admin for a new kit$"):
        check_flare_kit_folders(tmp_path / "another-key")
    (tmp_path / "another-key" / "local").mkdir()
    check_flare_kit_folders(tmp_path / "another-key")
