"""Job folders for tests, made from the shipped examples."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from conftest import EXAMPLES


def hello_server(root: Path, *, name: str = "hello-server", steps: int = 3, step_seconds: float = 0.3,
                 fail: bool = False) -> Path:
    """A copy of examples/hello-server (or -fail) with its name and step plan changed."""
    source = EXAMPLES / ("hello-server-fail" if fail else "hello-server")
    folder = root / f"{name}-{steps}x{step_seconds}"
    if folder.exists():
        return folder
    shutil.copytree(source, folder)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["name"] = name
    meta_path.write_text(json.dumps(meta))
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config["args"].update({"steps": steps, "step_seconds": step_seconds})
    config_path.write_text(json.dumps(config))
    return folder


def waiting_for_sites(root: Path, name: str = "needs-sites") -> Path:
    """A job whose deploy_map names sites that never connect: it stays SUBMITTED."""
    folder = hello_server(root, name=name)
    meta = json.loads((folder / "meta.json").read_text())
    meta["deploy_map"] = {"app": ["server", "site-1", "site-2"]}
    meta["min_clients"] = 2
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "app" / "config" / "config_fed_client.json").write_text(json.dumps({"executor": "x:y"}))
    return folder


SLOW_TRAINER = '''
import time
from console.runtime.contract import TaskResult

SLEEP = {sleep}
FAIL_ON = {fail_on!r}


def train(model, ctx):
    if ctx.site_name == FAIL_ON:
        raise ValueError(f"{{ctx.site_name}} cannot train today")
    deadline = time.monotonic() + SLEEP
    while time.monotonic() < deadline and not ctx.aborted():
        time.sleep(0.02)
    return TaskResult({{k: v + 1 for k, v in model.items()}}, weight=1.0, metrics={{"round": ctx.round}})
'''


def numpy_job(root: Path, *, name: str = "numpy-job", rounds: int = 3, sleep: float = 0.0,
              fail_on: str | None = None, min_clients: int = 2, mandatory: list[str] | None = None,
              task_timeout: float | None = None) -> Path:
    """A copy of examples/hello-numpy with a configurable trainer."""
    # The folder name obeys FLARE's job folder rule (letters, digits, . _ -), as submit_job checks.
    folder = root / f"{name}-{rounds}-{sleep}-{fail_on}-{min_clients}-{'_'.join(mandatory or []) or 'none'}"
    if folder.exists():
        return folder
    shutil.copytree(EXAMPLES / "hello-numpy", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(name=name, min_clients=min_clients, mandatory_clients=mandatory or [])
    if task_timeout:
        meta["task_timeout"] = task_timeout
    (folder / "meta.json").write_text(json.dumps(meta))
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config["args"].update(num_rounds=rounds, min_clients=min_clients)
    config_path.write_text(json.dumps(config))
    (folder / "app" / "custom" / "trainer.py").write_text(SLOW_TRAINER.format(sleep=sleep, fail_on=fail_on))
    return folder


#: Round 1 at once, then rounds that last until the job is aborted: a running job whose round 1 is
#: recorded, and whose next round is not pushed while a test looks (top's tests).
STALLING_TRAINER = '''
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    while ctx.round > 1 and not ctx.aborted():
        time.sleep(0.05)
    return TaskResult({k: v + 1 for k, v in model.items()}, weight=1.0,
                      metrics={"accuracy": 0.25 if ctx.site_name == "site-1" else 0.75})
'''


def stalling_job(root: Path, name: str) -> Path:
    """A hello-numpy job of 5 rounds whose round 1 ends at once and round 2 lasts until it is aborted."""
    folder = numpy_job(root, name=name, rounds=5)
    (folder / "app" / "custom" / "trainer.py").write_text(STALLING_TRAINER)
    return folder


def archived_file(server_kit: Path, job_id: str, name: str) -> bytes:
    """A file of a finished job's server workspace, as the store keeps it (workspace.zip): the
    workspace folder itself is gone once archived, but for its log."""
    with zipfile.ZipFile(server_kit / "store" / "jobs" / job_id / "workspace.zip") as archive:
        return archive.read(name)


def archived_model(server_kit: Path, job_id: str, name: str = "models/final_model.npz") -> dict[str, Any]:
    """A model the job's server workspace archive keeps, as named arrays."""
    import numpy as np

    with np.load(io.BytesIO(archived_file(server_kit, job_id, name))) as model:
        return {key: model[key] for key in model.files}


def short_of_sites(root: Path, source: Path | str, site: str) -> Path:
    """A copy of job ``source``, ``root/needs-site-9``, named needs-site-9, whose deploy_map names the server,
    ``site`` and site-9 (a site that never connects) and that needs both sites (min_clients 2): it waits,
    SUBMITTED, for as long as site-9 is away."""
    folder = root / "needs-site-9"
    shutil.copytree(source, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(name="needs-site-9", deploy_map={"app": ["server", site, "site-9"]}, min_clients=2)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder
