"""Writing startup kits: ``WORKSPACE/<project>/prod_NN/<participant>/startup/``.

Each run writes a new ``prod_NN`` (built as ``prod_NN.tmp`` and renamed when complete)
and reuses the root CA kept in ``WORKSPACE/<project>/state/``.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from console.provision.certs import (
    CertKind,
    issue_cert,
    load_cert,
    load_key,
    make_root_ca,
    write_pem_cert,
    write_pem_key,
)
from console.provision.policy import write_default_policy
from console.provision.project import Participant, ParticipantType, Project, load_project

_PROD = re.compile(r"^prod_(\d+)$")


def root_ca_paths(workspace: str | Path, project_name: str) -> tuple[Path, Path]:
    state = Path(workspace) / project_name / "state"
    return state / "rootCA.pem", state / "rootCA.key"


def _root_ca(workspace: Path, project: Project) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert_path, key_path = root_ca_paths(workspace, project.name)
    if cert_path.is_file() and key_path.is_file():
        return load_cert(cert_path), load_key(key_path)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert, key = make_root_ca(project.name)
    write_pem_key(key_path, key)
    write_pem_cert(cert_path, cert)
    return cert, key


def _next_prod(project_dir: Path) -> Path:
    numbers = [int(m.group(1)) for p in project_dir.iterdir() if (m := _PROD.match(p.name))]
    return project_dir / f"prod_{max(numbers, default=-1) + 1:02d}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _write_script(path: Path, command: str) -> None:
    path.write_text(f'#!/usr/bin/env bash\nDIR=$(cd "$(dirname "$0")/.." && pwd)\nexec {command}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _server_entry(project: Project) -> dict[str, Any]:
    server = project.server
    return {"name": project.name, "identity": server.name, "host": server.host,
            "fed_learn_port": server.fed_learn_port, "service": {"target": f"{server.host}:{server.fed_learn_port}"}}


def _write_kit(folder: Path, p: Participant, project: Project, ca: tuple[x509.Certificate, rsa.RSAPrivateKey],
               root_pem: bytes) -> None:
    startup = folder / "startup"
    startup.mkdir(parents=True)
    (startup / "rootCA.pem").write_bytes(root_pem)
    kind = {ParticipantType.SERVER: CertKind.SERVER, ParticipantType.CLIENT: CertKind.CLIENT,
            ParticipantType.ADMIN: CertKind.ADMIN}[p.type]
    cert, key = issue_cert(ca[0], ca[1], cn=p.name, org=p.org, kind=kind, role=p.role,
                           sans=[p.host] if kind is CertKind.SERVER else ())
    server = project.server
    if p.type is ParticipantType.SERVER:
        write_pem_cert(startup / "server.crt", cert)
        write_pem_key(startup / "server.key", key)
        entry = {**_server_entry(project), "org": p.org, "admin_port": p.admin_port, "admin_host": p.host,
                 "ssl_cert": "server.crt", "ssl_private_key": "server.key", "ssl_root_cert": "rootCA.pem",
                 "max_jobs": 4}
        _write_json(startup / "fed_server.json", {"format_version": 2, "project_name": project.name,
                                                  "servers": [entry]})
        write_default_policy(folder / "local" / "authorization.json")
        _write_script(startup / "start.sh", 'flare-console server "$DIR"')
        return
    write_pem_cert(startup / "client.crt", cert)
    write_pem_key(startup / "client.key", key)
    if p.type is ParticipantType.CLIENT:
        _write_json(startup / "fed_client.json", {
            "format_version": 2, "project_name": project.name,
            "client": {"name": p.name, "org": p.org, "ssl_cert": "client.crt", "ssl_private_key": "client.key",
                       "ssl_root_cert": "rootCA.pem"},
            "servers": [_server_entry(project)],
        })
        _write_script(startup / "start.sh", 'flare-console site "$DIR"')
        return
    _write_json(startup / "fed_admin.json", {"format_version": 1, "admin": {
        "host": server.host, "port": server.admin_port, "username": p.name, "project_name": project.name,
        "server_identity": server.name, "client_cert": "client.crt", "client_key": "client.key",
        "ca_cert": "rootCA.pem", "upload_dir": "transfer", "download_dir": "transfer", "with_ssl": True,
        "cred_type": "cert", "org": p.org, "role": p.role,
    }})
    (folder / "transfer").mkdir()
    _write_script(startup / "fl_admin.sh", 'flare-console --kit "$DIR"')


def provision(project_file: str | Path, workspace: str | Path = "workspace") -> Path:
    """Write a new ``prod_NN`` with a kit per participant; returns its path."""
    project = load_project(project_file)
    workspace = Path(workspace)
    project_dir = workspace / project.name
    project_dir.mkdir(parents=True, exist_ok=True)
    ca = _root_ca(workspace, project)
    root_pem = root_ca_paths(workspace, project.name)[0].read_bytes()
    final = _next_prod(project_dir)
    building = final.with_name(final.name + ".tmp")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        for participant in project.participants:
            _write_kit(building / participant.name, participant, project, ca, root_pem)
        shutil.copyfile(project_file, building / Path(project_file).name)
        building.rename(final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final
