"""Provisioning: project files, certificates, kits on disk, and mutual TLS with the result."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from console.provision.certs import CertKind, identity_from_peercert, issue_cert, load_cert, make_root_ca
from console.provision.kits import provision, root_ca_paths
from console.provision.project import ProjectFileError, load_project

PROJECT = {
    "name": "example_project",
    "participants": [
        {"name": "server", "type": "server", "org": "example", "fed_learn_port": 18002, "admin_port": 18003},
        {"name": "site-1", "type": "client", "org": "example"},
        {"name": "admin@example.com", "type": "admin", "org": "example", "role": "project_admin"},
        {"name": "lead@example.com", "type": "admin", "org": "example", "role": "lead"},
    ],
}


def write_project(tmp_path: Path, data: dict, name: str = "project.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if name.endswith(".yml") else json.dumps(data))
    return path


def test_provision_writes_flare_kits(tmp_path: Path) -> None:
    prod = provision(write_project(tmp_path, PROJECT), tmp_path / "ws")
    assert prod == tmp_path / "ws" / "example_project" / "prod_00"
    server = prod / "server" / "startup"
    assert {p.name for p in server.iterdir()} >= {"rootCA.pem", "server.crt", "server.key", "fed_server.json",
                                                   "start.sh"}
    assert json.loads((prod / "server" / "local" / "authorization.json").read_text())["permissions"]["member"] == {
        "view": "any"}
    config = json.loads((server / "fed_server.json").read_text())["servers"][0]
    assert (config["identity"], config["host"], config["admin_port"], config["fed_learn_port"]) == (
        "server", "localhost", 18003, 18002)
    site = prod / "site-1" / "startup"
    assert json.loads((site / "fed_client.json").read_text())["client"]["name"] == "site-1"
    admin = json.loads((prod / "admin@example.com" / "startup" / "fed_admin.json").read_text())["admin"]
    for key in ("host", "port", "username", "project_name", "server_identity", "client_cert", "client_key",
                "ca_cert", "upload_dir", "download_dir"):
        assert key in admin
    assert admin["username"] == "admin@example.com" and admin["port"] == 18003
    assert (prod / "admin@example.com" / "transfer").is_dir()
    for key_file in (server / "server.key", site / "client.key", prod / "lead@example.com" / "startup" / "client.key"):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(prod.parent.glob("*.tmp"))


def test_certificates(tmp_path: Path) -> None:
    prod = provision(write_project(tmp_path, PROJECT), tmp_path / "ws")
    root = load_cert(prod / "server" / "startup" / "rootCA.pem")
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    server = load_cert(prod / "server" / "startup" / "server.crt")
    lead = load_cert(prod / "lead@example.com" / "startup" / "client.crt")
    for cert in (server, lead):
        cert.verify_directly_issued_by(root)
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.not_valid_after_utc <= root.not_valid_after_utc
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 361
        assert cert.signature_hash_algorithm.name == "sha256"
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in lead.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"server", "localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert lead.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "lead@example.com"
    assert lead.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "example"
    assert lead.subject.get_attributes_for_oid(NameOID.UNSTRUCTURED_NAME)[0].value == "lead"
    assert not server.subject.get_attributes_for_oid(NameOID.UNSTRUCTURED_NAME)


def test_reprovisioning_keeps_the_root_ca(tmp_path: Path) -> None:
    project_file = write_project(tmp_path, PROJECT)
    first = provision(project_file, tmp_path / "ws")
    second = provision(project_file, tmp_path / "ws")
    assert second.name == "prod_01"
    assert (first / "server" / "startup" / "rootCA.pem").read_bytes() == (
        second / "server" / "startup" / "rootCA.pem").read_bytes()
    old_admin = load_cert(first / "admin@example.com" / "startup" / "client.crt")
    old_admin.verify_directly_issued_by(load_cert(second / "server" / "startup" / "rootCA.pem"))
    ca_cert, ca_key = root_ca_paths(tmp_path / "ws", "example_project")
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600 and ca_cert.is_file()


def test_expired_and_future_certificates_can_be_made() -> None:
    ca, key = make_root_ca("p")
    now = dt.datetime.now(dt.UTC)
    expired, _ = issue_cert(ca, key, cn="x", org="o", kind=CertKind.ADMIN, role="member",
                            not_before=now - dt.timedelta(days=3), not_after=now - dt.timedelta(days=1))
    assert expired.not_valid_after_utc < now


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("name"), "project name"),
    (lambda d: d["participants"].append({"name": "site-1", "type": "client", "org": "x"}), "appears twice"),
    (lambda d: d["participants"].append({"name": "s2", "type": "server", "org": "x"}), "exactly one server"),
    (lambda d: d["participants"].append({"name": "x", "type": "robot", "org": "x"}), "type must be"),
    (lambda d: d["participants"].append({"name": "x", "type": "admin", "org": "x"}), "role must be"),
    (lambda d: d["participants"].append({"name": "x", "type": "admin", "org": "x", "role": "boss"}), "role must be"),
    (lambda d: d["participants"][0].update(admin_port=70000), "admin_port must be"),
    (lambda d: d["participants"][0].update(admin_port=18002), "must differ"),
    (lambda d: d["participants"].append({"name": "../evil", "type": "client", "org": "x"}), "name '../evil'"),
    (lambda d: d["participants"].append({"name": "y", "type": "client"}), "org is required"),
    (lambda d: d.update(participants=[]), "non-empty list"),
])
def test_project_file_errors_name_the_problem(tmp_path: Path, change, message: str) -> None:
    data = json.loads(json.dumps(PROJECT))
    change(data)
    with pytest.raises(ProjectFileError, match=message):
        load_project(write_project(tmp_path, data))


def test_project_file_formats_and_missing_files(tmp_path: Path) -> None:
    assert load_project(write_project(tmp_path, PROJECT, "p.json")).server.admin_port == 18003
    with pytest.raises(ProjectFileError, match="does not exist"):
        load_project(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ProjectFileError, match="cannot be parsed"):
        load_project(bad)
    defaults = json.loads(json.dumps(PROJECT))
    defaults["participants"][0] = {"name": "server", "type": "server", "org": "example"}
    server = load_project(write_project(tmp_path, defaults)).server
    assert (server.host, server.fed_learn_port, server.admin_port) == ("localhost", 8002, 8003)


def test_kits_authenticate_each_other_over_mutual_tls(tmp_path: Path) -> None:
    prod = provision(write_project(tmp_path, PROJECT), tmp_path / "ws")
    s, a = prod / "server" / "startup", prod / "lead@example.com" / "startup"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(s / "server.crt", s / "server.key")
    server_ctx.load_verify_locations(s / "rootCA.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(a / "client.crt", a / "client.key")
    client_ctx.load_verify_locations(a / "rootCA.pem")
    seen = {}
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = identity_from_peercert(tls.getpeercert())
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    with socket.create_connection(listener.getsockname()) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="server") as tls:
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()
    assert (seen["peer"].cn, seen["peer"].org, seen["peer"].role) == ("lead@example.com", "example", "lead")
