"""Fixtures that start real parts: a provisioned project and a real server process.

Every process a fixture starts is stopped at teardown, also when the test failed.
Ports are ephemeral: picked free on loopback when the project is provisioned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as fuzz_settings
from kit_cache import copy_project, project_file_text
from nvflare_poc import (  # noqa: F401  (flare_poc, flare_venv: fixtures)
    GROUP_HELP,
    MARKER_HELP,
    check_groups_hold,
    flare_poc,
    flare_venv,
    give_first_flare_tests_the_setup_time,
    mark_flare_test,
)

from console.ports import free_port
from console.provision.kits import PROJECT_COPY, provision

REPO = Path(__file__).resolve().parent.parent
# Property tests run hypothesis' usual 100 examples each in `make test` (the whole suite stays under
# its 15 minutes); `pytest --hypothesis-profile=deep tests/test_log_window.py` runs 1,000 each, for a
# change to what they cover. A test that sets its own (smaller) count keeps it.
fuzz_settings.register_profile("deep", max_examples=1000)
# benchmarks/raw_admin.py: the raw admin peer the audit benchmark and the tests share (appended: nothing of ours shadowed)
sys.path.append(str(REPO / "benchmarks"))
EXAMPLES = REPO / "examples"
ADMIN = "admin@example.com"
READY_LINE = "admin endpoint listening"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    # The consoles tests start in ptys of a given size must see that size: shutil.get_terminal_size
    # (the pager's "taller than the screen") takes LINES and COLUMNS first, and an xdist worker has
    # LINES=24 COLUMNS=80 in its environment (a 12-row pty's list_jobs then went unpaged).
    for name in ("LINES", "COLUMNS"):
        os.environ.pop(name, None)
    config.addinivalue_line("markers", GROUP_HELP)  # (xdist's own, known also without xdist)


def pytest_itemcollected(item: pytest.Item) -> None:
    mark_flare_test(item)


@pytest.hookimpl(trylast=True)  # after any reordering: the first FLARE test run is the one set up on
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    give_first_flare_tests_the_setup_time(items)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook, on its controller
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    check_groups_hold(node.config, ids)


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
    if (root / "workspace" / name).exists():  # a project made here before: provisioned again, as a user would
        project_file = root / f"{name}.yml"
        project_file.write_text(project_file_text(name, participants))
        prod = provision(project_file, root / "workspace")
    else:
        prod = copy_project(root, name, participants, fed_port, admin_port, provision, PROJECT_COPY)
    project = Project(root / "workspace", Path(prod), name)
    # A site killed mid-job is counted lost after this grace, not the 60 s by default a job waits for
    # a dropped site to come back (test_server_freeze_job sets its own).
    set_connection_limits(project.server_kit, site_reconnect_grace_seconds=TEST_RECONNECT_GRACE)
    return project


#: connection_limits.site_reconnect_grace_seconds of the tests' projects.
TEST_RECONNECT_GRACE = 3.0


def set_connection_limits(server_kit: Path, **limits: float) -> None:
    """Write ``connection_limits`` into a server kit's fed_server.json (before it starts), over those it has."""
    import json

    path = server_kit / "startup" / "fed_server.json"
    config = json.loads(path.read_text())
    config["servers"][0]["connection_limits"] = {**config["servers"][0].get("connection_limits", {}), **limits}
    path.write_text(json.dumps(config))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


class PartProcess:
    """A real ``flare-console server|site KIT`` child process."""

    def __init__(self, kind: str, kit: Path, ready_line: str) -> None:
        self.kind = kind
        self.kit = kit
        self.ready_line = ready_line
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path = kit / f"{kind}-stderr.txt"
        self.argv = [sys.executable, "-m", "console", kind, str(kit)]  # a hostile part runs its own script
        self.env: dict[str, str] = {}  # more environment for it (a hostile part's mode)

    def start(self, timeout: float = 20.0, wait: bool = True) -> PartProcess:
        self.stderr_path.write_bytes(b"")
        stderr = open(self.stderr_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )
        stderr.close()
        if wait:
            self.wait_for_line(self.ready_line, timeout)
        return self

    def wait_for_line(self, text: str, timeout: float = 20.0) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.kind} exited with {self.process.returncode}:\n{self.stderr}")
            return text in self.stderr

        wait_until(seen, timeout, f"{self.kind} to log {text!r}")

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
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


def start_together(parts: list[PartProcess], timeout: float = 20.0) -> None:
    """Start every part at once, then wait for each one's ready line: their start-ups overlap
    (each is a Python start, imports and a TLS login), so two sites take about as long as one."""
    for part in parts:
        part.start(wait=False)
    for part in parts:
        part.wait_for_line(part.ready_line, timeout)


def stop_together(parts: list[PartProcess], timeout: float = 15.0) -> None:
    """SIGTERM every part still running, then wait for them all (SIGKILL for one that outlasts
    ``timeout``): their shutdowns overlap. Every part is dealt with, also when one fails."""
    running = [part for part in parts if part.process is not None and part.process.poll() is None]
    for part in running:
        with contextlib.suppress(ProcessLookupError):
            part.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for part in running:
        try:
            part.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            part.kill()


def ServerProcess(kit: Path) -> PartProcess:  # noqa: N802 (reads as the class it used to be)
    return PartProcess("server", kit, READY_LINE)


def SiteProcess(kit: Path) -> PartProcess:  # noqa: N802
    return PartProcess("site", kit, "connected to the server")


#: The project's real site code with its own certificate, answering as its HOSTILE_* mode says.
HOSTILE_SITE = Path(__file__).parent / "hostile_site.py"


def HostileSiteProcess(kit: Path, **mode: str) -> PartProcess:  # noqa: N802
    """The site of ``kit`` run by tests/hostile_site.py, ``mode`` its environment (HOSTILE_REPLIES=...)."""
    part = SiteProcess(kit)
    part.argv = [sys.executable, str(HOSTILE_SITE), str(kit)]
    part.env = dict(mode)
    return part


@contextlib.contextmanager
def running_federation(project: Project, timeout: float = 30) -> Iterator[tuple[PartProcess, object]]:
    """The project's server and both sites, and an admin session once both sites registered:
    ``(server, session)``; everything is stopped on the way out, also after a failure."""
    from console.flare_api import new_secure_session

    server = ServerProcess(project.server_kit)
    parts = [server]
    session = None
    try:
        server.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        sites = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
        parts.extend(sites)
        start_together(sites)
        wait_until(lambda: len(session.get_system_info().client_info) == 2, timeout, "both sites to register")
        yield server, session
    finally:
        stop_federation(server, parts[1:], session)


def stop_federation(server: PartProcess, sites: list[PartProcess], session: Any = None) -> None:
    """Close ``session`` (an admin session, if one was opened), then stop the sites, then the server: a site
    whose server went first would retry it. Every part is stopped, also when the session's close fails."""
    try:
        if session is not None:
            session.close()
    finally:
        stop_together(sites)
        stop_together([server])


@dataclass
class Federation:
    project: Project
    server: PartProcess
    session: Any


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """One server and both sites shared by a module's tests whose jobs leave them as they were (each
    waits for its job to end); a test that kills, freezes, cuts, restarts or reconfigures a part
    starts its own (``server``, ``session``, ``sites``). Starting them costs seconds per test."""
    project = make_project(tmp_path_factory.mktemp("federation"))
    with running_federation(project) as (server, session):
        yield Federation(project, server, session)


@dataclass
class Served:
    project: Project
    server: PartProcess


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server (no site) shared by a module's tests that only connect to it and leave its
    state alone: refused logins, say. The server is stopped after the module, also on failure."""
    project = make_project(tmp_path_factory.mktemp("served"))
    server = ServerProcess(project.server_kit)
    try:
        yield Served(project, server.start())
    finally:
        server.stop()
        server.kill()


@pytest.fixture
def server(project: Project) -> Iterator[PartProcess]:
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


@pytest.fixture
def sites(server: PartProcess, project: Project, session) -> Iterator[dict[str, PartProcess]]:
    """site-1 and site-2, connected (as the server sees it) before the test starts."""
    procs = {name: SiteProcess(project.kit(name)) for name in ("site-1", "site-2")}
    try:
        start_together(list(procs.values()))
        wait_until(lambda: len(session.get_system_info().client_info) == 2, 20, "both sites to register")
        yield procs
    finally:
        stop_together(list(procs.values()))
