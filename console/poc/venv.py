"""A cached venv with NVIDIA FLARE, for callers whose own interpreter lacks it (tests, benchmarks).

``~/.cache/flare-console/nvflare-<version>`` by default (``FLARE_PEER_VENV`` overrides), created
on first use (about a minute and 240 MB) and reused after. Several worktrees and runs share it,
so creation and installs hold a file lock, and what is installed is recorded in a stamp file:
a warm cache costs one version probe, no pip run.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from console.own_files import private_folder
from console.poc.errors import PocError

NVFLARE_VERSION = "2.9.0"
DEFAULT_VENV = Path.home() / ".cache" / "flare-console" / f"nvflare-{NVFLARE_VERSION}"
STAMP = ".flare-console-extras"


def core_requirements() -> list[str]:
    """flare-console's own dependencies (no extras), as installed: what our console needs beside FLARE."""
    return [req for req in importlib.metadata.requires("flare-console") or [] if "extra ==" not in req]


def flare_venv_dir() -> Path:
    return Path(os.environ.get("FLARE_PEER_VENV", str(DEFAULT_VENV))).expanduser()


def ensure_flare_venv(extra: Sequence[str] = (), log: Callable[[str], object] = print,
                      venv: Path | None = None) -> Path:
    """The venv's python, with ``nvflare==NVFLARE_VERSION`` and the ``extra`` requirements installed.

    Raises ``PocError`` with pip's output when an install fails.
    """
    venv = venv or flare_venv_dir()
    python = venv / "bin" / "python"
    if venv == DEFAULT_VENV:  # the console's own cache folder: only the user's (console.own_files)
        private_folder(venv.parent)
    venv.parent.mkdir(parents=True, exist_ok=True)
    wanted = "\n".join(sorted(extra))
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also on an exception
        if _installed_version(python) != NVFLARE_VERSION:
            log(f"installing nvflare=={NVFLARE_VERSION} into {venv} (about a minute, once)")
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            _pip(python, f"nvflare=={NVFLARE_VERSION}")
            if _installed_version(python) != NVFLARE_VERSION:
                raise PocError(f"nvflare=={NVFLARE_VERSION} is not importable in {venv} after installing it")
        stamp = venv / STAMP
        if extra and (not stamp.exists() or stamp.read_text() != wanted):
            log(f"installing {', '.join(extra)} into {venv}")
            # Pinning nvflare keeps pip from up- or downgrading it to satisfy an extra.
            _pip(python, *extra, f"nvflare=={NVFLARE_VERSION}")
            stamp.write_text(wanted)
    return python


def _pip(python: Path, *requirements: str) -> None:
    try:
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               *requirements], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise PocError(f"pip did not install {' '.join(requirements)} within 15 min") from exc
    if done.returncode != 0:
        raise PocError(f"pip could not install {' '.join(requirements)} into {python.parent.parent}:\n"
                       f"{done.stderr[-2000:]}")


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('nvflare'))"],
                           capture_output=True, text=True, timeout=60)
    return probe.stdout.strip() if probe.returncode == 0 else None
