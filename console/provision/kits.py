"""Writing startup kits: ``WORKSPACE/<project>/prod_NN/<participant>/startup/``.

Each run writes a new ``prod_NN`` (built as ``prod_NN.tmp`` and renamed when complete, so a
failed run leaves no half kit) and reuses the root CA kept in ``WORKSPACE/<project>/state/``,
so kits from earlier runs stay valid. File names and JSON keys are FLARE's.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from console.invocation import kit_script
from console.local_paths import is_local_path_error, path_problem
from console.provision.certs import (
    CertKind,
    PrivateKey,
    issue_cert,
    load_cert,
    load_key,
    make_root_ca,
    write_pem_cert,
    write_pem_key,
)
from console.provision.policy import write_default_policy
from console.provision.project import Participant, ParticipantType, Project, ProjectFileError, load_project
from console.provision.revocation import Ledger
from console.wire.tls import CRL_FILE

MAX_JOBS = 4
PROJECT_COPY = "project.yml"
#: In the server's startup/: every site of the project and its org, ``{"sites": {name: org}}``. The
#: server needs a site's org for rights scoped to it also while the site is not connected.
KIT_SITES_FILE = "sites.json"
_PROD = re.compile(r"^prod_(\d+)$")
_EXECUTABLE = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


class ProvisionError(ProjectFileError):
    """The workspace cannot take a new kit (broken CA state, unwritable folder).

    A ProjectFileError so that callers reporting project-file problems report these too.
    """


def root_ca_paths(workspace: str | Path, project_name: str) -> tuple[Path, Path]:
    """(certificate, key) of the project's root CA; tests sign extra certificates with them."""
    state = Path(workspace) / project_name / "state"
    return state / "rootCA.pem", state / "rootCA.key"


@contextmanager
def _locked(state: Path) -> Iterator[None]:
    # Two runs at once would pick the same prod_NN and one would delete the other's .tmp build.
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "provision.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _root_ca(workspace: Path, project_name: str) -> tuple[x509.Certificate, PrivateKey]:
    cert_path, key_path = root_ca_paths(workspace, project_name)
    # The certificate is written last, so it marks a complete CA: a key without it was never
    # used to sign anything and may be replaced; a certificate without its key is a real loss.
    if cert_path.is_file():
        if not key_path.is_file():
            raise ProvisionError(
                f"{cert_path} exists but {key_path} is missing; restore the key to keep existing kits valid, "
                f"or delete {cert_path.parent} to start a new root CA (all earlier kits stop working)"
            )
        try:
            cert, key = load_cert(cert_path), load_key(key_path)
        except (ValueError, TypeError) as exc:
            raise ProvisionError(f"the root CA in {cert_path.parent} cannot be read ({exc}); restore it") from None
        if cert.public_key() != key.public_key():
            raise ProvisionError(f"{key_path} does not belong to {cert_path}; restore the matching pair")
        return cert, key
    os.chmod(cert_path.parent, stat.S_IRWXU)
    cert, key = make_root_ca(project_name)
    key_tmp, cert_tmp = key_path.with_suffix(".key.tmp"), cert_path.with_suffix(".pem.tmp")
    write_pem_key(key_tmp, key)
    write_pem_cert(cert_tmp, cert)
    key_tmp.replace(key_path)
    cert_tmp.replace(cert_path)
    return cert, key


def _next_prod(project_dir: Path) -> Path:
    numbers = [int(m.group(1)) for p in project_dir.iterdir() if (m := _PROD.match(p.name)) and p.is_dir()]
    return project_dir / f"prod_{max(numbers, default=-1) + 1:02d}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _write_script(path: Path, part_args: str) -> None:
    # The kit may be moved or copied to another machine: locate the participant folder from
    # the script's own path rather than baking in the path it was written to. The console is
    # the one that provisioned (flare-console need not be on PATH), else PATH's.
    path.write_text(
        "#!/usr/bin/env bash\n"
        'DIR=$(cd "$(dirname "$0")/.." && pwd)\n'
        + kit_script(part_args),
        encoding="utf-8",
    )
    path.chmod(_EXECUTABLE)


def _server_entry(project: Project) -> dict[str, Any]:
    server = project.server
    return {
        "name": project.name,
        "identity": server.name,
        "host": server.host,
        "fed_learn_port": server.fed_learn_port,
        "service": {"target": f"{server.host}:{server.fed_learn_port}"},
    }


class _KitWriter:
    """Writes one participant's folder; holds what every kit shares."""

    def __init__(self, project: Project, ca_cert: x509.Certificate, ca_key: PrivateKey, ledger: Ledger,
                 prod: str, crl_pem: bytes) -> None:
        self.project = project
        self.ca_cert = ca_cert
        self.ca_key = ca_key
        self.root_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        self.ledger = ledger
        self.prod = prod
        self.crl_pem = crl_pem

    def write(self, folder: Path, p: Participant) -> None:
        startup = folder / "startup"
        startup.mkdir(parents=True)
        (startup / "rootCA.pem").write_bytes(self.root_pem)
        (startup / CRL_FILE).write_bytes(self.crl_pem)  # checked at every handshake (see revocation.py)
        if p.type is ParticipantType.SERVER:
            self._server(folder, startup, p)
        elif p.type is ParticipantType.CLIENT:
            self._site(startup, p)
        else:
            self._admin(folder, startup, p)

    def _cert(self, startup: Path, stem: str, p: Participant, kind: CertKind, sans: list[str]) -> None:
        role = p.role if kind is CertKind.ADMIN else None
        cert, key = issue_cert(self.ca_cert, self.ca_key, cn=p.name, org=p.org, kind=kind, role=role, sans=sans)
        self.ledger.note_issued(cert, p, self.prod)
        write_pem_cert(startup / f"{stem}.crt", cert)
        write_pem_key(startup / f"{stem}.key", key)

    def _server(self, folder: Path, startup: Path, p: Participant) -> None:
        self._cert(startup, "server", p, CertKind.SERVER, [p.host])
        entry = {
            **_server_entry(self.project),
            "org": p.org,
            "admin_port": p.admin_port,
            "admin_host": p.host,
            "ssl_cert": "server.crt",
            "ssl_private_key": "server.key",
            "ssl_root_cert": "rootCA.pem",
            "max_jobs": MAX_JOBS,
        }
        _write_json(startup / "fed_server.json",
                    {"format_version": 2, "project_name": self.project.name, "servers": [entry]})
        _write_json(startup / KIT_SITES_FILE, {"sites": {site.name: site.org for site in self.project.clients}})
        write_default_policy(folder / "local" / "authorization.json")
        _write_script(startup / "start.sh", 'server "$DIR"')

    def _site(self, startup: Path, p: Participant) -> None:
        self._cert(startup, "client", p, CertKind.CLIENT, [])
        _write_json(startup / "fed_client.json", {
            "format_version": 2,
            "project_name": self.project.name,
            "client": {
                "name": p.name,
                "org": p.org,
                "ssl_cert": "client.crt",
                "ssl_private_key": "client.key",
                "ssl_root_cert": "rootCA.pem",
            },
            "servers": [_server_entry(self.project)],
        })
        # The site's own copy of the policy: its operator may tighten it (forbid custom code, say).
        write_default_policy(startup.parent / "local" / "authorization.json")
        _write_script(startup / "start.sh", 'site "$DIR"')

    def _admin(self, folder: Path, startup: Path, p: Participant) -> None:
        self._cert(startup, "client", p, CertKind.ADMIN, [])
        server = self.project.server
        _write_json(startup / "fed_admin.json", {"format_version": 1, "admin": {
            "host": server.host,
            "port": server.admin_port,
            "username": p.name,
            "project_name": self.project.name,
            "server_identity": server.name,
            # Relative to startup/; upload/download dirs relative to the participant folder.
            "client_cert": "client.crt",
            "client_key": "client.key",
            "ca_cert": "rootCA.pem",
            "upload_dir": "transfer",
            "download_dir": "transfer",
            "with_ssl": True,
            "cred_type": "cert",
            "org": p.org,
            "role": p.role,
        }})
        (folder / "transfer").mkdir()
        _write_script(startup / "fl_admin.sh", '--kit "$DIR"')


def provision(project_file: str | Path, workspace: str | Path = "workspace",
              on_warning: Callable[[str], None] | None = None) -> Path:
    """Write a new ``WORKSPACE/<project>/prod_NN`` with a kit per participant; returns its path.

    ``on_warning`` hears, one sentence each, what the project file asks for that is not done
    (see ``Project.warnings``). Raises ProjectFileError for a bad project file and
    ProvisionError for a workspace that cannot take the kits; either way no ``prod_NN`` appears.
    """
    project_file = Path(project_file)
    project = load_project(project_file)
    for warning in project.warnings:
        if on_warning is not None:
            on_warning(warning)
    workspace = Path(workspace)
    project_dir = workspace / project.name
    try:
        with _locked(project_dir / "state"):
            ca_cert, ca_key = _root_ca(workspace, project.name)
            final = _next_prod(project_dir)
            building = final.with_name(final.name + ".tmp")
            # Under the lock any leftover .tmp is from a run that died; it is not a kit.
            shutil.rmtree(building, ignore_errors=True)
            # Every kit holds its key and policy; the folder of them all is the provisioner's only (handed
            # out kit by kit), whatever the umask (console.private_files).
            building.mkdir(mode=0o700)
            os.chmod(building, 0o700)
            try:
                ledger = Ledger(project_dir / "state")
            except ValueError as exc:
                shutil.rmtree(building, ignore_errors=True)
                raise ProvisionError(str(exc)) from None
            now = dt.datetime.now(dt.UTC)
            ledger.revoke_departed(project, now)
            try:
                writer = _KitWriter(project, ca_cert, ca_key, ledger, final.name, ledger.crl_pem(ca_cert, ca_key, now))
                for participant in project.participants:
                    writer.write(building / participant.name, participant)
                shutil.copyfile(project_file, building / PROJECT_COPY)
                building.rename(final)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
            # Recorded once the kit exists: a failed run issued nothing anyone holds.
            ledger.save()
    except OSError as exc:
        said = path_problem(exc, todo="give -o a folder you can write to") if is_local_path_error(exc) else exc
        raise ProvisionError(f"cannot write startup kits under {project_dir}: {said}") from exc
    return final
