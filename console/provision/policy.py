"""FLARE's default authorization policy, as written into the server kit's ``local/``.

Only the data and its file live here; enforcing it is the server's business.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# FLARE's shape: a role maps to "any" (every right) or to {right: condition}; a right a role
# does not list is "none". Conditions: "o:submitter" = jobs submitted by the same org,
# "n:submitter" = jobs the user submitted, "o:site" = sites of the same org.
DEFAULT_POLICY: dict[str, Any] = {
    "format_version": "1.0",
    "permissions": {
        "project_admin": "any",
        "org_admin": {
            "submit_job": "none",
            "clone_job": "none",
            "manage_job": "o:submitter",
            "download_job": "o:submitter",
            "view": "any",
            "operate": "o:site",
            "shell_commands": "o:site",
            "byoc": "none",
        },
        "lead": {
            "submit_job": "any",
            "clone_job": "n:submitter",
            "manage_job": "n:submitter",
            "download_job": "n:submitter",
            "view": "any",
            "operate": "o:site",
            "shell_commands": "o:site",
            "byoc": "any",
        },
        "member": {"view": "any"},
    },
}


def write_default_policy(path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(DEFAULT_POLICY, indent=2) + "\n", encoding="utf-8")
