"""Project files in the shapes FLARE 2.9's provisioning sees, valid and invalid, for both systems.

Standard library only: FLARE's venv imports it too (``provision_flare.py``). FLARE's verdicts are
recorded in ``data/nvflare-2.9.0-provision.json``; ``tests/test_provision_corpus.py`` provisions
every file FLARE accepts with ours and checks each participant FLARE makes a kit for gets one here.
"""

from __future__ import annotations

import copy
from typing import Any

SERVER = {"name": "server1", "type": "server", "org": "nvidia", "fed_learn_port": 18002, "admin_port": 18003}
SITE_1 = {"name": "site-1", "type": "client", "org": "nvidia"}
ADMIN = {"name": "admin@nvidia.com", "type": "admin", "org": "nvidia", "role": "project_admin"}


def _project(*extra: dict[str, Any], name: str = "corpus_project", server: dict[str, Any] | None = None,
             **top: Any) -> dict[str, Any]:
    participants = [copy.deepcopy(server or SERVER), dict(SITE_1), dict(ADMIN), *extra]
    return {"api_version": 3, "name": name, "description": "provision corpus", "participants": participants, **top}


CASES: dict[str, dict[str, Any]] = {
    "flare-sample-shape": _project(
        {"name": "site-2", "type": "client", "org": "nvidia"},
        {"name": "org-admin@nvidia.com", "type": "admin", "org": "nvidia", "role": "org_admin"},
        {"name": "lead@nvidia.com", "type": "admin", "org": "nvidia", "role": "lead"}),
    "api-version-4": _project(api_version=4),
    "no-api-version": {k: v for k, v in _project().items() if k != "api_version"},
    "admin-email-plus": _project({"name": "first.last+fl@nvidia.com", "type": "admin", "org": "nvidia",
                                  "role": "member"}),
    "client-underscores": _project({"name": "_site_2", "type": "client", "org": "nvidia"}),
    "custom-admin-role": _project({"name": "auditor@nvidia.com", "type": "admin", "org": "nvidia",
                                   "role": "auditor"}),
    "relay": _project({"name": "relay-1", "type": "relay", "org": "nvidia", "listening_host": "localhost"}),
    "overseer": _project({"name": "overseer", "type": "overseer", "org": "nvidia"}),
    "role-on-client": _project({"name": "site-2", "type": "client", "org": "nvidia", "role": "lead"}),
    "port-on-client": _project({"name": "site-2", "type": "client", "org": "nvidia", "fed_learn_port": 9}),
    "names-differing-in-case": _project({"name": "Site-1", "type": "client", "org": "nvidia"}),
    "single-port": _project(server={**SERVER, "admin_port": 18002}),
    "no-admin-port": _project(server={k: v for k, v in SERVER.items() if k != "admin_port"}),
    "long-project-name": _project(name="p" * 70),
    "project-name-with-space": _project(name="my project"),
    "server-fqdn": _project(server={**SERVER, "name": "server1.example.com"}),
    "server-default-host": _project(server={**SERVER, "default_host": "localhost"}),
    "org-with-dash": _project({"name": "site-2", "type": "client", "org": "other-org"}),
    "duplicate-name": _project(dict(SITE_1)),
    "two-servers": _project({**SERVER, "name": "server2"}),
    "admin-without-role": _project({"name": "x@nvidia.com", "type": "admin", "org": "nvidia"}),
    "client-name-with-space": _project({"name": "site 2", "type": "client", "org": "nvidia"}),
    "type-with-space": _project({"name": "x", "type": "ro bot", "org": "nvidia"}),
    "missing-org": _project({"name": "site-2", "type": "client"}),
    "no-server": {**_project(), "participants": [dict(SITE_1), dict(ADMIN)]},
}


def kit_names(project: dict[str, Any]) -> list[str]:
    """The participants both systems write a kit for: server, clients and admins."""
    return sorted(p["name"] for p in project["participants"] if p.get("type") in ("server", "client", "admin"))
