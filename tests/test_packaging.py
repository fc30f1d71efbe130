"""A regular (non-editable) install finds its themes and runs the console."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import REPO


def test_wheel_install_finds_themes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                    str(REPO)], check=True, capture_output=True)
    venv = tmp_path / "venv"
    # No pip of its own (ensurepip takes 5-7 s): this environment's pip installs into it (--python).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # Dependencies come from the test environment's site-packages as a plain path entry: its
    # editable install of this checkout is a .pth hook there, which a plain path does not run.
    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((tmp_path / "dist").glob("flare_console-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True)
    probe = ("import console.shell.themes as t, console; "
             "print(console.__file__); print(sorted(t.available_themes()))")
    result = subprocess.run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            check=True)
    where, themes = result.stdout.splitlines()
    assert str(venv) in where  # the installed copy, not the checkout
    assert themes == "['dark', 'high-contrast', 'light', 'monokai']"
    help_text = subprocess.run([venv / "bin" / "flare-console", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "provision" in help_text.stdout
