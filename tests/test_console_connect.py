"""The console's first connection: a refused port fails at once (both engines), a silent server says
"connecting to HOST:PORT..." and fails after --timeout. The installed console as a child process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from relay import kit_through
from shell_helpers import CONSOLE, console_env, run_console, wrapped

REPO = Path(__file__).resolve().parent.parent


def _closed_port() -> int:
    """A loopback port nothing listens on (taken from the system, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that takes connections and never answers (a hung server): its number."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.mark.timeout(120)
def test_a_refused_connection_fails_at_once_and_a_silent_server_says_connecting(
        project, tmp_path: Path, silent_listener: int) -> None:
    refused = kit_through(project.admin_kit, _closed_port(), tmp_path / "kit-refused")
    started = time.monotonic()
    result = run_console(tmp_path, "--kit", str(refused), "--timeout", "60", "-c", "list_jobs")
    assert result.returncode == 2
    assert "the connection was refused (nothing listens on that port)" in result.stderr, result.stderr
    assert time.monotonic() - started < 30  # not the 60 s timeout: the refusal is final

    silent = kit_through(project.admin_kit, silent_listener, tmp_path / "kit-silent")
    child = pexpect.spawn(CONSOLE, ["--kit", str(silent), "--timeout", "1.5"], env=console_env(tmp_path),
                          encoding="utf-8", timeout=60)
    try:
        child.expect(f"connecting to localhost:{silent_listener}\\.\\.\\.")
        child.expect("\r\n" + wrapped(f"flare-console: NoConnection: the server at localhost:{silent_listener} "
                                      "took the connection but did not answer within 1.5 s"))  # (broken between words)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 2


@pytest.mark.timeout(60)
def test_ctrl_c_while_connecting_ends_the_line_and_exits_130(project, tmp_path: Path, silent_listener: int) -> None:
    silent = kit_through(project.admin_kit, silent_listener, tmp_path / "kit-silent")
    child = pexpect.spawn(CONSOLE, ["--kit", str(silent), "--timeout", "30"], env=console_env(tmp_path),
                          encoding="utf-8", timeout=30)
    try:
        child.expect(f"connecting to localhost:{silent_listener}\\.\\.\\.")
        child.sendintr()
        child.expect(pexpect.EOF)
        # The line "connecting to ..." ends (after the terminal's ^C echo): a prompt after it starts a line.
        assert child.before.endswith("\r\n"), repr(child.before)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130


@pytest.mark.timeout(300)
def test_a_refused_connection_fails_at_once_on_flare(flare_venv: Path, project, tmp_path: Path) -> None:
    """FLARE's own login retries a refused port for its whole timeout; the console does not wait for it."""
    admin = tmp_path / "flare_project" / "prod_00" / "admin@nvidia.com" / "startup"
    admin.mkdir(parents=True)
    for name in ("client.crt", "client.key", "rootCA.pem"):
        shutil.copy(project.admin_kit / "startup" / name, admin / name)
    (admin / "fed_admin.json").write_text(json.dumps({"format_version": 1, "admin": {
        "project_name": "flare_project", "username": "", "server_identity": "server", "scheme": "http",
        "host": "localhost", "port": _closed_port(), "connection_security": "mtls", "uid_source": "cert",
        "with_file_transfer": True, "upload_dir": "transfer", "download_dir": "transfer",
        "client_key": "client.key", "client_cert": "client.crt", "ca_cert": "rootCA.pem"}}))
    (admin / "fl_admin.sh").write_text("#!/usr/bin/env bash\n")
    env = {**console_env(tmp_path), "PYTHONPATH": str(REPO)}
    # A kit FLARE would refuse at login (no local/ folder): named before FLARE's login, never a traceback.
    result = subprocess.run([str(flare_venv), "-m", "console", "--kit", str(admin.parent), "-c", "list_jobs"],
                            capture_output=True, text=True, timeout=200, env=env, cwd=os.fspath(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "this FLARE admin kit has no local/ folder" in result.stderr, result.stderr
    assert "copy the kit whole as provisioning wrote it" in result.stderr, result.stderr
    (admin.parent / "local").mkdir()
    started = time.monotonic()
    result = subprocess.run([str(flare_venv), "-m", "console", "--kit", str(admin.parent), "--timeout", "90",
                             "-c", "list_jobs"], capture_output=True, text=True, timeout=200, env=env,
                            cwd=os.fspath(tmp_path))
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert "the connection was refused (nothing listens on that port)" in result.stderr, result.stderr
    assert took < 60, took  # FLARE's import and the 0.5 s before asking, not the 90 s timeout
