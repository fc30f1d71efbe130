"""Startup kits provisioned once per test session and copied, with fresh ports, for each project.

Provisioning makes a root CA and a key per participant (RSA 2048: 0.3-0.5 s a project on a loaded
2-core machine), and about 170 tests make a project. A project is the same each time but for its
two ports, so each kind (project name and extra participants) is provisioned once, into a folder of
this session's, and copied: the copy has the same layout, the CA state next to ``prod_00`` (so
re-provisioning it works as on a fresh one) and the ports written where provisioning writes them.

Isolation kept: the second, third, ... project of one kind made within one test gets a template
of its own, so two projects of one test never share a root CA (a test that shows a kit of one
project refused by the other's server still sees the refusal). Projects of different tests may
share one; nothing of one test is running when the next starts.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

_templates: dict[tuple[str, str], list[Path]] = {}
_used: dict[tuple[str, str, str], int] = {}  # (test, kind) -> projects of that kind made in it so far
_folder: Path | None = None


def _session_folder() -> Path:
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="flare-console-kits-"))
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def _current_test() -> str:
    """The running test's ID without its phase: a module fixture's project made in a test's setup
    counts as that test's."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


def project_file_text(name: str, participants: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"name": name, "participants": participants})


def _set_ports(prod: Path, fed_port: int, admin_port: int) -> None:
    """Write the server's two ports into every kit of ``prod``, where provisioning writes them."""
    def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
        config = json.loads(path.read_text())
        change(config)
        path.write_text(json.dumps(config, indent=2) + "\n")

    def server_entry(entry: dict[str, Any]) -> None:
        entry["fed_learn_port"] = fed_port
        entry["service"]["target"] = f"{entry['host']}:{fed_port}"
        if "admin_port" in entry:
            entry["admin_port"] = admin_port

    for kit in prod.iterdir():
        startup = kit / "startup"
        if (startup / "fed_server.json").is_file():
            rewrite(startup / "fed_server.json", lambda c: [server_entry(e) for e in c["servers"]])
        if (startup / "fed_client.json").is_file():
            rewrite(startup / "fed_client.json", lambda c: [server_entry(e) for e in c["servers"]])
        if (startup / "fed_admin.json").is_file():
            rewrite(startup / "fed_admin.json", lambda c: c["admin"].__setitem__("port", admin_port))


def copy_project(root: Path, name: str, participants: list[dict[str, Any]], fed_port: int, admin_port: int,
                 provision: Callable[[Path, Path], Path], prod_copy_name: str) -> Path:
    """Put a project of ``participants`` (the server's ports as given) under ``root`` as
    ``make_project`` lays it out (``root/NAME.yml``, ``root/workspace``); its ``prod_NN`` path.

    ``provision(project_file, workspace)`` makes a template the first time a kind is asked for."""
    kind = (name, json.dumps([p for p in participants if p.get("type") != "server"], sort_keys=True))
    test_key = (_current_test(), *kind)
    index = _used.get(test_key, 0)
    _used[test_key] = index + 1
    templates = _templates.setdefault(kind, [])
    while len(templates) <= index:
        template = Path(tempfile.mkdtemp(dir=_session_folder()))
        (template / f"{name}.yml").write_text(project_file_text(name, participants))
        provision(template / f"{name}.yml", template / "workspace")
        templates.append(template)
    template = templates[index]
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, root, dirs_exist_ok=True, symlinks=True)
    text = project_file_text(name, participants)
    (root / f"{name}.yml").write_text(text)
    prod = root / "workspace" / name / "prod_00"
    (prod / prod_copy_name).write_text(text)
    _set_ports(prod, fed_port, admin_port)
    return prod
