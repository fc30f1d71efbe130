"""Every project file FLARE 2.9's provisioning accepts is provisioned by ours (FLARE's verdicts recorded
in benchmarks/data/ by benchmarks/provision_flare.py; no FLARE needed here).

Ours writes a kit for each server, client and admin FLARE writes one for, in the project folder FLARE
uses; what it skips (relays) or changes is named in a warning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from console.provision.kits import provision
from console.provision.project import load_project

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from provision_corpus import CASES  # noqa: E402

RECORDED = REPO / "benchmarks" / "data" / "nvflare-2.9.0-provision.json"


#: Provisioned in full (certificates and all); the others are checked through load_project, which
#: decides every kit provisioning writes (RSA keys for all 16 would cost ~10 s of the suite).
FULL = ("flare-sample-shape", "relay", "long-project-name", "single-port")


def test_every_project_file_flare_accepts_works_here(tmp_path: Path) -> None:
    theirs = json.loads(RECORDED.read_text())["cases"]
    assert set(theirs) == set(CASES)
    accepted = {case: v for case, v in theirs.items() if v["verdict"] == "accepted"}
    assert len(accepted) >= 15 and set(FULL) <= set(accepted)
    for case, verdict in accepted.items():
        project_file = tmp_path / case / "project.yml"
        project_file.parent.mkdir()
        project_file.write_text(yaml.safe_dump(CASES[case]))
        relays = [p["name"] for p in CASES[case]["participants"] if p.get("type") == "relay"]
        expected = [k for k in verdict["kits"] if k not in relays]
        project = load_project(project_file)
        assert sorted(p.name for p in project.participants) == expected, case
        assert project.name == verdict["project_dir"], case
        for relay in relays:  # FLARE writes a relay kit; ours has no relays and says so
            assert any(f"'{relay}' skipped" in w for w in project.warnings), case
        if case in FULL:
            warnings: list[str] = []
            prod = provision(project_file, tmp_path / case / "ws", warnings.append)
            assert sorted(p.name for p in prod.iterdir() if p.is_dir()) == expected, case
            assert prod.parent.name == verdict["project_dir"] and warnings == project.warnings, case
