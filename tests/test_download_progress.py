"""download_job's progress line in the interactive console, over a slow link (a paced relay)."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pexpect
import pytest
from relay import Relay, kit_through
from shell_helpers import CONSOLE, PROMPT, console_env

from jobs import hello_server


@pytest.mark.timeout(120)
def test_a_slow_download_shows_its_bytes_and_rate_in_place_then_the_answer(server, project, session,
                                                                            tmp_path: Path) -> None:
    folder = hello_server(tmp_path, name="big", steps=1, step_seconds=0.01)
    (folder / "app" / "custom" / "blob.bin").write_bytes(os.urandom(2 << 20))  # incompressible: ~2 MB to fetch
    job_id = session.submit_job(str(folder))
    session.monitor_job(job_id, timeout=60, poll_interval=0.2)
    admin = json.loads((project.admin_kit / "startup" / "fed_admin.json").read_text())["admin"]
    relay = Relay(admin["port"], down_rate=1_000_000)  # about 2 s for the download
    kit = kit_through(project.admin_kit, relay.port, tmp_path / "kit")
    shell = pexpect.spawn(CONSOLE, ["--kit", str(kit)], encoding="utf-8", timeout=30, dimensions=(40, 160),
                          env=console_env(tmp_path, NO_COLOR="1"))
    shell.logfile_read = seen = io.StringIO()
    try:
        shell.expect(PROMPT)
        dest = tmp_path / "got"
        shell.send(f"download_job {job_id[:8]} {dest}\r")
        shell.expect(rf"\rdownload_job {job_id[:8]}: [\d.]+ [kM]?B received, [\d.]+ [kM]?B/s, \d+ s\x1b\[K")
        shell.expect_exact(f"Downloaded to {dest / job_id}", timeout=60)
        shell.expect(PROMPT)
        # The line was redrawn in place (a carriage return, never a line end of its own) and taken away first.
        before_answer = seen.getvalue().split("Downloaded to")[0]
        assert before_answer.count("received") >= 1 and "received, " not in before_answer.split("\r\x1b[K")[-1]
        shell.send("bye\r")
        shell.expect(pexpect.EOF)
    finally:
        if shell.isalive():
            shell.terminate(force=True)
        relay.close()
    assert re.search(r"MB/s|kB/s", seen.getvalue())
