"""A job process runs within the limits of its daemon's ``job_process_limits``, set before its
code runs, and what it prints adds at most ``max_log_bytes`` to its log.txt.

A real server with limits in its kit and a real job: the job's code reads its own limits,
writes past its file size limit and floods its output, directly and from a child process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import sys
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from console.jobdef.process_limits import ProcessLimits
from console.runtime.adoption import ADOPTING, NOT_ADOPTING
from console.wire.kit import KitError, ServerKit, SiteKit

from conftest import ADMIN, EXAMPLES, ServerProcess, make_project
from jobs import archived_file

LOG_BUDGET = 256 << 10
FILE_LIMIT = 1 << 20
OPEN_FILES = 200

GREEDY = '''
import errno
import json
import os
import resource
import subprocess
import sys


def run(ctx):
    limits = {name: resource.getrlimit(getattr(resource, name))
              for name in ("RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_DATA")}
    (ctx.workspace / "limits.json").write_text(json.dumps(limits))
    try:
        with open(ctx.workspace / "big.bin", "wb") as f:
            f.write(b"x" * (2 * FILE_LIMIT))
        outcome = "written"
    except OSError as exc:
        outcome = errno.errorcode.get(exc.errno, str(exc.errno))
    (ctx.workspace / "big.outcome").write_text(outcome)
    line = "y" * 99
    for n in range(10000):  # about 1 MB of prints
        print(f"{n:06d} {line}")
    # A child writing straight to the inherited stderr: its bytes count too.
    subprocess.run([sys.executable, "-c", "import os\\nfor _ in range(1000): os.write(2, b'z' * 999 + b'\\\\n')"],
                   check=True)
    print("the end")
'''.replace("FILE_LIMIT", str(FILE_LIMIT))


def _greedy_job(root: Path) -> Path:
    folder = root / "greedy"
    shutil.copytree(EXAMPLES / "hello-server", folder)
    (folder / "app" / "custom" / "greedy.py").write_text(GREEDY)
    (folder / "app" / "config" / "config_fed_server.json").write_text(json.dumps({"controller": "greedy:run",
                                                                                  "args": {}}))
    return folder


@pytest.mark.timeout(120)
def test_a_job_runs_within_its_limits_and_its_log_within_its_budget(tmp_path: Path) -> None:
    from console.flare_api import new_secure_session

    project = make_project(tmp_path / "project")
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["job_process_limits"] = {"max_log_bytes": LOG_BUDGET, "max_file_bytes": FILE_LIMIT,
                                                  "max_open_files": OPEN_FILES}
    config_path.write_text(json.dumps(config))
    server = ServerProcess(project.server_kit)
    session = None
    try:
        server.start()
        session = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        job_id = session.submit_job(str(_greedy_job(tmp_path)))
        meta = session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
        # Started as root, the daemon said once that job code runs as root (CI may run as either).
        warnings = server.stderr.count("runs as root: the code of every job allowed custom code")
        assert warnings == (1 if os.geteuid() == 0 else 0), server.stderr[-2000:]
        # What its jobs leave behind comes to it and ends (Linux), and it says whether it does.
        assert (ADOPTING if sys.platform.startswith("linux") else NOT_ADOPTING) in server.stderr
    finally:
        if session is not None:
            session.close()
        server.stop()
        server.kill()
    workspace = project.server_kit / job_id  # its log.txt; the rest is in its archive once the job ended
    limits = json.loads(archived_file(project.server_kit, job_id, "limits.json"))
    assert limits["RLIMIT_FSIZE"] == [FILE_LIMIT, FILE_LIMIT]
    assert limits["RLIMIT_NOFILE"] == [OPEN_FILES, OPEN_FILES]
    assert limits["RLIMIT_CORE"] == [0, 0]
    assert 0 < limits["RLIMIT_DATA"][1] != resource.RLIM_INFINITY  # 3/4 of the machine's memory
    # A write past the file size limit fails (EFBIG), the process lives on.
    assert archived_file(project.server_kit, job_id, "big.outcome") == b"EFBIG"
    assert len(archived_file(project.server_kit, job_id, "big.bin")) == FILE_LIMIT
    # About 2 MB of output (prints and a child's raw writes): the log keeps the budget and says why.
    log = (workspace / "log.txt").read_bytes()
    assert len(log) <= LOG_BUDGET + 1024, len(log)
    text = log.decode()
    assert f"job process limits: core 0, file_bytes {FILE_LIMIT}, open_files {OPEN_FILES}" in text
    assert f"this job's output reached its log budget of {LOG_BUDGET} bytes" in text
    [dropped] = [line for line in text.splitlines() if "of this job's output were dropped" in line]
    dropped_bytes = int(dropped.split(" - flare-console: ")[1].split()[0])
    assert dropped_bytes > 1_500_000, dropped
    assert "the end" not in text
    assert text.endswith("\n")


def _kit_with(tmp_path: Path, limits: object) -> Path:
    project = make_project(tmp_path)
    path = project.kit("site-1") / "startup" / "fed_client.json"
    config = json.loads(path.read_text())
    config["client"]["job_process_limits"] = limits
    path.write_text(json.dumps(config))
    return project.kit("site-1")


def test_job_process_limits_are_read_from_a_kit_and_checked(tmp_path: Path) -> None:
    site = SiteKit.load(_kit_with(tmp_path / "good", {"max_memory_bytes": 8 << 30, "max_processes": 64}))
    assert site.job_process_limits == ProcessLimits(max_memory_bytes=8 << 30, max_processes=64)
    assert ServerKit.load(make_project(tmp_path / "default").server_kit).job_process_limits == ProcessLimits()
    for bad in ({"max_log_bytes": 0}, {"max_memory": 1}, {"max_file_bytes": "1G"}):
        with pytest.raises(KitError, match="max_log_bytes"):
            SiteKit.load(_kit_with(tmp_path / f"bad{len(str(bad))}", bad))


def _relayed(chunks: list[bytes], budget: int, tmp_path: Path) -> str:
    from console.runtime.job_output import open_log, relay_output

    async def relay() -> None:
        stream = asyncio.StreamReader()
        relaying = asyncio.create_task(relay_output(stream, open_log(tmp_path / "log.txt"), budget))
        for chunk in chunks:  # one read each
            stream.feed_data(chunk)
            await asyncio.sleep(0.01)
        stream.feed_eof()
        await relaying

    asyncio.run(relay())
    text = (tmp_path / "log.txt").read_text()
    (tmp_path / "log.txt").unlink()
    return text


def test_the_log_budget_keeps_whole_lines_and_says_once_what_it_dropped(tmp_path: Path) -> None:
    assert _relayed([b"a\n", b"b\n"], 4, tmp_path) == "a\nb\n"  # exactly the budget: nothing said
    log = _relayed([b"a\n", b"b\n", b"c\n", b"dd", b"d\n"], 4, tmp_path)
    lines = log.splitlines()
    assert lines[:2] == ["a", "b"] and len(lines) == 4, log
    assert "reached its log budget of 4 bytes" in lines[2]
    assert "6 bytes (2 lines) of this job's output were dropped" in lines[3]  # c\n, dd, d\n
    # A line cut by the budget is dropped whole; a line left open is closed before the notice.
    log = _relayed([b"x" * 3, b"yyyyyy\n"], 4, tmp_path)
    assert log.startswith("xxx\n") and "reached its log budget" in log.splitlines()[1], log
    assert "7 bytes (1 lines)" in log
    (tmp_path / "log.txt").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):  # never written through a link
        asyncio.run(_relay_to_link(tmp_path))


async def _relay_to_link(tmp_path: Path) -> None:
    from console.runtime.job_output import open_log

    open_log(tmp_path / "log.txt")


def test_protocol_md_documents_every_job_process_limit_with_its_default() -> None:
    protocol = (EXAMPLES.parent / "docs" / "protocol.md").read_text()
    section = protocol.split("### Limits of a job process", 1)[1].split("\n### ", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M))
    assert set(documented) == {f.name for f in fields(ProcessLimits)}
    sizes = {"64 MiB": 64 << 20, "64 GiB": 64 << 30, "65536": 65536, "4096": 4096, "none": None,
             "3/4 of the machine's memory": None}
    assert {name: sizes[text.strip()] for name, text in documented.items()} == asdict(ProcessLimits())
