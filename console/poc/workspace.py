"""A POC's folder and what FLARE is started with: the workspace claimed, the project file, the environment.

Owns the folder's layout (``home/``: the POC's ``HOME``, FLARE writes ``~/.nvflare``; ``poc/``: FLARE's POC
workspace; ``bin/``: the ``python3`` shim pointing FLARE's start scripts at the chosen interpreter), the
mark that makes a folder one of ours (``OWNED``: only then is its old POC wiped), the project file
``nvflare poc prepare`` provisions from, and the server confined to loopback once it is provisioned.
Must not start or stop processes (``lifecycle`` does) nor import nvflare.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import sys
import uuid
from pathlib import Path

import yaml

from console.poc.errors import PocError
from console.poc.processes import MARKER_VAR

NVFLARE_ADMIN = "admin@nvidia.com"
PROJECT = "flare_poc"


def project_file(path: Path, port: int, sites: tuple[str, ...],
                 other_admins: tuple[tuple[str, str, str], ...] = ()) -> None:
    """The POC's project: the server, ``sites`` and the project admin, all of org ``nvidia``; ``other_admins``
    (name, org, role: FLARE's org_admin, lead or member) get admin kits too (FLARE starts no console for them)."""
    participants = [{"name": "server", "type": "server", "org": "nvidia", "fed_learn_port": port}]
    participants += [{"name": s, "type": "client", "org": "nvidia"} for s in sites]
    participants.append({"name": NVFLARE_ADMIN, "type": "admin", "org": "nvidia", "role": "project_admin"})
    participants += [{"name": name, "type": "admin", "org": org, "role": role} for name, org, role in other_admins]
    path.write_text(yaml.safe_dump({
        "api_version": 3, "name": PROJECT, "description": "flare-console's local FLARE POC",
        "participants": participants,
        "builders": [  # FLARE's POC builders, minus the docker and helm ones a loopback POC never uses
            {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder",
             "args": {"template_file": ["master_template.yml"]}},
            {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
            {"path": "nvflare.lighter.impl.cert.CertBuilder"},
            {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
        ],
    }, sort_keys=False))


def confine_to_loopback(prod: Path, port: int) -> None:
    """FLARE's POC server listens on every interface; a local POC needs loopback only."""
    config_file = prod / "server" / "startup" / "fed_server.json"
    config = json.loads(config_file.read_text())
    for server in config.get("servers", []):
        service = server.get("service", {})
        if service.get("target", "").endswith(f":{port}"):
            service["target"] = f"localhost:{port}"
    config_file.write_text(json.dumps(config, indent=2))


OWNED = ".flare-console-poc"  # marks a folder as a POC workspace we made: we may wipe its POC


def claim(root: Path) -> None:
    """Make ``root`` a POC workspace: new, empty, or one of ours (its old POC goes: its ports are stale)."""
    if root.exists() and any(root.iterdir()) and not (root / OWNED).exists():
        raise PocError(f"{root} is not empty and holds no FLARE POC made by flare-console: "
                       "give a new or empty folder (FLARE's `poc prepare` replaces what it finds)")
    root.mkdir(parents=True, exist_ok=True)
    (root / OWNED).touch()
    shutil.rmtree(root / "poc", ignore_errors=True)


def environment(root: Path, python: Path) -> dict[str, str]:
    shims = root / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    for name in ("python3", "python"):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
        shim.chmod(0o755)
    env = {**os.environ, "HOME": str(root / "home"), "NVFLARE_POC_WORKSPACE": str(root / "poc"),
           "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}", MARKER_VAR: uuid.uuid4().hex,
           "PYTHONUNBUFFERED": "1", "PYTHONUSERBASE": site.getuserbase()}  # HOME moves; user site must not
    env.pop("VIRTUAL_ENV", None)
    if python != Path(sys.executable):
        env.pop("PYTHONPATH", None)  # ours is for our interpreter; FLARE's venv has its own packages
    (root / "home").mkdir(exist_ok=True)
    return env
