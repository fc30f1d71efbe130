"""NVIDIA FLARE 2.9's verdict on every job folder of the corpus; run with the python of FLARE's venv.

    ~/.cache/flare-console/nvflare-2.9.0/bin/python benchmarks/jobdef_flare.py OUT.json

Each folder goes through exactly what FLARE's submit path does with it: ``flare_api.submit_job``'s
folder-name check, the client's zip (``zip_directory_to_bytes``) and the server's
``JobMetaValidator.validate``. The verdict is the exception class a FLARE API user sees:
``InvalidJobDefinition`` for a refusal (a ValueError in the validator), ``InternalError`` when
the validator itself fails (the server's submit_job turns any other exception into that), or
``accepted``. Standard library and nvflare only.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from jobdef_corpus import build
from nvflare.apis.utils.format_check import name_check
from nvflare.fuel.utils.zip_utils import zip_directory_to_bytes
from nvflare.private.fed.server.job_meta_validator import JobMetaValidator


def verdict(folder: Path) -> dict[str, str]:
    name = folder.name
    if name_check(name, "job_name")[0]:
        return {"verdict": "InvalidJobDefinition", "message": f"job folder name '{name}' contains unsupported "
                                                              "characters"}
    data = zip_directory_to_bytes(str(folder.parent), name)
    try:
        valid, error, _ = JobMetaValidator().validate(name, data)
    except Exception as exc:  # noqa: BLE001 - the server's submit_job does the same
        return {"verdict": "InternalError", "message": f"{type(exc).__name__}: {exc}"[:300]}
    return {"verdict": "accepted", "message": ""} if valid else {"verdict": "InvalidJobDefinition",
                                                                 "message": error[:300]}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="jobdef-corpus-") as tmp:
        folders = build(Path(tmp))
        results = {case: verdict(folder) for case, folder in folders.items()}
    Path(sys.argv[1]).write_text(json.dumps({"nvflare": "2.9.0", "cases": results}, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
