"""What the console does with a hostile or broken server's answers (tests/hostile_server.py)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pexpect
import pytest
from hostile_server import hostile_server, login_answer, serving
from shell_helpers import CONSOLE, console_env, run_console

MALFORMED_LOGINS = {
    "a list": [1, 2],
    "user as text": login_answer(user="admin"),
    "a start time that is no number": login_answer(server_start_time="soon"),
    "rights as a list": login_answer(rights=["all"]),
    "features as text": login_answer(features="download_cancel"),
}


@pytest.mark.timeout(120)
def test_a_malformed_login_answer_is_refused_with_words_not_a_traceback(project, tmp_path: Path) -> None:
    for what, answer in MALFORMED_LOGINS.items():
        with hostile_server(project.server_kit, answer):
            done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", "list_jobs", timeout=60)
        assert "Traceback" not in done.stderr, (what, done.stderr)
        assert "answer to login is malformed" in done.stdout + done.stderr, (what, done.stdout, done.stderr)
        assert done.returncode != 0, what


@pytest.mark.timeout(120)
def test_an_endless_answer_is_cut_and_the_connection_dropped(project, tmp_path: Path) -> None:
    """A server that announces a 1 TiB JSON answer and keeps sending: the console gives up at its
    cap (64 MiB), says why, and never holds the flood."""
    with hostile_server(project.server_kit, login_answer(), flood=True):
        done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", "list_jobs", timeout=90)
    assert re.search(r"the answer to list_jobs grew past [\d,]+ bytes", done.stdout + done.stderr), done
    assert "Traceback" not in done.stderr and done.returncode != 0


@pytest.mark.timeout(120)
def test_names_in_the_login_answer_reach_the_prompt_escaped(project, tmp_path: Path) -> None:
    answer = login_answer(server="srv\u009b31m\x07", user={"name": "admin\x08\x08x", "org": "example",
                                                           "role": "project_admin"})
    with hostile_server(project.server_kit, answer):
        child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1"),
                              encoding="utf-8", timeout=30, dimensions=(30, 120))
        try:
            # The prompt shows the characters, escaped (styles may sit between its parts).
            child.expect(re.escape("srv\\x9b31m\\x07") + r"(\x1b\[[0-9;]*m)*> ")
            assert "admin\\x08\\x08x on " in child.before
            child.send("bye\r")
            child.expect(pexpect.EOF)
        finally:
            child.terminate(force=True)
        raw = child.before or ""
    assert "\u009b" not in raw and "\x07" not in raw.replace("\x1b]", "")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", ["older, with no features", "listing download_cancel"])
def test_a_download_given_up_on_is_cancelled_only_on_a_server_that_lists_it(project, tmp_path: Path,
                                                                           server: str) -> None:
    """A server before ``download_cancel`` took a download's ``cancel`` frame as a protocol error and
    dropped the connection: to it none is sent, and the session goes on; a server that lists the
    feature in its login answer is told, and stops sending."""
    import asyncio
    import contextlib
    import threading

    from console.api.client import AsyncClient
    from console.wire.kit import AdminKit

    received: list[dict] = []
    streaming = threading.Event()
    answers = {"download_job": [({"k": "res", "ok": True, "stream": True, "size": 8 << 20, "data": {}}, b""),
                                ({"k": "data"}, b"x" * (64 << 10)), streaming, 30.0]}
    login = login_answer() if server.startswith("older") else login_answer(features=["download_cancel", "later"])

    part = tmp_path / "part"

    async def main() -> None:
        client = AsyncClient(AdminKit.load(project.admin_kit), "admin@example.com")
        try:
            await client.connect()
            task = asyncio.create_task(client.download("download_job", {"job_id": "x"}, part))
            await asyncio.to_thread(streaming.wait, 20)
            deadline = asyncio.get_running_loop().time() + 20
            while not (part.is_file() and part.stat().st_size):  # its first bytes are in
                assert asyncio.get_running_loop().time() < deadline, "no byte of the download came"
                await asyncio.sleep(0.01)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert await client.request("list_jobs", timeout=10) == []  # on the same connection
            assert client.connected
        finally:
            await client.close()

    with hostile_server(project.server_kit, login, answers=answers, concurrent=True, received=received):
        asyncio.run(main())
    requests = [h["id"] for h in received if h.get("k") == "req"]
    cancels = [h for h in received if h.get("k") == "cancel"]
    assert len(requests) == 3  # login, download_job, list_jobs: one connection, no login again
    assert cancels == ([] if server.startswith("older") else [{"k": "cancel", "id": requests[1]}])


@pytest.mark.timeout(60)
def test_an_http_port_is_named_as_one_not_as_a_revoked_certificate(project) -> None:
    """Pointed at a port that answers in HTTP over TLS (an HTTPS service, FLARE's admin port), the login
    says the server does not speak our protocol, not that the kit's certificate may be revoked."""
    from console.api.session import new_secure_session
    from console.flare_api import NoConnection

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    with serving(project.server_kit, http), pytest.raises(NoConnection) as caught:
        new_secure_session("admin@example.com", str(project.admin_kit), timeout=10)
    said = str(caught.value)
    assert "HTTP" in said and "does not speak flare-console's protocol" in said, said
    assert "revoked" not in said and "1213486160" not in said, said
