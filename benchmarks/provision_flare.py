"""NVIDIA FLARE 2.9's provisioning verdict on every project file of the corpus; run with FLARE's venv python.

    ~/.cache/flare-console/nvflare-2.9.0/bin/python benchmarks/provision_flare.py OUT.json

Each project goes through FLARE's own ``prepare_project`` and a ``Provisioner`` with the builders of
a stock project.yml (workspace, static files, certificates, signatures). The verdict is
``accepted`` with the kit folders FLARE wrote, or ``refused`` with FLARE's reason.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from nvflare.lighter.constants import CtxKey
from nvflare.lighter.provision import prepare_builders, prepare_packager, prepare_project
from nvflare.lighter.provisioner import Provisioner
from provision_corpus import CASES

BUILDERS = [
    {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder", "args": {"template_file": ["master_template.yml"]}},
    {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
    {"path": "nvflare.lighter.impl.cert.CertBuilder"},
    {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
]


def verdict(project_dict: dict, workspace: Path) -> dict:
    project_dict = {**copy.deepcopy(project_dict), "builders": BUILDERS, "gen_scripts": False}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            project = prepare_project(project_dict)
            provisioner = Provisioner(str(workspace), prepare_builders(project_dict), prepare_packager(project_dict))
            ctx = provisioner.provision(project)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the verdict is whether FLARE got through
        return {"verdict": "refused", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    if ctx.get(CtxKey.BUILD_ERROR):
        return {"verdict": "refused", "reason": f"build error: {out.getvalue()[-300:]}"}
    prod = Path(ctx.get(CtxKey.CURRENT_PROD_DIR))
    kits = sorted(p.name for p in prod.iterdir() if p.is_dir())
    return {"verdict": "accepted", "kits": kits, "project_dir": os.path.basename(prod.parent)}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="provision-corpus-") as tmp:
        results = {case: verdict(data, Path(tmp) / case) for case, data in CASES.items()}
    Path(sys.argv[1]).write_text(json.dumps({"nvflare": "2.9.0", "cases": results}, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
