"""Limits and rules that keep hostile or broken peers from hurting anyone else."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from console.flare_api import InvalidArgumentError, new_secure_session
from console.wire.frames import FrameError, read_frame

from conftest import REPO, ServerProcess
from jobs import hello_server


def test_no_pickle_or_eval_anywhere() -> None:
    """Nothing that crossed the network may be unpickled or evaluated: no such calls at all."""
    forbidden = re.compile(r"\b(pickle|marshal|shelve|dill)\b|\beval\(|\bexec\(|allow_pickle=True")
    offenders = []
    for path in sorted((REPO / "console").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if forbidden.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_stalled_frame_is_dropped() -> None:
    async def go() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"\x00\x00\x00")  # a frame begins, and nothing more comes
        with pytest.raises(FrameError, match="not completed within"):
            await read_frame(reader, frame_timeout=0.1)

    asyncio.run(go())


def test_job_size_limit_from_the_server_config(project, tmp_path: Path) -> None:
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["max_upload_bytes"] = 50_000
    config_path.write_text(json.dumps(config))
    big = hello_server(tmp_path, name="big")
    (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(200_000))  # does not compress
    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("admin@example.com", str(project.admin_kit)) as sess:
            with pytest.raises(InvalidArgumentError, match="exceeds the server's limit of 50000 bytes"):
                sess.submit_job(str(big))
            assert sess.list_jobs() == []  # nothing half-stored
            assert sess.submit_job(str(hello_server(tmp_path)))  # the session is fine afterwards
            assert list((project.server_kit / "store" / "incoming").iterdir()) == []
    finally:
        server.stop()
