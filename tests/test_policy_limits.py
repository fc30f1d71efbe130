"""Issue 12: nobody gets more than the policy grants (custom code, keys and kit internals, logs).

Real server, real sites, real job child processes; every process started here is stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.flare_api import AuthorizationError, new_secure_session
from console.jobdef.code import job_code

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, wait_until

LEAD = "lead@example.com"
MEMBER = "member@example.com"
OTHER_LEAD = "lead@other.org"
PEOPLE = [
    {"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
    {"name": OTHER_LEAD, "type": "admin", "org": "other", "role": "lead"},
    {"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
]
EVIL = "from pathlib import Path\n\ndef run(ctx):\n    Path({marker!r}).write_text('ran')\n\ntrain = run\n"


def _forbid_byoc_for_lead(kit: Path) -> None:
    path = kit / "local" / "authorization.json"
    policy = json.loads(path.read_text())
    policy["permissions"]["lead"]["byoc"] = "none"
    path.write_text(json.dumps(policy))


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A server and site-1, with 'byoc: none' for leads on both, and a session per person."""
    project = make_project(tmp_path_factory.mktemp("limits"), extra=PEOPLE)
    for part in ("server", "site-1"):
        _forbid_byoc_for_lead(project.kit(part))
    server = ServerProcess(project.server_kit)
    site = SiteProcess(project.kit("site-1"))
    sessions: dict = {}
    try:
        server.start()
        for who in (ADMIN, LEAD, OTHER_LEAD, MEMBER):
            sessions[who] = new_secure_session(who, str(project.kit(who)))
        site.start()
        wait_until(lambda: sessions[ADMIN].get_connected_client_list(), 20, "site-1 to connect")
        yield {"project": project, "server": server, "site": site, **sessions}
    finally:
        for sess in sessions.values():
            sess.close()
        site.stop()
        server.stop()


def _evil_job(root: Path, marker: Path, *, where: str = "top") -> Path:
    """A job whose apps bring code outside custom/ (``where``: top, nested, so) and name it in configs."""
    job = root / f"evil-{where}"
    for app, config, key in (("app_server", "config_fed_server.json", "controller"),
                             ("app_site-1", "config_fed_client.json", "executor")):
        (job / app / "config").mkdir(parents=True, exist_ok=True)
        (job / app / "config" / config).write_text(json.dumps({key: f"{app}.evil:run"}))
        code_dir = job / app / ("lib" if where == "nested" else "")
        code_dir.mkdir(parents=True, exist_ok=True)
        name = "evil.cpython-311-x86_64-linux-gnu.so" if where == "so" else "evil.py"
        (code_dir / name).write_text(EVIL.format(marker=str(marker)))
    (job / "meta.json").write_text(json.dumps({"name": "evil", "min_clients": 1, "deploy_map": {
        "app_server": ["server"], "app_site-1": ["site-1"]}}))
    return job


# -- 1. custom code wherever it lies ------------------------------------------------------------


def test_job_code_is_found_wherever_it_lies(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for where in ("top", "nested", "so"):
        assert job_code(_evil_job(tmp_path, marker, where=where)), where
    data_only = tmp_path / "data-only"
    (data_only / "app" / "config").mkdir(parents=True)
    (data_only / "app" / "config" / "config_fed_server.json").write_text('{"workflow": "fedavg"}')
    (data_only / "app" / "weights.npz").write_bytes(b"x")
    (data_only / "app" / "custom").mkdir()  # empty: no code
    assert job_code(data_only) == []
    (data_only / "app" / "config" / "config_fed_client.json").write_text('{"executor": "trainer:train"}')
    assert job_code(data_only) == ["app/config/config_fed_client.json: executor 'trainer:train'"]


def _run_child(app: str, workspace: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """A job child process as the runner starts it: cwd = the job workspace."""
    module, who = (("console.runtime.server_app", ["--sites", ""]) if app == "app_server"
                   else ("console.runtime.site_app", ["--site", "site-1"]))
    return subprocess.run([sys.executable, "-m", module, "--job-id", "j", *who, "--app-dir", str(workspace / app),
                           "--workspace", str(workspace), *extra], cwd=workspace, input=b"", capture_output=True,
                          timeout=60)


@pytest.mark.timeout(120)
def test_job_processes_import_only_from_custom_and_only_when_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    workspace = _evil_job(tmp_path, marker)
    for app in ("app_server", "app_site-1"):
        # Code at the app's top level is never imported, whatever the policy says.
        for extra in ((), ("--custom-code",)):
            assert _run_child(app, workspace, *extra).returncode == 2
            assert not marker.exists(), (app, extra)
        assert "not in the app's custom/ folder" in (workspace / "log.txt").read_text()
        # The same code in custom/ runs only with the right.
        (workspace / app / "custom").mkdir(exist_ok=True)
        (workspace / app / "custom" / "mine.py").write_text(EVIL.format(marker=str(marker)))
        config = workspace / app / "config" / ("config_fed_server.json" if app == "app_server"
                                               else "config_fed_client.json")
        config.write_text(json.dumps({"controller" if app == "app_server" else "executor": "mine:run"}))
        assert _run_child(app, workspace).returncode == 2
        assert not marker.exists()
        assert "lacks the 'byoc' right" in (workspace / "log.txt").read_text()
    assert _run_child("app_server", workspace, "--custom-code").returncode == 0
    assert marker.read_text() == "ran"


def test_code_outside_custom_needs_the_byoc_right(fed, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for where in ("top", "nested"):
        with pytest.raises(AuthorizationError, match=r"lacks the right 'byoc'.*evil"):
            fed[LEAD].submit_job(str(_evil_job(tmp_path, marker, where=where)))
    assert fed[LEAD].list_jobs() == []
    assert not marker.exists()
