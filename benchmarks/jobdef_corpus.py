"""A corpus of job folders, valid and invalid by NVIDIA FLARE 2.9's rules, built the same way for both systems.

Standard library only: FLARE's venv imports it too (``jobdef_flare.py``). Each case is one job
folder: deploy_map forms, app names, missing configs, min_clients, mandatory_clients,
resource_spec/launcher_spec, meta forms. ``build(root)`` writes them all and returns
``{case: folder}``. The verdicts FLARE gives are recorded in ``data/nvflare-2.9.0-jobdefs.json``;
``tests/test_jobdef_corpus.py`` submits every folder to our server and compares.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVER_CFG = {"format_version": 2, "workflows": []}
CLIENT_CFG = {"format_version": 2, "executors": []}
BOTH = ("server", "client")
_UNSET = object()


@dataclass(frozen=True)
class Case:
    name: str
    meta: Any  # dict written as meta.json; None: no meta.json
    apps: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"app": BOTH})
    files: dict[str, str] = field(default_factory=dict)  # extra files (path -> text), written as they are
    folder: str = ""  # the job folder's name when it is not the case's name


def _dm(deploy_map: Any, **meta: Any) -> dict[str, Any]:
    return {"name": "corpus", "deploy_map": deploy_map, **meta}


SITES = ["server", "site-1", "site-2"]

CASES: tuple[Case, ...] = (
    # --- deploy_map forms
    Case("dm-all", _dm({"app": ["@ALL"]})),
    Case("dm-all-lower", _dm({"app": ["@all"]})),
    Case("dm-all-mixed-case", _dm({"app": ["@All"]})),
    Case("dm-all-as-string", _dm({"app": "@ALL"})),
    Case("dm-server-and-sites", _dm({"app": SITES})),
    Case("dm-no-server", _dm({"app": ["site-1", "site-2"]})),
    Case("dm-server-capitalised", _dm({"app": ["Server", "site-1"]})),
    Case("dm-server-beside-all", _dm({"app": ["server", "@ALL"]})),
    Case("dm-site-beside-all", _dm({"app": ["@ALL", "site-1"]})),
    Case("dm-all-and-empty-app", _dm({"app": ["@ALL"], "app2": []}), {"app": BOTH, "app2": BOTH}),
    Case("dm-all-in-two-apps", _dm({"app": ["@ALL"], "app2": ["@ALL"]}), {"app": BOTH, "app2": BOTH}),
    Case("dm-two-apps", _dm({"srv": ["server"], "cli": ["site-1", "site-2"]}),
         {"srv": ("server",), "cli": ("client",)}),
    Case("dm-site-in-two-apps", _dm({"app": ["server", "site-1"], "app2": ["site-1"]}),
         {"app": BOTH, "app2": BOTH}),
    Case("dm-site-twice", _dm({"app": ["server", "site-1", "site-1"]})),
    Case("dm-targets-object", _dm({"app": {"targets": SITES}})),
    Case("dm-sites-object", _dm({"app": {"sites": SITES}})),
    Case("dm-mixed-entries", _dm({"app": [{"sites": ["server"]}, "site-1", {"targets": ["site-2"]}]})),
    Case("dm-object-without-targets", _dm({"app": {"where": SITES}})),
    Case("dm-entry-with-unknown-key", _dm({"app": [{"sites": ["server"], "extra": 1}, "site-1"]})),
    Case("dm-number-entry", _dm({"app": ["server", 3]})),
    Case("dm-empty-object", _dm({})),
    Case("dm-missing", {"name": "corpus", "min_clients": 1}),
    Case("dm-list-not-object", _dm(["app"])),
    Case("dm-only-empty-lists", _dm({"app": []})),
    Case("dm-server-only", _dm({"app": ["server"]})),
    # --- app names and folders
    Case("app-name-with-dot", _dm({"my.app": SITES}), {"my.app": BOTH}),
    Case("app-name-with-at", _dm({"app@x": SITES}), {"app@x": BOTH}),
    Case("app-name-leading-dash", _dm({"-app": SITES}), {"-app": BOTH}),
    Case("app-name-with-space", _dm({"my app": SITES}), {"my app": BOTH}),
    Case("app-folder-missing", _dm({"ghost": SITES}), {"app": BOTH}),
    Case("app-without-config-folder", _dm({"app": SITES}), {}, {"app/custom/x.py": "x = 1\n"}),
    Case("app-with-custom-code", _dm({"app": SITES}), files={"app/custom/trainer.py": "def train():\n    pass\n"}),
    # --- configs
    Case("cfg-no-server-config", _dm({"app": SITES}), {"app": ("client",)}),
    Case("cfg-no-client-config", _dm({"app": SITES}), {"app": ("server",)}),
    Case("cfg-all-without-client-config", _dm({"app": ["@ALL"]}), {"app": ("server",)}),
    Case("cfg-all-without-server-config", _dm({"app": ["@ALL"]}), {"app": ("client",)}),
    Case("cfg-split-apps-each-own-config", _dm({"srv": ["server"], "cli": ["site-1"]}),
         {"srv": ("server",), "cli": ("client",)}),
    Case("cfg-server-config-not-json", _dm({"app": SITES}), {"app": ("client",)},
         {"app/config/config_fed_server.json": "{not json"}),
    Case("cfg-client-config-not-json", _dm({"app": SITES}), {"app": ("server",)},
         {"app/config/config_fed_client.json": "{not json"}),
    Case("cfg-server-config-yaml", _dm({"app": SITES}), {"app": ("client",)},
         {"app/config/config_fed_server.yml": "format_version: 2\nworkflows: []\n"}),
    Case("meta-as-yaml", None, files={"meta.yml": "name: corpus\ndeploy_map:\n  app: ['@ALL']\n"}),
    # --- min_clients
    Case("mc-zero", _dm({"app": SITES}, min_clients=0)),
    Case("mc-negative", _dm({"app": SITES}, min_clients=-1)),
    Case("mc-more-than-named", _dm({"app": SITES}, min_clients=3)),
    Case("mc-equal-to-named", _dm({"app": SITES}, min_clients=2)),
    Case("mc-many-with-all", _dm({"app": ["@ALL"]}, min_clients=50)),
    Case("mc-as-text", _dm({"app": SITES}, min_clients="2")),
    Case("mc-fraction", _dm({"app": SITES}, min_clients=1.5)),
    Case("mc-not-a-number", _dm({"app": SITES}, min_clients="two")),
    Case("mc-over-flare-max", _dm({"app": ["@ALL"]}, min_clients=1_000_001)),
    Case("mc-null", _dm({"app": SITES}, min_clients=None)),
    # --- mandatory_clients
    Case("mand-deployed", _dm({"app": SITES}, mandatory_clients=["site-1"])),
    Case("mand-not-deployed", _dm({"app": SITES}, mandatory_clients=["site-9"])),
    Case("mand-any-with-all", _dm({"app": ["@ALL"]}, mandatory_clients=["site-9"])),
    Case("mand-empty", _dm({"app": SITES}, mandatory_clients=[])),
    # --- resource_spec and launcher_spec
    Case("rs-empty", _dm({"app": SITES}, resource_spec={})),
    Case("rs-gpus", _dm({"app": SITES}, resource_spec={"site-1": {"num_of_gpus": 1, "mem_per_gpu_in_GiB": 1}})),
    Case("rs-list", _dm({"app": SITES}, resource_spec=[])),
    Case("rs-site-not-object", _dm({"app": SITES}, resource_spec={"site-1": 2})),
    Case("rs-default-negative-gpus", _dm({"app": SITES}, resource_spec={"@default": {"num_of_gpus": -1}})),
    Case("rs-default-unknown-field", _dm({"app": SITES}, resource_spec={"@default": {"disk": "1Gi"}})),
    Case("rs-default-memory-bad", _dm({"app": SITES}, resource_spec={"@default": {"memory": "1GB"}})),
    Case("rs-default-memory-ok", _dm({"app": SITES}, resource_spec={"@default": {"memory": "1Gi", "num_of_cpus": 2}})),
    Case("rs-docker-privileged", _dm({"app": SITES}, resource_spec={"site-1": {"docker": {"privileged": True}}})),
    Case("rs-docker-image", _dm({"app": SITES}, resource_spec={"site-1": {"docker": {"image": "repo/img:1"}}})),
    Case("ls-unknown-mode", _dm({"app": SITES}, launcher_spec={"site-1": {"vm": {}}})),
    Case("ls-process", _dm({"app": SITES}, launcher_spec={"default": {"process": {}}})),
    # --- meta.json itself and the folder
    Case("meta-without-name", {"deploy_map": {"app": SITES}}),
    Case("meta-empty", {}),
    Case("meta-missing", None),
    Case("meta-bad-job-id", _dm({"app": SITES}, job_id="../escape")),
    Case("folder-name-with-space", _dm({"app": SITES}), folder="my job"),
)


def build(root: Path) -> dict[str, Path]:
    """Write every case under ``root`` (one parent folder per case); ``{case: job folder}``."""
    folders = {}
    for case in CASES:
        folder = root / case.name / (case.folder or case.name)
        folder.mkdir(parents=True)
        if case.meta is not None:
            (folder / "meta.json").write_text(json.dumps(case.meta))
        for app, sides in case.apps.items():
            config = folder / app / "config"
            config.mkdir(parents=True)
            for side in sides:
                body = SERVER_CFG if side == "server" else CLIENT_CFG
                (config / f"config_fed_{side}.json").write_text(json.dumps(body))
        for rel, text in case.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        folders[case.name] = folder
    return folders
