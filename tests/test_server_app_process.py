"""A job's server app as a real child process: the control channel, exit codes, abort."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES


def start(tmp_path: Path, example: str = "hello-server", args: dict | None = None,
          config: dict | None = None) -> tuple[subprocess.Popen[str], Path]:
    app = tmp_path / "app_server"
    shutil.copytree(EXAMPLES / example / "app", app)
    config_path = app / "config" / "config_fed_server.json"
    data = json.loads(config_path.read_text()) if config is None else config
    if args:
        data["args"].update(args)
    config_path.write_text(json.dumps(data))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.runtime.server_app", "--job-id", "job-1", "--app-dir", str(app),
         "--workspace", str(workspace)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=workspace,
    )
    return proc, workspace


def events(proc: subprocess.Popen[str]) -> list[dict]:
    assert proc.stdout is not None
    return [json.loads(line) for line in proc.stdout]


def test_channel_result_and_log(tmp_path: Path) -> None:
    proc, ws = start(tmp_path, args={"step_seconds": 0.05})
    got = events(proc)
    assert proc.wait(20) == 0
    assert got[0] == {"event": "started"}
    assert [e["data"] for e in got[1:]] == [{"step": k, "steps": 3} for k in (1, 2, 3)]
    assert json.loads((ws / "result.json").read_text()) == {"steps_done": 3, "job_id": "job-1"}
    assert "step 3/3 done" in (ws / "log.txt").read_text()


def test_failing_app_exits_1_with_traceback(tmp_path: Path) -> None:
    proc, ws = start(tmp_path, "hello-server-fail", args={"step_seconds": 0.05})
    events(proc)
    assert proc.wait(20) == 1
    log = (ws / "log.txt").read_text()
    assert "Traceback" in log and "step 2 failed on purpose" in log


@pytest.mark.parametrize("how", ["abort-line", "stdin-closed"])
def test_abort_stops_the_app(tmp_path: Path, how: str) -> None:
    proc, ws = start(tmp_path, args={"steps": 1000, "step_seconds": 0.1})
    assert proc.stdout is not None and json.loads(proc.stdout.readline()) == {"event": "started"}
    assert proc.stdin is not None
    if how == "abort-line":
        proc.stdin.write("abort\n")
        proc.stdin.flush()
    else:
        proc.stdin.close()
    assert proc.wait(5) == 3
    assert "stopping" in (ws / "log.txt").read_text()


def test_bad_config_exits_2(tmp_path: Path) -> None:
    proc, ws = start(tmp_path, config={"controller": "nosuchmodule:run", "args": {}})
    events(proc)
    assert proc.wait(20) == 2
    assert "cannot import controller module 'nosuchmodule'" in (ws / "log.txt").read_text()
    proc, ws = start(tmp_path / "2", config={"workflow": "warp-drive"})
    events(proc)
    assert proc.wait(20) == 2
    assert "unknown workflow 'warp-drive'" in (ws / "log.txt").read_text()
