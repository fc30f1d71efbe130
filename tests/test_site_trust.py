"""What a real site does with a hostile server's requests: a fake server holding the project's server
certificate (a stolen key, or a bug on the server) logs in to a real site process and names the
site's own folders as job IDs and app names. The site refuses each with a clear error, hands out
none of its kit (private key, policy) and deletes nothing; a real job's workspace still serves.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from console.jobdef.archive import zip_job_folder
from console.jobdef.signing import sign_archive
from console.wire.frames import encode_frame, read_frame
from console.wire.kit import ServerKit
from console.wire.tls import server_context

from conftest import SiteProcess, make_project
from jobs import numpy_job

ADMIN_ARGS = {"user_name": "admin@example.com", "user_org": "example", "user_role": "project_admin"}
KIT_NAMES = ["startup", "local", "STARTUP", "../startup", "./local", "startup/..", ".", "", "x" * 36]


class FakeServer:
    """One site's link, seen from the server's side: requests by hand, answers as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ids = itertools.count(1)

    async def ask(self, cmd: str, args: dict[str, Any], upload: bytes | None = None) -> tuple[dict[str, Any], bytes]:
        """The answer's header and any streamed body."""
        rid = next(self.ids)
        self.writer.write(encode_frame({"k": "req", "id": rid, "cmd": cmd, "args": args,
                                        "stream": upload is not None}))
        if upload is not None:
            self.writer.write(encode_frame({"k": "data", "id": rid}, upload))
            self.writer.write(encode_frame({"k": "end", "id": rid}))
        await self.writer.drain()
        head: dict[str, Any] = {}
        body = b""
        while True:
            frame = await asyncio.wait_for(read_frame(self.reader), 20)
            assert frame is not None, f"the site hung up during {cmd}"
            if frame.header.get("id") != rid:
                continue
            kind = frame.header.get("k")
            if kind == "res":
                head = frame.header
                if not (head.get("stream") and head.get("ok")):
                    return head, body
            elif kind == "data":
                body += frame.body
            elif kind == "end":
                return head, body


@asynccontextmanager
async def fake_server_link(server_kit_dir: Path, kit: Path, site: Any) -> AsyncIterator[FakeServer]:
    """Start ``site`` (its kit at ``kit``, pointed here) against a fake server holding the project's
    server certificate; the logged-in link, closed on leaving."""
    server_kit = ServerKit.load(server_kit_dir)
    linked: asyncio.Future[FakeServer] = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not linked.done():
            linked.set_result(FakeServer(reader, writer))
            await done.wait()  # the test uses the link until it ends
        writer.close()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_context(
        server_kit.tls.cert, server_kit.tls.key, server_kit.tls.ca))
    config_path = kit / "startup" / "fed_client.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["fed_learn_port"] = listener.sockets[0].getsockname()[1]
    config_path.write_text(json.dumps(config))
    try:
        site.start(wait=False)
        server = await asyncio.wait_for(linked, 30)
        head, _ = await server.ask("login", {"username": "server"})
        assert head["ok"], head
        yield server
    finally:
        done.set()
        listener.close()


def _refused(head: dict[str, Any], what: str) -> str:
    assert head.get("ok") is False, (what, head)
    error = head["error"]
    assert error["type"] == "InvalidArgumentError", (what, error)
    return str(error["message"])


@pytest.mark.timeout(90)
def test_a_site_takes_only_the_servers_job_ids_and_never_hands_out_its_kit(project, tmp_path: Path) -> None:
    kit = tmp_path / "site-2"
    shutil.copytree(project.kit("site-2"), kit)
    key = (kit / "startup" / "client.key").read_bytes()
    real_job = str(uuid.uuid4())
    (kit / real_job).mkdir()
    (kit / real_job / "log.txt").write_text("a line of a real job\n")
    linked_job = str(uuid.uuid4())  # a workspace that is a link into the kit: never a job's
    (kit / linked_job).symlink_to(kit / "startup")
    site = SiteProcess(kit)

    async def scenario() -> None:
        async with fake_server_link(project.server_kit, kit, site) as server:
            for name in [*KIT_NAMES, linked_job]:
                for cmd, args in [("get_workspace", {"max_bytes": 1 << 20}), ("delete_workspace", {}),
                                  ("read_log", {"offset": 0, **ADMIN_ARGS}), ("follow_log", {"lines": 5, **ADMIN_ARGS}),
                                  ("shell", {"command": "cat", "path": "client.key", "right": "view", **ADMIN_ARGS}),
                                  ("shell", {"command": "ls", "path": ".", "right": "view", **ADMIN_ARGS}),
                                  ("stats", {}), ("end_job", {}), ("abort_job", {}), ("unfollow_log", {})]:
                    if name == linked_job and cmd in ("stats", "end_job", "abort_job", "unfollow_log"):
                        continue  # these only look the ID up among the running jobs
                    head, body = await server.ask(cmd, {"job_id": name, **args})
                    said = _refused(head, f"{cmd} {name!r}")
                    assert b"PRIVATE KEY" not in body and not body, (cmd, name)
                    if name == linked_job:
                        assert "leads into this site's own folder" in said, (cmd, said)
                    else:
                        assert "job ID as the server makes them (a lower-case UUID)" in said, (cmd, said)
            # An app name is a folder too: one that climbs out of the job's workspace is refused unread.
            for app in ("../../startup", "..", "/tmp", "a/b"):
                head, _ = await server.ask("deploy_job", {
                    "job_id": str(uuid.uuid4()), "app_name": app, "signature": "x", "signed_by": "x",
                    "signer_pem": "x"}, upload=b"not a zip")
                assert "must be a plain folder name" in _refused(head, f"deploy_job app {app!r}")
            # A workspace named as the server names them still serves.
            head, body = await server.ask("get_workspace", {"job_id": real_job, "max_bytes": 1 << 20})
            assert head["ok"] and body[:2] == b"PK", head
            head, _ = await server.ask("shell", {"command": "cat", "path": "log.txt", "right": "view",
                                                 "job_id": real_job, **ADMIN_ARGS})
            assert head["data"] == "a line of a real job\n", head

    try:
        asyncio.run(scenario())
    finally:
        site.stop()
        site.kill()
    assert (kit / "startup" / "client.key").read_bytes() == key
    assert (kit / "local").is_dir() and (kit / linked_job).is_symlink()
    assert "Traceback" not in site.stderr, site.stderr


@pytest.mark.timeout(90)
def test_a_site_deploys_only_jobs_its_submitter_signed(tmp_path: Path) -> None:
    """Finding 2 on the site's side: even from a server that sends them (a stolen server key, or a
    store changed behind the server's back), a site refuses a job signed with the server's key, or
    by an admin who is not its submitter; the submitter's own, and a clone's source signer's, deploy."""
    project = make_project(tmp_path / "p", extra=[
        {"name": "lead@example.com", "type": "admin", "org": "example", "role": "lead"}])
    kit = tmp_path / "site-1"
    shutil.copytree(project.kit("site-1"), kit)
    archive = tmp_path / "job.zip"
    zip_job_folder(numpy_job(tmp_path, rounds=1), archive)
    lead = {"submitter_name": "lead@example.com", "submitter_org": "example", "submitter_role": "lead"}
    by_admin = {"submitter_name": "admin@example.com", "submitter_org": "example", "submitter_role": "project_admin"}

    def signed(participant: str, stem: str = "client") -> dict[str, str]:
        startup = project.kit(participant) / "startup"
        return {"signature": sign_archive(archive, startup / f"{stem}.key"),
                "signer_pem": (startup / f"{stem}.crt").read_text(), "signed_by": participant}

    site = SiteProcess(kit)

    async def scenario() -> None:
        async with fake_server_link(project.server_kit, kit, site) as server:

            async def deploy(**args: Any) -> dict[str, Any]:
                job_id = str(uuid.uuid4())
                head, _ = await server.ask("deploy_job", {"job_id": job_id, "app_name": "app", "byoc": True, **args},
                                           upload=archive.read_bytes())
                if head.get("ok"):
                    await server.ask("abort_job", {"job_id": job_id})
                return head

            for args, reason in [
                ({**signed("server", "server"), **lead}, "the certificate of 'server', which is not an admin's"),
                ({**signed("site-2"), **lead}, "the certificate of 'site-2', which is not an admin's"),
                ({**signed("admin@example.com"), **lead},
                 "signed by 'admin@example.com' but was submitted by 'lead@example.com'"),
            ]:
                head = await deploy(**args)
                assert head.get("ok") is False and head["error"]["type"] == "InvalidJobDefinition", head
                assert head["error"]["message"].startswith("site-1: ") and reason in head["error"]["message"], head
            assert (await deploy(**signed("lead@example.com"), **lead))["ok"]
            assert (await deploy(**signed("lead@example.com"), **by_admin, cloned_from=str(uuid.uuid4())))["ok"]

    try:
        asyncio.run(scenario())
    finally:
        site.stop()
        site.kill()
    assert "Traceback" not in site.stderr, site.stderr
