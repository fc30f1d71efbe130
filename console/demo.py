"""``flare-console demo``: a local project, a real server, and a scripted FLARE API session.

Provisions once into the user's data dir (or ``--workspace``) and reuses it afterwards;
starts the server as a child process; drives it through ``console.flare_api`` with the
``hello-server`` example; stops the server on the way out, also on Ctrl-C or an error.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
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


def _scripted_session(admin_kit: Path) -> None:
    from console.flare_api import new_secure_session

    sess = new_secure_session(ADMIN, str(admin_kit), timeout=20)
    try:
        print(sess.get_system_info())
        job_id = sess.submit_job(str(EXAMPLES / "hello-server"))
        print(f"submitted hello-server as {job_id}")

        def show(session: object, jid: str, meta: dict, *args: object, **kwargs: object) -> bool:
            print(f"  {jid[:8]}  {meta['name']}  {meta['status']}")
            return True

        sess.monitor_job(job_id, poll_interval=0.5, cb=show)
        meta = sess.get_job_meta(job_id)
        print(f"finished: {meta['status']} in {meta['duration']}")
        result = Path(sess.download_job_result(job_id))
        print(f"downloaded to {result}")
        result_file = result / "workspace" / "result.json"
        if result_file.is_file():
            print(f"result.json: {json.loads(result_file.read_text())}")
        print("jobs on the server:")
        for row in sess.list_jobs(reverse=True, limit=5):
            print(f"  {row['job_id'][:8]}  {row['job_name']:<20} {row['status']:<28} {row['submit_time']}")
    finally:
        sess.close()


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
        _scripted_session(prod / ADMIN)
        return 0
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
