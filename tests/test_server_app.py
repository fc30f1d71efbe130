"""The job's server app as a real child process: channel, log, exit codes, abort.

Every wait reads the child's stdout against a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO

DEADLINE = 20.0


@dataclass
class Child:
    proc: subprocess.Popen[str]
    workspace: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_event(self, timeout: float = DEADLINE) -> dict | None:
        """The next stdout line as JSON (every line must be JSON); None once stdout is closed."""
        line = self.lines.get(timeout=timeout)
        return None if line is None else json.loads(line)

    def wait_for(self, event: str, timeout: float = DEADLINE) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            got = self.next_event(max(0.0, deadline - time.monotonic()))
            assert got is not None, f"stdout closed before a {event!r} event"
            if got["event"] == event:
                return got

    def rest(self) -> list[dict]:
        """Every event until stdout closes, then the child's exit."""
        events = []
        while (got := self.next_event()) is not None:
            events.append(got)
        return events

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def log(self) -> str:
        return (self.workspace / "log.txt").read_text()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.wait(DEADLINE)


@pytest.fixture
def start(tmp_path: Path, children: list[Child]):
    def start(example: str = "hello-server", args: dict | None = None, config: dict | None = None,
              custom: dict[str, str] | None = None) -> Child:
        root = tmp_path / f"run{len(children)}"
        app = root / "app_server"
        shutil.copytree(EXAMPLES / example / "app", app)
        config_path = app / "config" / "config_fed_server.json"
        data = json.loads(config_path.read_text()) if config is None else config
        if args:
            data["args"].update(args)
        config_path.write_text(json.dumps(data))
        for name, code in (custom or {}).items():
            (app / "custom" / name).write_text(code)
        workspace = root / "ws"
        workspace.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.runtime.server_app", "--job-id", "job-1", "--app-dir", str(app),
             "--workspace", str(workspace), "--custom-code"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=workspace,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        children.append(Child(proc, workspace))
        return children[-1]
    return start


def test_hello_server_completes(start) -> None:
    child = start(args={"step_seconds": 0.05})
    events = child.rest()
    assert child.proc.wait(DEADLINE) == 0
    assert events == [{"event": "started"}] + [
        {"event": "progress", "data": {"step": k, "steps": 3}} for k in (1, 2, 3)
    ]
    assert json.loads((child.workspace / "result.json").read_text()) == {"steps_done": 3, "job_id": "job-1"}
    log = child.log()
    assert all(f"step {k}/3 done" in log for k in (1, 2, 3))
    assert " - ServerApp - INFO - job job-1: server app finished" in log  # the agreed log format


def test_failing_app_exits_1_with_its_traceback(start) -> None:
    child = start("hello-server-fail", args={"step_seconds": 0.05})
    events = child.rest()
    assert child.proc.wait(DEADLINE) == 1
    assert [e["event"] for e in events] == ["started", "progress", "error"]
    assert events[-1]["message"] == "the server app raised RuntimeError: hello-server-fail: step 2 failed on purpose"
    log = child.log()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: hello-server-fail: step 2 failed on purpose" in log


def test_prints_go_to_the_log_not_the_channel(start) -> None:
    noisy = (
        "import sys\n"
        "def run(ctx):\n"
        "    print('hello from print')\n"
        "    sys.stderr.write('warning from stderr\\n')\n"
        "    ctx.progress(done=True)\n"
    )
    child = start(config={"controller": "noisy:run"}, custom={"noisy.py": noisy})
    assert child.rest() == [{"event": "started"}, {"event": "progress", "data": {"done": True}}]
    assert child.proc.wait(DEADLINE) == 0
    log = child.log()
    assert "hello from print" in log and "warning from stderr" in log


@pytest.mark.parametrize("how", ["abort-line", "stdin-closed", "sigterm"])
def test_abort_mid_run_exits_3_promptly(start, how: str) -> None:
    child = start(args={"steps": 1000, "step_seconds": 0.05})
    child.wait_for("progress")  # the app is running its steps
    began = time.monotonic()
    if how == "abort-line":
        child.send("abort\n")
    elif how == "stdin-closed":
        assert child.proc.stdin is not None
        child.proc.stdin.close()
    else:
        child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(DEADLINE) == 3
    assert time.monotonic() - began < 3.0
    if how != "sigterm":
        # hello.py saw the abort and stopped by itself, before the grace period ran out.
        assert json.loads((child.workspace / "result.json").read_text())["steps_done"] < 1000


def test_an_app_that_ignores_abort_is_ended_after_the_grace_period(start) -> None:
    stubborn = (
        "import time\n"
        "def run(ctx):\n"
        "    ctx.progress(state='ignoring aborts')\n"
        "    while True:\n"
        "        time.sleep(0.05)\n"
    )
    child = start(config={"controller": "stubborn:run"}, custom={"stubborn.py": stubborn})
    child.wait_for("progress")
    began = time.monotonic()
    child.send("abort\n")
    assert child.proc.wait(DEADLINE) == 3
    assert 1.5 < time.monotonic() - began < 4.0  # the 2 s grace, then out


def test_an_app_that_raises_because_it_was_aborted_counts_as_aborted(start) -> None:
    raising = (
        "def run(ctx):\n"
        "    ctx.progress(state='waiting')\n"
        "    ctx.abort_event.wait()\n"
        "    raise RuntimeError('interrupted')\n"
    )
    child = start(config={"controller": "raising:run"}, custom={"raising.py": raising})
    child.wait_for("progress")
    child.send("abort\n")
    assert child.proc.wait(DEADLINE) == 3


@pytest.mark.parametrize("config, custom, message", [
    ({"controller": "nosuchmodule:run"}, None, "cannot import controller module 'nosuchmodule'"),
    ({"controller": "hello:nosuchfunction"}, None, "hello has no function 'nosuchfunction'"),
    ({"controller": "hello"}, None, "'controller' must be 'module:function'"),
    ({"controller": "broken:run"}, {"broken.py": "def run(ctx:\n"}, "the controller's code cannot be loaded"),
    ({"workflow": "warp-drive"}, None, "unknown workflow 'warp-drive'; known workflows: "),
    ({"controller": "hello:run", "workflow": "fedavg"}, None, "names both a 'controller' and a 'workflow'"),
    ({"args": {}}, None, "names neither a 'controller' nor a 'workflow'"),
    ({"controller": "hello:run", "args": [1]}, None, "'args' must be an object"),
])
def test_bad_config_exits_2_with_the_reason_in_the_log(start, config: dict, custom: dict | None,
                                                       message: str) -> None:
    child = start(config=config, custom=custom)
    events = child.rest()  # never started: only the reason, for the job's errors
    assert [e["event"] for e in events] == ["error"] and message in events[0]["message"]
    assert child.proc.wait(DEADLINE) == 2
    assert message in child.log()


def run_once(app: Path, workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.runtime.server_app", "--job-id", "job-1", "--app-dir", str(app),
         "--workspace", str(workspace), "--custom-code"],
        stdin=subprocess.PIPE, capture_output=True, text=True, timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_missing_or_unreadable_config_file_or_workspace_exits_2(tmp_path: Path) -> None:
    app, workspace = tmp_path / "app_server", tmp_path / "ws"
    shutil.copytree(EXAMPLES / "hello-server" / "app", app)
    workspace.mkdir()
    config_path = app / "config" / "config_fed_server.json"
    for content, message in ((None, "config_fed_server.json is missing"), ("{oops", "is not valid JSON")):
        config_path.unlink(missing_ok=True)
        if content is not None:
            config_path.write_text(content)
        (workspace / "log.txt").unlink(missing_ok=True)
        proc = run_once(app, workspace)
        assert proc.returncode == 2 and message in json.loads(proc.stdout)["message"]
        assert message in (workspace / "log.txt").read_text()
    proc = run_once(app, tmp_path / "nowhere")
    assert proc.returncode == 2 and f"workspace {tmp_path / 'nowhere'} is not a folder" in proc.stderr
