"""Provisioning on real files: project files, the root CA and certificates, kits, and mTLS with them."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from console.provision.certs import (
    CertIdentity,
    CertKind,
    cert_identity,
    identity_from_peercert,
    issue_cert,
    load_cert,
    load_key,
    make_root_ca,
    write_pem_cert,
    write_pem_key,
)
from console.provision.kits import ProvisionError, provision, root_ca_paths
from console.provision.policy import DEFAULT_POLICY, write_default_policy
from console.provision.project import ParticipantType, ProjectFileError, load_project

PROJECT: dict[str, Any] = {
    "name": "example_project",
    "participants": [
        {"name": "server", "type": "server", "org": "example", "fed_learn_port": 18002, "admin_port": 18003},
        {"name": "site-1", "type": "client", "org": "example"},
        {"name": "site-2", "type": "client", "org": "other"},
        {"name": "admin@example.com", "type": "admin", "org": "example", "role": "project_admin"},
        {"name": "lead@example.com", "type": "admin", "org": "example", "role": "lead"},
    ],
}


def write_project(directory: Path, data: dict[str, Any], name: str = "project.yml") -> Path:
    path = directory / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data))
    return path


def project_data() -> dict[str, Any]:
    return copy.deepcopy(PROJECT)


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One provisioned project shared by the read-only checks (RSA key generation is slow)."""
    root = tmp_path_factory.mktemp("prov")
    return provision(write_project(root, PROJECT), root / "ws")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


# ---------------------------------------------------------------- project files


@pytest.mark.parametrize("name", ["project.yml", "project.yaml", "project.json"])
def test_project_file_formats(tmp_path: Path, name: str) -> None:
    project = load_project(write_project(tmp_path, PROJECT, name))
    assert project.name == "example_project"
    assert project.server.name == "server" and project.server.type is ParticipantType.SERVER
    assert (project.server.host, project.server.fed_learn_port, project.server.admin_port) == (
        "localhost", 18002, 18003)
    assert [c.name for c in project.clients] == ["site-1", "site-2"]
    assert [(a.name, a.role) for a in project.admins] == [("admin@example.com", "project_admin"),
                                                          ("lead@example.com", "lead")]
    assert all(c.role is None for c in project.clients) and project.server.role is None


def test_project_file_defaults_and_roles(tmp_path: Path) -> None:
    data = project_data()
    data["participants"][0] = {"name": "server", "type": "server", "org": "example"}
    data["participants"] += [{"name": f"{role}@x.org", "type": "admin", "org": "x", "role": role}
                             for role in ("org_admin", "member")]
    project = load_project(write_project(tmp_path, data))
    assert (project.server.host, project.server.fed_learn_port, project.server.admin_port) == (
        "localhost", 8002, 8003)
    assert {a.role for a in project.admins} == {"project_admin", "lead", "org_admin", "member"}


def _add(participant: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["participants"].append(participant)


def _server(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["participants"][0].update(changes)


def _site_named_server(data: dict[str, Any]) -> None:
    data["participants"][0]["name"] = "fl.example.com"
    data["participants"][1]["name"] = "server"


@pytest.mark.parametrize("change, fragments", [
    (lambda d: d.pop("name"), ["project name is missing"]),
    (lambda d: d.update(name="../up"), ["project name '../up'", "letters, digits"]),
    (lambda d: d.update(name=""), ["project name ''"]),
    (lambda d: d.update(participants=[]), ["non-empty list"]),
    (lambda d: d.pop("participants"), ["non-empty list"]),
    (_add("site-9"), ["participant #6", "must be a mapping"]),
    (_add({"type": "client", "org": "x"}), ["participant #6", "name is missing"]),
    (_add({"name": "../evil", "type": "client", "org": "x"}), ["name '../evil'", "cannot be a folder name"]),
    (_add({"name": ".hidden", "type": "client", "org": "x"}), ["name '.hidden'"]),
    (_add({"name": "a/b", "type": "client", "org": "x"}), ["name 'a/b'"]),
    (_add({"name": "a b", "type": "client", "org": "x"}), ["name 'a b'"]),
    (_add({"name": 7, "type": "client", "org": "x"}), ["name 7"]),
    (_add({"name": "project.yml", "type": "client", "org": "x"}), ["'project.yml'", "reserved"]),
    # Finding 9: what a certificate cannot hold, and the console's target words as site names.
    (_add({"name": "s" * 65, "type": "client", "org": "x"}), ["'ssss", "65 characters long", "at most 64"]),
    (_add({"name": "a" * 60 + "@x.org", "type": "admin", "org": "x", "role": "lead"}), ["66 characters long"]),
    (_add({"name": "s" * 300, "type": "client", "org": "x"}), ["300 characters long", "CN"]),
    (_server(name="s" * 65), ["65 characters long"]),
    (_add({"name": "y", "type": "client", "org": "o" * 65}), ["participant 'y'", "org must be printable text of "
                                                               "at most 64"]),
    (_add({"name": "y", "type": "client", "org": "evil\x1b[2J"}), ["org must be printable", "\\x1b"]),
    (_add({"name": "all", "type": "client", "org": "x"}), ["a site cannot be named 'all'", "ls server"]),
    (_add({"name": "Client", "type": "client", "org": "x"}), ["a site cannot be named 'Client'"]),
    (_site_named_server, ["participant 'server'", "a site cannot be named 'server'"]),
    (_add({"name": "site-1", "type": "client", "org": "x"}), ["'site-1' appears twice", "unique"]),
    (_add({"name": "s2", "type": "server", "org": "x"}), ["exactly one server", "found 2", "'s2'"]),
    (lambda d: d["participants"].pop(0), ["exactly one server", "found none"]),
    (_add({"name": "x", "org": "x"}), ["participant 'x'", "type must be"]),
    (_add({"name": "x", "type": "ro bot", "org": "x"}), ["participant 'x'", "type must be server, client or admin",
                                                          "'ro bot'"]),
    (_add({"name": "x@y.org", "type": "admin", "org": "x", "role": "the boss"}), ["role must be one of",
                                                                                "'the boss'"]),
    (_server(admin_port=65535, fed_learn_port=65535), ["both 65535"]),
    (_add({"name": "x", "type": "admin", "org": "x"}), ["participant 'x'", "role must be one of", "None"]),
    (_add({"name": "y", "type": "client"}), ["participant 'y'", "org is required"]),
    (_server(admin_port=70000), ["participant 'server'", "admin_port must be an integer port 1..65535", "70000"]),
    (_server(fed_learn_port=0), ["fed_learn_port must be"]),
    (_server(fed_learn_port="8002"), ["fed_learn_port must be", "'8002'"]),
    (_server(admin_port=True), ["admin_port must be"]),
    (_server(host="bad host!"), ["host must be a DNS name or IP address"]),
    (_server(host=""), ["host must be"]),
])
def test_project_file_errors_name_the_problem(tmp_path: Path, change: Callable[[dict[str, Any]], None],
                                              fragments: list[str]) -> None:
    data = project_data()
    change(data)
    path = write_project(tmp_path, data)
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_a_name_no_certificate_holds_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Finding 9: a 65-character name stopped provisioning with cryptography's traceback after the
    root CA was written; now the project file is refused first and the workspace stays empty."""
    data = project_data()
    data["participants"][1]["name"] = "s" * 65
    with pytest.raises(ProjectFileError, match="65 characters long"):
        provision(write_project(tmp_path, data), tmp_path / "ws")
    assert not (tmp_path / "ws").exists()


def test_every_project_file_flare_accepts_is_provisioned(tmp_path: Path) -> None:
    """FLARE 2.9's provisioning (nvflare/lighter) accepts all of this; ours provisions it and names,
    in a warning, each thing it does not do."""
    data = {
        "api_version": 3, "name": "flare project " + "x" * 60, "description": "FLARE's sample shape",
        "participants": [
            {"name": "server1.example.com", "type": "server", "org": "nvidia", "fed_learn_port": 18102,
             "admin_port": 18102},
            {"name": "_site_1", "type": "client", "org": "nvidia", "role": "lead", "admin_port": 9},
            {"name": "Site-2", "type": "client", "org": "nvidia"},
            {"name": "site-2", "type": "client", "org": "nvidia"},
            {"name": "relay-1", "type": "relay", "org": "nvidia"},
            {"name": "overseer", "type": "overseer", "org": "nvidia"},
            {"name": "first.last+flare@nvidia.com", "type": "admin", "org": "nvidia", "role": "project_admin"},
            {"name": "auditor@nvidia.com", "type": "admin", "org": "nvidia", "role": "auditor"},
        ],
        "builders": [{"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {}}],
    }
    heard: list[str] = []
    prod_dir = provision(write_project(tmp_path, data), tmp_path / "ws", heard.append)
    assert prod_dir.parent.name == "flare project " + "x" * 49  # FLARE's 63 characters
    kits = sorted(p.name for p in prod_dir.iterdir() if p.is_dir())
    assert kits == sorted(["server1.example.com", "_site_1", "Site-2", "site-2", "first.last+flare@nvidia.com",
                           "auditor@nvidia.com"])
    server = read_json(prod_dir / "server1.example.com" / "startup" / "fed_server.json")
    assert json.dumps(server).count("18102") and json.dumps(server).count("18103")  # one port: ours adds one
    warned = "\n".join(heard)
    for fragment in ("cut to", "'relay-1' skipped", "'overseer' skipped", "custom role 'auditor'",
                     "role 'lead' ignored", "admin_port ignored", "differ only in case", "builders ignored",
                     "single-port", "add host: server1.example.com"):
        assert fragment in warned, fragment
    assert cert_identity(load_cert(prod_dir / "_site_1" / "startup" / "client.crt")).role is None


def test_project_file_unreadable_or_unparsable(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="does not exist"):
        load_project(tmp_path / "nope.yml")
    with pytest.raises(ProjectFileError, match="is a folder"):
        load_project(tmp_path)
    bad_yaml = tmp_path / "bad.yml"
    bad_yaml.write_text("name: [unclosed")
    with pytest.raises(ProjectFileError, match="bad.yml cannot be parsed"):
        load_project(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'name': 1")
    with pytest.raises(ProjectFileError, match="bad.json cannot be parsed"):
        load_project(bad_json)
    listing = tmp_path / "list.yml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ProjectFileError, match="must hold a mapping"):
        load_project(listing)


def test_server_host_may_be_a_name_or_an_address(tmp_path: Path) -> None:
    for host in ("fl.example.org", "10.1.2.3", "::1"):
        data = project_data()
        data["participants"][0]["host"] = host
        assert load_project(write_project(tmp_path, data)).server.host == host


# ---------------------------------------------------------------- certificates


@pytest.fixture(scope="module")
def root() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    return make_root_ca("example_project")


def test_root_ca(root: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    cert, key = root
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "example_project"
    assert key.key_size >= 2048 and cert.signature_hash_algorithm.name == "sha256"
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert.verify_directly_issued_by(cert)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3650


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(kind)


def test_leaf_certificates(root: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    ca, ca_key = root
    server, _ = issue_cert(ca, ca_key, cn="server", org="example", kind=CertKind.SERVER,
                           sans=["fl.example.org", "10.0.0.5"])
    site, _ = issue_cert(ca, ca_key, cn="site-1", org="example", kind=CertKind.CLIENT)
    admin, admin_key = issue_cert(ca, ca_key, cn="lead@example.com", org="example", kind=CertKind.ADMIN,
                                  role="lead")
    for cert in (server, site, admin):
        cert.verify_directly_issued_by(ca)
        assert cert.signature_hash_algorithm.name == "sha256"
        basic = _ext(cert, x509.BasicConstraints)
        assert basic.critical and not basic.value.ca
        usage = _ext(cert, x509.KeyUsage).value
        assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
        assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == \
            _ext(ca, x509.SubjectKeyIdentifier).value.digest
        assert cert.not_valid_after_utc <= ca.not_valid_after_utc
        assert 359 <= (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days <= 360
    assert cert_identity(server) == CertIdentity("server", "example", None)
    assert cert_identity(site) == CertIdentity("site-1", "example", None)
    assert cert_identity(admin) == CertIdentity("lead@example.com", "example", "lead")
    assert admin.subject.get_attributes_for_oid(NameOID.UNSTRUCTURED_NAME)[0].value == "lead"
    assert list(_ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert list(_ext(site, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert list(_ext(admin, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server_sans = _ext(server, x509.SubjectAlternativeName).value
    assert server_sans.get_values_for_type(x509.DNSName) == ["server", "fl.example.org", "localhost"]
    assert set(server_sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("10.0.0.5", "127.0.0.1", "::1")}
    assert _ext(site, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["site-1"]
    assert _ext(admin, x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name) == [
        "lead@example.com"]
    assert admin_key.public_key() == admin.public_key()


def test_validity_is_clipped_to_the_root() -> None:
    ca, ca_key = make_root_ca("short", valid_days=30)
    cert, _ = issue_cert(ca, ca_key, cn="site-1", org="o", kind=CertKind.CLIENT)
    assert cert.not_valid_after_utc == ca.not_valid_after_utc
    late = ca.not_valid_after_utc + dt.timedelta(days=100)
    cert, _ = issue_cert(ca, ca_key, cn="site-1", org="o", kind=CertKind.CLIENT, not_after=late)
    assert cert.not_valid_after_utc == ca.not_valid_after_utc


def test_expired_and_not_yet_valid_certificates_can_be_made(
        root: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    ca, ca_key = root
    now = dt.datetime.now(dt.UTC)
    expired, _ = issue_cert(ca, ca_key, cn="a@x.org", org="o", kind=CertKind.ADMIN, role="member",
                            not_before=now - dt.timedelta(days=3), not_after=now - dt.timedelta(days=1))
    assert expired.not_valid_after_utc < now
    future, _ = issue_cert(ca, ca_key, cn="site-1", org="o", kind=CertKind.CLIENT,
                           not_before=now + dt.timedelta(days=2))
    assert future.not_valid_before_utc > now
    expired.verify_directly_issued_by(ca)


def test_issue_cert_refuses_inconsistent_requests(root: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    ca, ca_key = root
    with pytest.raises(ValueError, match="needs a role"):
        issue_cert(ca, ca_key, cn="a@x.org", org="o", kind=CertKind.ADMIN)
    with pytest.raises(ValueError, match="only admin certificates carry a role"):
        issue_cert(ca, ca_key, cn="site-1", org="o", kind=CertKind.CLIENT, role="lead")
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(ValueError, match="nothing to issue"):
        issue_cert(ca, ca_key, cn="site-1", org="o", kind=CertKind.CLIENT, not_before=now, not_after=now)


def test_pem_files(tmp_path: Path, root: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> None:
    ca, ca_key = root
    old_umask = os.umask(0)
    try:
        write_pem_key(tmp_path / "fresh.key", ca_key)
        stale = tmp_path / "stale.key"
        stale.write_text("old")
        stale.chmod(0o644)
        write_pem_key(stale, ca_key)
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "fresh.key") == 0o600 and mode(stale) == 0o600
    assert b"BEGIN PRIVATE KEY" in stale.read_bytes()
    assert load_key(stale).private_numbers() == ca_key.private_numbers()
    (tmp_path / "link.key").symlink_to(tmp_path / "elsewhere.key")
    with pytest.raises(OSError):
        write_pem_key(tmp_path / "link.key", ca_key)
    assert not (tmp_path / "elsewhere.key").exists()
    write_pem_cert(str(tmp_path / "ca.pem"), ca)
    assert load_cert(tmp_path / "ca.pem") == ca


def test_identity_from_peercert_shapes() -> None:
    peer = {"subject": ((("commonName", "x"),), (("organizationName", "o"),), (("unstructuredName", "lead"),))}
    assert identity_from_peercert(peer) == CertIdentity("x", "o", "lead")
    assert identity_from_peercert({"subject": ((("commonName", "s"),),)}) == CertIdentity("s", "", None)
    assert identity_from_peercert({}) == CertIdentity("", "", None)


# ---------------------------------------------------------------- kits


def test_kit_layout_and_configs(prod: Path) -> None:
    assert prod.name == "prod_00" and prod.parent.name == "example_project"
    assert sorted(p.name for p in prod.iterdir()) == sorted(
        [p["name"] for p in PROJECT["participants"]] + ["project.yml"])
    assert yaml.safe_load((prod / "project.yml").read_text()) == PROJECT

    server = prod / "server" / "startup"
    assert sorted(p.name for p in server.iterdir()) == [
        "crl.pem", "fed_server.json", "rootCA.pem", "server.crt", "server.key", "sites.json", "start.sh"]
    # Every site and its org: rights scoped to a site's org hold while it is away (site_directory.py).
    assert read_json(server / "sites.json") == {"sites": {
        p["name"]: p["org"] for p in PROJECT["participants"] if p["type"] == "client"}}
    assert read_json(server / "fed_server.json") == {
        "format_version": 2, "project_name": "example_project", "servers": [{
            "name": "example_project", "identity": "server", "org": "example", "host": "localhost",
            "fed_learn_port": 18002, "admin_port": 18003, "service": {"target": "localhost:18002"},
            "admin_host": "localhost", "ssl_cert": "server.crt", "ssl_private_key": "server.key",
            "ssl_root_cert": "rootCA.pem", "max_jobs": 4}]}
    policy_file = prod / "server" / "local" / "authorization.json"
    assert read_json(policy_file) == DEFAULT_POLICY
    assert policy_file.read_text() == json.dumps(DEFAULT_POLICY, indent=2) + "\n"

    site = prod / "site-2" / "startup"
    assert sorted(p.name for p in site.iterdir()) == [
        "client.crt", "client.key", "crl.pem", "fed_client.json", "rootCA.pem", "start.sh"]
    assert read_json(site / "fed_client.json") == {
        "format_version": 2, "project_name": "example_project",
        "client": {"name": "site-2", "org": "other", "ssl_cert": "client.crt", "ssl_private_key": "client.key",
                   "ssl_root_cert": "rootCA.pem"},
        "servers": [{"name": "example_project", "identity": "server", "host": "localhost",
                     "fed_learn_port": 18002, "service": {"target": "localhost:18002"}}]}

    admin_dir = prod / "lead@example.com"
    assert sorted(p.name for p in admin_dir.iterdir()) == ["startup", "transfer"]
    assert not list((admin_dir / "transfer").iterdir())
    assert sorted(p.name for p in (admin_dir / "startup").iterdir()) == [
        "client.crt", "client.key", "crl.pem", "fed_admin.json", "fl_admin.sh", "rootCA.pem"]
    assert read_json(admin_dir / "startup" / "fed_admin.json") == {"format_version": 1, "admin": {
        "host": "localhost", "port": 18003, "username": "lead@example.com", "project_name": "example_project",
        "server_identity": "server", "client_cert": "client.crt", "client_key": "client.key",
        "ca_cert": "rootCA.pem", "upload_dir": "transfer", "download_dir": "transfer", "with_ssl": True,
        "cred_type": "cert", "org": "example", "role": "lead"}}


def test_kit_keys_are_private_and_certs_match(prod: Path) -> None:
    root = load_cert(prod / "server" / "startup" / "rootCA.pem")
    pairs = {"server": "server", "site-1": "client", "site-2": "client", "admin@example.com": "client",
             "lead@example.com": "client"}
    for name, stem in pairs.items():
        startup = prod / name / "startup"
        assert mode(startup / f"{stem}.key") == 0o600
        cert = load_cert(startup / f"{stem}.crt")
        cert.verify_directly_issued_by(root)
        assert load_key(startup / f"{stem}.key").public_key() == cert.public_key()
        assert cert_identity(cert).cn == name
        assert (startup / "rootCA.pem").read_bytes() == (prod / "server" / "startup" / "rootCA.pem").read_bytes()
    assert cert_identity(load_cert(prod / "site-2" / "startup" / "client.crt")) == CertIdentity("site-2", "other")
    assert cert_identity(load_cert(prod / "admin@example.com" / "startup" / "client.crt")).role == "project_admin"
    ca_cert, ca_key = root_ca_paths(prod.parent.parent, "example_project")
    assert load_cert(ca_cert) == root and mode(ca_key) == 0o600
    assert not list(prod.parent.glob("*.tmp"))
    # The folder of every kit (keys, policies) is the provisioner's only, whatever the umask (session 11, item 1).
    assert mode(prod) == 0o700 and mode(ca_key.parent) == 0o700


def test_start_scripts_find_their_kit_and_console_wherever_they_are(prod: Path, tmp_path: Path) -> None:
    """The kits' scripts run the console that provisioned them with flare-console not on PATH (``make install``
    leaves it in .venv/bin), pass their arguments on, and on a machine without that Python use PATH's."""
    moved = tmp_path / "moved kits"
    shutil.copytree(prod, moved)
    scripts = [("server", "start.sh", ["server"]), ("site-1", "start.sh", ["site"]),
               ("lead@example.com", "fl_admin.sh", ["--kit"])]
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}  # no flare-console on it
    assert shutil.which("flare-console", path=bare["PATH"]) is None
    admin = moved / "lead@example.com" / "startup" / "fl_admin.sh"
    out = subprocess.run([str(admin), "--version"], env=bare, capture_output=True, text=True, cwd="/", timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("flare-console "), out
    # Copied to a machine where the provisioning Python is not: a stand-in flare-console on PATH that prints
    # its arguments; the participant folder is resolved from the script's own location (a moved copy).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "flare-console"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    elsewhere = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}
    for folder, script, args in scripts:
        path = moved / folder / "startup" / script
        assert mode(path) & stat.S_IXUSR
        text = path.read_text()
        path.write_text(re.sub(r"(?m)^PYTHON=.*$", f"PYTHON={tmp_path}/gone/bin/python", text))
        out = subprocess.run([str(path), "-x", "two words"], env=elsewhere, capture_output=True, text=True,
                             check=True, cwd="/", timeout=60)
        assert out.stdout.splitlines() == [*args, str(moved / folder), "-x", "two words"]
        missing = subprocess.run([str(path)], env=bare, capture_output=True, text=True, cwd="/", timeout=60)
        assert missing.returncode == 127 and f"{script}: flare-console not found" in missing.stderr, missing


def test_reprovisioning_keeps_the_root_ca(tmp_path: Path) -> None:
    project_file = write_project(tmp_path, PROJECT)
    first = provision(project_file, tmp_path / "ws")
    second = provision(project_file, tmp_path / "ws")
    assert (first.name, second.name) == ("prod_00", "prod_01")
    new_root = load_cert(second / "server" / "startup" / "rootCA.pem")
    assert (first / "server" / "startup" / "rootCA.pem").read_bytes() == (
        second / "server" / "startup" / "rootCA.pem").read_bytes()
    for old in ("server/startup/server.crt", "site-1/startup/client.crt", "admin@example.com/startup/client.crt"):
        load_cert(first / old).verify_directly_issued_by(new_root)
    # New keys each run: a leaked prod_00 key does not unlock prod_01.
    assert (first / "site-1" / "startup" / "client.key").read_bytes() != (
        second / "site-1" / "startup" / "client.key").read_bytes()
    (tmp_path / "ws" / "example_project" / "prod_07").mkdir()
    assert provision(project_file, tmp_path / "ws").name == "prod_08"


def test_extra_certs_signed_with_the_kept_root_verify(prod: Path) -> None:
    ca_cert, ca_key = root_ca_paths(prod.parent.parent, "example_project")
    cert, _ = issue_cert(load_cert(ca_cert), load_key(ca_key), cn="x@example.com", org="example",
                         kind=CertKind.ADMIN, role="member")
    cert.verify_directly_issued_by(load_cert(prod / "site-1" / "startup" / "rootCA.pem"))


def test_failed_run_leaves_no_prod_folder(tmp_path: Path) -> None:
    project_file = write_project(tmp_path, PROJECT)
    project_dir = tmp_path / "ws" / "example_project"
    project_dir.mkdir(parents=True)
    # A stale build from a run that died is discarded, not mistaken for a kit.
    (project_dir / "prod_00.tmp" / "junk").mkdir(parents=True)
    # A plain file named like the next prod folder makes the final rename fail.
    (project_dir / "prod_00").write_text("in the way")
    with pytest.raises(ProvisionError, match="cannot write startup kits"):
        provision(project_file, tmp_path / "ws")
    assert sorted(p.name for p in project_dir.iterdir()) == ["prod_00", "state"]
    assert (project_dir / "prod_00").is_file()
    with pytest.raises(ProjectFileError):
        provision(tmp_path / "missing.yml", tmp_path / "ws")
    (project_dir / "prod_00").unlink()
    assert provision(project_file, tmp_path / "ws").name == "prod_00"


def test_root_ca_state_problems(tmp_path: Path) -> None:
    project_file = write_project(tmp_path, PROJECT)
    ca_cert, ca_key = root_ca_paths(tmp_path / "ws", "example_project")
    ca_key.parent.mkdir(parents=True)
    ca_key.write_text("half-written key from a run that died before the certificate")
    provision(project_file, tmp_path / "ws")
    assert ca_cert.is_file() and load_key(ca_key).public_key() == load_cert(ca_cert).public_key()
    ca_key.unlink()
    with pytest.raises(ProvisionError, match="rootCA.key is missing"):
        provision(project_file, tmp_path / "ws")
    write_pem_key(ca_key, make_root_ca("other")[1])
    with pytest.raises(ProvisionError, match="does not belong"):
        provision(project_file, tmp_path / "ws")
    assert [p.name for p in ca_cert.parent.parent.glob("prod_*")] == ["prod_00"]


def test_json_project_and_custom_server_host(tmp_path: Path) -> None:
    data = project_data()
    data["participants"][0]["host"] = "fl.example.org"
    prod = provision(write_project(tmp_path, data, "p.json"), tmp_path / "ws")
    assert read_json(prod / "project.yml") == data
    server = load_cert(prod / "server" / "startup" / "server.crt")
    names = _ext(server, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert {"server", "fl.example.org", "localhost"} <= set(names)
    admin = read_json(prod / "admin@example.com" / "startup" / "fed_admin.json")["admin"]
    assert admin["host"] == "fl.example.org"
    assert read_json(prod / "site-1" / "startup" / "fed_client.json")["servers"][0]["service"] == {
        "target": "fl.example.org:18002"}


def test_write_default_policy(tmp_path: Path) -> None:
    write_default_policy(tmp_path / "a" / "authorization.json")
    assert read_json(tmp_path / "a" / "authorization.json") == DEFAULT_POLICY
    assert DEFAULT_POLICY["permissions"]["project_admin"] == "any"
    assert DEFAULT_POLICY["permissions"]["member"] == {"view": "any"}
    assert DEFAULT_POLICY["permissions"]["lead"]["clone_job"] == "n:submitter"
    assert DEFAULT_POLICY["permissions"]["org_admin"]["manage_job"] == "o:submitter"


# ---------------------------------------------------------------- mutual TLS with the kits


def _server_context(startup: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(startup / "server.crt", startup / "server.key")
    ctx.load_verify_locations(startup / "rootCA.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _client_context(startup: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(cert or startup / "client.crt", key or startup / "client.key")
    ctx.load_verify_locations(startup / "rootCA.pem")
    return ctx


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext,
               server_hostname: str = "server") -> tuple[CertIdentity, CertIdentity]:
    """Both ends over a socketpair; returns (client seen by server, server seen by client).

    A refusal raises the server side's error when the server refused, else the client's.
    """
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(10)
    client_sock.settimeout(10)
    result: dict[str, Any] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(server_sock, server_side=True) as tls:
                result["peer"] = identity_from_peercert(tls.getpeercert())
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            result["server_error"] = exc
        finally:
            server_sock.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(client_sock, server_hostname=server_hostname) as tls:
            result["server"] = identity_from_peercert(tls.getpeercert())
            # With TLS 1.3 the server checks the client certificate after the client's side of
            # the handshake is done; reading is what surfaces a refusal.
            if tls.recv(2) != b"ok":
                raise ConnectionError("server closed the connection")
    except (ssl.SSLError, OSError) as exc:
        result["client_error"] = exc
    finally:
        client_sock.close()
        thread.join(10)
    if "server_error" in result or "client_error" in result:
        raise result.get("server_error") or result["client_error"]
    return result["peer"], result["server"]


@pytest.mark.parametrize("participant, identity", [
    ("lead@example.com", CertIdentity("lead@example.com", "example", "lead")),
    ("admin@example.com", CertIdentity("admin@example.com", "example", "project_admin")),
    ("site-2", CertIdentity("site-2", "other", None)),
])
def test_kits_authenticate_each_other_over_mutual_tls(prod: Path, participant: str,
                                                      identity: CertIdentity) -> None:
    server_ctx = _server_context(prod / "server" / "startup")
    peer, server = _handshake(server_ctx, _client_context(prod / participant / "startup"))
    assert peer == identity
    assert server == CertIdentity("server", "example", None)


def test_server_is_reachable_by_loopback_names(prod: Path) -> None:
    server_ctx = _server_context(prod / "server" / "startup")
    for hostname in ("localhost", "127.0.0.1"):
        peer, _ = _handshake(server_ctx, _client_context(prod / "site-1" / "startup"), hostname)
        assert peer.cn == "site-1"


def test_foreign_and_expired_certificates_are_refused(prod: Path, tmp_path: Path) -> None:
    server_ctx = _server_context(prod / "server" / "startup")
    startup = prod / "site-1" / "startup"
    foreign_ca, foreign_key = make_root_ca("example_project")
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = root_ca_paths(prod.parent.parent, "example_project")
    cases = {
        "foreign": issue_cert(foreign_ca, foreign_key, cn="site-1", org="example", kind=CertKind.CLIENT),
        "expired": issue_cert(load_cert(ca_cert), load_key(ca_key), cn="site-1", org="example",
                              kind=CertKind.CLIENT, not_before=now - dt.timedelta(days=3),
                              not_after=now - dt.timedelta(days=1)),
    }
    for name, (cert, key) in cases.items():
        write_pem_cert(tmp_path / f"{name}.crt", cert)
        write_pem_key(tmp_path / f"{name}.key", key)
        client_ctx = _client_context(startup, tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
        # The server is the side that refuses (and would log it), for the right reason.
        reason = "unable to get local issuer" if name == "foreign" else "certificate has expired"
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            _handshake(server_ctx, client_ctx)
