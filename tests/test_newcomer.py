"""What a newcomer meets first: ``--version``, the README's commands as written, the kits' scripts, and
the hints the console prints naming the executable that really runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import console

REPO = Path(__file__).resolve().parent.parent


def _console(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd)


@pytest.mark.timeout(120)
def test_version_names_the_package_and_flare_only_when_the_extra_is_installed(tmp_path: Path) -> None:
    plain = _console("--version")
    assert plain.returncode == 0 and plain.stdout == f"flare-console {console.__version__}\n", plain
    # The extra is a distribution beside ours: its metadata is what --version reads, not an import of nvflare.
    dist = tmp_path / "nvflare-2.9.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nvflare\nVersion: 2.9.0\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    with_flare = _console("--version", env=env)
    assert with_flare.stdout.splitlines() == [f"flare-console {console.__version__}", "NVIDIA FLARE 2.9.0"], with_flare
    # Beside other flags it still only prints the version (no kit, no connection).
    assert _console("--kit", "/nowhere", "--version").stdout.startswith("flare-console ")
