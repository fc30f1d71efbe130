"""``flare-console demo``: a local project, a real server, and the console logged in to it.

Provisions once into the user's data dir (or ``--workspace``) and reuses it afterwards;
starts the server as a child process; stages the examples in the admin kit's upload
folder; opens the shell as the project admin (a batch when stdin is not a terminal);
stops the server on the way out, also on Ctrl-C or an error.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from console.provision.kits import provision

ADMIN = "admin@example.com"
PROJECT = "demo_project"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "flare-console"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _latest_prod(workspace: Path) -> Path | None:
    prods = sorted((workspace / PROJECT).glob("prod_[0-9][0-9]"))
    return prods[-1] if prods else None


def ensure_project(workspace: Path) -> Path:
    """The demo's newest prod folder, provisioning it the first time."""
    prod = _latest_prod(workspace)
    if prod is not None:
        return prod
    workspace.mkdir(parents=True, exist_ok=True)
    project_file = workspace / "project.yml"
    project_file.write_text(yaml.safe_dump({
        "name": PROJECT,
        "participants": [
            {"name": "server", "type": "server", "org": "demo", "host": "localhost",
             "fed_learn_port": _free_port(), "admin_port": _free_port()},
            {"name": "site-1", "type": "client", "org": "demo"},
            {"name": "site-2", "type": "client", "org": "demo"},
            {"name": ADMIN, "type": "admin", "org": "demo", "role": "project_admin"},
        ],
    }))
    return Path(provision(project_file, workspace))


def _stage_examples(admin_kit: Path) -> list[str]:
    """Copy the examples into the admin kit's upload folder: ``submit_job hello-server`` finds them."""
    transfer = admin_kit / "transfer"
    staged = []
    for example in sorted(EXAMPLES.iterdir()) if EXAMPLES.is_dir() else []:
        if (example / "meta.json").is_file():
            shutil.copytree(example, transfer / example.name, dirs_exist_ok=True)
            staged.append(example.name)
    return staged


def _wait_for_server(admin_kit: Path, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    from console.flare_api import NoConnection, new_secure_session

    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            new_secure_session(ADMIN, str(admin_kit), timeout=2).close()
            return
        except NoConnection:
            if time.monotonic() > deadline:
                raise


def run_demo(workspace: str | None) -> int:
    root = Path(workspace).expanduser() if workspace else user_data_dir() / "demo"
    prod = ensure_project(root)
    server_kit = prod / "server"
    print(f"demo project: {prod}")
    stderr_path = server_kit / "server-stderr.txt"
    with open(stderr_path, "ab") as stderr:
        server = subprocess.Popen([sys.executable, "-m", "console", "server", str(server_kit)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        admin_kit = prod / ADMIN
        staged = _stage_examples(admin_kit)
        _wait_for_server(admin_kit, server)
        if sys.stdin.isatty():
            print(f"jobs ready to submit: {', '.join(staged)}  (try: submit_job {staged[0] if staged else 'FOLDER'})")
        from console.cli import build_parser
        from console.shell.main import run_shell

        return run_shell(build_parser().parse_args(["--kit", str(admin_kit)]))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"demo failed: {type(exc).__name__}: {exc} (server log: {server_kit / 'log.txt'})", file=sys.stderr)
        return 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        print("server stopped")
