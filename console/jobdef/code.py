"""What counts as code a job brings (the ``byoc`` right guards it), wherever it lies in the job.

FLARE marks a job as custom code when an app has a ``custom/`` folder. That is not enough
here: a Python file at an app's top level, named by a config as ``app_server.evil:run``,
would be code too. So any of these makes a job custom code:

- a non-empty ``custom/`` folder in any app;
- a file anywhere in the job whose suffix is one Python (or the OS loader) could run
  (``CODE_SUFFIXES``);
- a config naming an entry point by ``module:function`` (``controller`` or ``executor``):
  built-in entry points are named by word (``"workflow": "fedavg"``, FLARE's classic classes),
  so a ``module:function`` always means the job's own code.

Read-only; must not import or run anything it finds.
"""

from __future__ import annotations

import os
from pathlib import Path

from console import safe_json

#: Files Python imports or executes, or the OS loads as code.
CODE_SUFFIXES = (".py", ".pyw", ".pyc", ".pyo", ".pyd", ".pyi", ".pyx", ".pth", ".so", ".dylib", ".dll",
                 ".sh", ".bash", ".egg", ".whl", ".jar", ".exe")
#: Config keys whose value is a ``module:function`` resolved in the job's ``custom/`` folder.
ENTRY_POINT_KEYS = ("controller", "executor")
_CONFIG_NAMES = ("config_fed_server.json", "config_fed_client.json")
#: Enough to name the problem; a listing of thousands helps nobody.
_MAX_REPORTED = 5


def _config_entry_points(path: Path) -> list[str]:
    try:
        config = safe_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # validation reports a broken config; here it simply names no code
    if not isinstance(config, dict):
        return []
    return [f"{path.name}: {key} {config[key]!r}" for key in ENTRY_POINT_KEYS if key in config]


def job_code(folder: Path) -> list[str]:
    """Why ``folder`` (a job folder, or one app of it) is custom code: up to a few reasons, [] if it is not."""
    reasons: list[str] = []
    root = Path(folder)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        relative = here.relative_to(root)
        if here.name == "custom" and (dirnames or filenames):
            reasons.append(f"{relative.as_posix()}/ holds files")
        for name in sorted(filenames):
            if name.lower().endswith(CODE_SUFFIXES):
                reasons.append((relative / name).as_posix())
            elif name in _CONFIG_NAMES and here.name == "config":
                reasons.extend(f"{relative.as_posix()}/{entry}" for entry in _config_entry_points(here / name))
        if len(reasons) >= _MAX_REPORTED:
            break
    return reasons[:_MAX_REPORTED]
