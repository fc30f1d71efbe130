"""Fixtures that start real parts: a provisioned project and a real server process.

Every process a fixture starts is stopped at teardown, also when the test failed.
Ports are ephemeral: picked free on loopback when the project is provisioned.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from console.provision.kits import provision

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
ADMIN = "admin@example.com"
READY_LINE = "admin endpoint listening"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Project:
    workspace: Path
    prod: Path
    name: str

    def kit(self, participant: str) -> Path:
        return self.prod / participant

    @property
    def server_kit(self) -> Path:
        return self.kit("server")

    @property
    def admin_kit(self) -> Path:
        return self.kit(ADMIN)


def make_project(root: Path, name: str = "test_project", extra: list[dict] | None = None) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    fed_port, admin_port = free_port(), free_port()
    participants = [
        {"name": "server", "type": "server", "org": "example", "host": "localhost",
         "fed_learn_port": fed_port, "admin_port": admin_port},
        {"name": "site-1", "type": "client", "org": "example"},
        {"name": "site-2", "type": "client", "org": "example"},
        {"name": ADMIN, "type": "admin", "org": "example", "role": "project_admin"},
        *(extra or []),
    ]
    project_file = root / f"{name}.yml"
    project_file.write_text(yaml.safe_dump({"name": name, "participants": participants}))
    prod = provision(project_file, root / "workspace")
    return Project(root / "workspace", Path(prod), name)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


class ServerProcess:
    """A real ``flare-console server`` child process."""

    def __init__(self, kit: Path) -> None:
        self.kit = kit
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path = kit / "server-stderr.txt"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.stderr_path.write_bytes(b"")
        stderr = open(self.stderr_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console", "server", str(self.kit)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )
        stderr.close()

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.stderr}")
            return READY_LINE in self.stderr

        wait_until(ready, timeout, "the server to listen")
        return self

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def server(project: Project) -> Iterator[ServerProcess]:
    proc = ServerProcess(project.server_kit)
    try:
        yield proc.start()
    finally:
        proc.stop()
        proc.kill()


@pytest.fixture
def session(server: ServerProcess, project: Project) -> Iterator[object]:
    from console.flare_api import new_secure_session

    sess = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
    try:
        yield sess
    finally:
        sess.close()
