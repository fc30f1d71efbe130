"""``follow`` against a real server and sites: a site's own policy, large resumed logs, links planted
in place of a job's log.txt, and malformed resume offsets (the security tester's findings)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.api.client import AsyncClient
from console.api.errors import AuthorizationError, InvalidArgumentError, JobNotRunning
from console.wire.kit import AdminKit

from conftest import ADMIN, Federation, Project, make_project, running_federation, wait_until
from jobs import numpy_job

MEMBER = "member@example.com"

#: A trainer that writes ``big`` lines full of characters JSON escapes (quotes, backslashes, control
#: bytes as \\u0001), then a tick line every 0.1 s until the job is aborted.
TRAINER = '''
import os
import sys
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    if {link}:
        ws = str(ctx.workspace)
        job_dir = ws if os.path.exists(os.path.join(ws, "log.txt")) else os.path.dirname(ws)
        crt = os.path.join(os.path.dirname(job_dir), "startup", "client.crt")
        log = os.path.join(job_dir, "log.txt")
        os.replace(log, log + ".old")
        os.symlink(crt, log)
    for i in range({big}):
        sys.stdout.write(f'{{ctx.site_name}} big {{i:06d}} "q" \\\\b ' + "\\x01" * 60 + "\\n")
    sys.stdout.flush()
    n = 0
    while not ctx.aborted():
        print(f"{{ctx.site_name}} tick {{n}}", flush=True)
        n += 1
        time.sleep(0.1)
    return TaskResult(model, weight=1.0, metrics={{}})
'''


def log_job(root: Path, *, big: int = 0, link: bool = False) -> Path:
    folder = numpy_job(root, name=f"logjob-{big}-{int(link)}", rounds=1)
    (folder / "app" / "custom" / "trainer.py").write_text(TRAINER.format(big=big, link=link))
    return folder


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """Server and both sites; site-1's own policy refuses ``view`` to members (the server grants it)."""
    project = make_project(tmp_path_factory.mktemp("follow"),
                           extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"}])
    policy_path = project.kit("site-1") / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["member"] = {"view": "none"}
    policy_path.write_text(json.dumps(policy))
    with running_federation(project) as (server, session):
        yield Federation(project, server, session)


class Follower:
    """A real admin client that records the job_log lines and ends it is pushed."""

    def __init__(self, project: Project, user: str) -> None:
        self.client = AsyncClient(AdminKit.load(project.kit(user)), user)
        self.lines: dict[str, list[str]] = {}
        self.offsets: dict[str, int] = {}
        self.ended: set[str] = set()
        self.client.add_event_listener(self._on_event)

    def _on_event(self, topic: str, data: dict[str, Any]) -> None:
        if topic == "job_log":
            self.lines.setdefault(data["target"], []).extend(data["lines"])
            if "offset" in data:
                self.offsets[data["target"]] = data["offset"]
        elif topic == "job_log_end":
            self.ended.add(data["target"])

    async def __aenter__(self) -> Follower:
        await self.client.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def follow(self, job_id: str, target: str, lines: int = 5, resume: list[str] | None = None) -> Any:
        args: dict[str, Any] = {"job_id": job_id, "target": target, "lines": lines}
        if resume is not None:
            args["resume"] = resume
        return await self.client.request("follow", args, timeout=60)


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def running(federation: Federation, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A running job of ``log_job`` (``request.param``: its keyword arguments), aborted afterwards."""
    session = federation.session
    job_id = session.submit_job(str(log_job(tmp_path, **getattr(request, "param", {}))))
    try:
        wait_until(lambda: session.get_job_meta(job_id)["status"] == "RUNNING", 60, "the job to run")
        yield job_id
    finally:
        with contextlib.suppress(JobNotRunning):  # the test may have ended it
            session.abort_job(job_id)
        wait_until(lambda: session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the job to end")


@pytest.mark.timeout(180)
def test_a_site_refusing_view_gets_no_line_to_the_refused_user(federation: Federation, running: str) -> None:
    job_id = running

    async def scenario() -> None:
        async with Follower(federation.project, MEMBER) as member, Follower(federation.project, ADMIN) as admin:
            for target in ("site-1", "all"):
                with pytest.raises(AuthorizationError, match="site-1's own policy refuses.*'view'"):
                    await member.follow(job_id, target)
            await member.follow(job_id, "site-2")  # the site that lets members view: followed
            await admin.follow(job_id, "site-1")
            await until(lambda: sum("tick" in line for line in admin.lines.get("site-1", [])) >= 5, 60,
                        "the admin to get site-1's ticks")
            await until(lambda: sum("tick" in line for line in member.lines.get("site-2", [])) >= 5, 60,
                        "the member to get site-2's ticks")
            assert "site-1" not in member.lines and "server" not in member.lines  # nothing of the refused follows
            await admin.client.request("unfollow", {"job_id": "all"}, timeout=30)
            await member.client.request("unfollow", {"job_id": "all"}, timeout=30)

    asyncio.run(scenario())
    federation.session.abort_job(job_id)
    wait_until(lambda: federation.session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the end")

    async def finished() -> None:  # the finished job's log: read once, or read on from an offset
        async with Follower(federation.project, MEMBER) as member:
            for resume in (None, ["site-1=0"], ["site-1=10"]):
                with pytest.raises(AuthorizationError, match="site-1's own policy refuses.*'view'"):
                    await member.follow(job_id, "all", resume=resume)
            await member.follow(job_id, "site-2", resume=["site-2=0"])
            await until(lambda: "site-2" in member.ended, 30, "the end of site-2's log")
            assert set(member.lines) == {"site-2"} and member.ended == {"site-2"}

    asyncio.run(finished())
    server_log = federation.server.stderr_path.read_text(errors="replace")
    assert "Traceback" not in server_log and "server error in follow" not in server_log


@pytest.mark.timeout(180)
def test_malformed_resume_offsets_are_refused_naming_the_entry(federation: Federation, running: str) -> None:
    job_id = running

    async def scenario() -> None:
        async with Follower(federation.project, ADMIN) as admin:
            for bad in ("site-1=²", "site-1=١٢", "site-1=" + "9" * 5000, "site-1=", "site-1=-3", "site-1",
                        "site-1=12a", "site-1=1" + "0" * 18):
                with pytest.raises(InvalidArgumentError, match=r"resume entry .* is not TARGET=OFFSET") as err:
                    await admin.follow(job_id, "site-1", resume=[bad])
                assert len(str(err.value)) < 300  # a 5000-digit entry is named, not echoed whole
            assert not admin.lines
            # An offset past the log's end (it was rewritten): read from its start, as documented.
            await admin.follow(job_id, "all", resume=["site-1=999999999999", "server=999999999999"])
            await until(lambda: sum("tick" in line for line in admin.lines.get("site-1", [])) >= 3, 60,
                        "site-1's ticks")
            assert "client app started" in admin.lines["site-1"][0]
            ticks = [line for line in admin.lines["site-1"] if "tick" in line]
            assert "site-1 tick 0" in ticks[0] and len(ticks) == len(set(ticks))
            assert "server app started" in admin.lines["server"][0]

    asyncio.run(scenario())
    assert "Traceback" not in federation.server.stderr_path.read_text(errors="replace")


def test_log_readers_never_read_through_a_link(tmp_path: Path) -> None:
    """The server reads its job logs with these; a link planted as log.txt (or as the job folder) is
    not followed, a FIFO does not block."""
    from console.logtail import LogTail, last_lines, lines_between

    secret = tmp_path / "client.key"
    secret.write_text("SECRET KEY\n" * 3)
    job = tmp_path / "job"
    job.mkdir()
    (job / "log.txt").symlink_to(secret)
    linked_job = tmp_path / "linked-job"
    linked_job.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "log.txt").write_text("SECRET KEY\n")
    fifo = tmp_path / "fifo-job"
    fifo.mkdir()
    os.mkfifo(fifo / "log.txt")
    for log in (job / "log.txt", linked_job / "log.txt", fifo / "log.txt"):
        tail, backlog = LogTail.from_last_lines(log, 10)
        assert backlog == [] and tail.read(final=True) == []
        assert LogTail(log).read(final=True) == []
        assert lines_between(log, 0, final=True) == ([], 0)
        assert last_lines(log, 100, 5) == []


@pytest.mark.timeout(180)
@pytest.mark.parametrize("running", [{"link": True}], indirect=True)
def test_follow_does_not_read_a_link_a_job_planted_as_its_log(federation: Federation, running: str) -> None:
    job_id = running
    crt = (federation.project.kit("site-1") / "startup" / "client.crt").read_text()
    secret_line = next(line for line in crt.splitlines() if line and "-----" not in line)

    def leaked(follower: Follower) -> bool:
        return any(secret_line in line or "BEGIN CERTIFICATE" in line
                   for lines in follower.lines.values() for line in lines)

    async def live() -> None:
        async with Follower(federation.project, ADMIN) as admin, Follower(federation.project, ADMIN) as resumed:
            await admin.follow(job_id, "site-1", lines=50)
            await resumed.follow(job_id, "site-1", resume=["site-1=0"])
            await asyncio.sleep(1.0)  # the site polls its log every 0.1 s: ten looks at the link
            assert not leaked(admin) and not leaked(resumed)

    log_dir = federation.project.kit("site-1") / job_id
    wait_until(lambda: (log_dir / "log.txt").is_symlink(), 30, "the job to plant its link")
    asyncio.run(live())
    federation.session.abort_job(job_id)
    wait_until(lambda: federation.session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the end")

    async def after() -> None:
        async with Follower(federation.project, ADMIN) as admin:
            await admin.follow(job_id, "site-1", resume=["site-1=0"])
            await until(lambda: "site-1" in admin.ended, 30, "the end of site-1's log")
            assert not leaked(admin)

    asyncio.run(after())


BIG = 40_000  # lines of ~130 bytes: ~5 MiB, and ~13 MiB as JSON (each \x01 is \u0001)


def assert_once_in_order(lines: list[str], site: str) -> None:
    """Every big line of ``site`` once and in order, then its ticks, none twice, none missing."""
    big = [line for line in lines if f"{site} big " in line]
    if len(big) != BIG:
        nums = [int(line.split(f"{site} big ")[1][:6]) for line in big]
        gaps = [(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1]
        odd = [line[:200] for line in lines if f"{site} big " not in line and f"{site} tick " not in line]
        print("DIAG", site, len(big), "gaps", gaps[:10], "first", nums[:3], "last", nums[-3:], "odd", odd[:10])
    assert len(big) == BIG and all(f"{site} big {i:06d} " in line for i, line in enumerate(big)), \
        (len(big), big[:2], big[-2:])
    ticks = [int(line.rsplit(" ", 1)[1]) for line in lines if f"{site} tick " in line]
    assert ticks == list(range(len(ticks))) and ticks, ticks[:20]
    assert not any("skipped" in line for line in lines)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("running", [{"big": BIG}], indirect=True)
def test_a_follow_resumed_from_the_start_of_a_large_log_gets_every_line_once(federation: Federation,
                                                                           running: str) -> None:
    job_id = running
    session = federation.session
    site_log = federation.project.kit("site-1") / job_id / "log.txt"
    wait_until(lambda: site_log.exists() and site_log.stat().st_size > BIG * 120, 120, "the job's big log")

    async def live() -> None:
        async with Follower(federation.project, ADMIN) as admin:
            await admin.follow(job_id, "all", resume=["server=0", "site-1=0", "site-2=0"])
            await until(lambda: sum("site-1 tick" in line for line in admin.lines.get("site-1", [])) >= 10, 120,
                        "site-1's ticks after its big lines")
            await until(lambda: sum("site-2 tick" in line for line in admin.lines.get("site-2", [])) >= 10, 120,
                        "site-2's ticks after its big lines")
            for site in ("site-1", "site-2"):
                assert_once_in_order(admin.lines[site], site)
            server = admin.lines.get("server", [])
            assert len(server) == len(set(server)) and not any("skipped" in line for line in server)

    asyncio.run(live())
    session.abort_job(job_id)
    wait_until(lambda: session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the job to end")

    async def after() -> None:
        async with Follower(federation.project, ADMIN) as admin:
            await admin.follow(job_id, "all", resume=["server=0", "site-1=0", "site-2=0"])
            await until(lambda: admin.ended == {"server", "site-1", "site-2"}, 120, "every log's end")
            for site in ("site-1", "site-2"):
                assert_once_in_order(admin.lines[site], site)
            assert admin.offsets["site-1"] == site_log.stat().st_size

    asyncio.run(after())
