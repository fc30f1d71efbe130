"""``flare-console demo --engine nvflare``: a FLARE POC started, the console on it, everything stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shell_helpers import console_env

# Runs the console as if the [nvflare] extra were not installed, whatever this venv holds.
WITHOUT_NVFLARE = "import sys; sys.modules['nvflare'] = None; from console.cli import main; sys.exit(main())"


def test_demo_on_flare_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_NVFLARE, "demo", "--engine", "nvflare"], input="",
                          capture_output=True, text=True, timeout=60, env=console_env(tmp_path))
    assert done.returncode == 2
    assert "NVIDIA FLARE is not installed" in done.stderr
    assert "pip install 'flare-console[nvflare]'" in done.stderr
