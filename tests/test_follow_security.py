"""``follow`` against a real server and sites: a site's own policy, large resumed logs, links planted
in place of a job's log.txt, and malformed resume offsets (the security tester's findings)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
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
            # The log's first line: the job process's limits, then its start.
            assert "job process limits" in admin.lines["site-1"][0]
            assert "client app started" in admin.lines["site-1"][1]
            ticks = [line for line in admin.lines["site-1"] if "tick" in line]
            assert "site-1 tick 0" in ticks[0] and len(ticks) == len(set(ticks))
            assert "job process limits" in admin.lines["server"][0]
            assert "server app started" in admin.lines["server"][1]

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
    hard = tmp_path / "hard-job"
    hard.mkdir()
    os.link(secret, hard / "log.txt")  # a hard link is no symbolic link: O_NOFOLLOW alone reads it
    for log in (job / "log.txt", linked_job / "log.txt", fifo / "log.txt", hard / "log.txt"):
        tail, backlog = LogTail.from_last_lines(log, 10)
        assert backlog == [] and tail.read(final=True) == []
        assert LogTail(log).read(final=True) == []
        assert lines_between(log, 0, final=True) == ([], 0)
        assert last_lines(log, 100, 5) == []
        # a follower is told why, naming whose log it is, once per problem (not at every look)
        why = {fifo: "not a regular file", hard: "replaced by a hard link"}.get(log.parent, "was replaced by a link")
        tail = LogTail.from_last_lines(log, 10, "site-9")[0]
        assert tail.read() == [] and why in tail.take_problem() and tail.take_problem() is None
        assert tail.read() == [] and tail.take_problem() is None
        [notice], at = lines_between(log, 7, owner="site-9")
        assert at == 7 and notice.startswith("[site-9: its log cannot be read: ") and why in notice
        assert last_lines(log, 100, 5, "site-9") == [notice]
    missing = LogTail(tmp_path / "not-yet" / "log.txt", owner="site-9")  # not written yet: no problem
    assert missing.read() == [] and missing.take_problem() is None
    assert lines_between(missing.path, 0, owner="site-9") == ([], 0)


LINK_NOTICE = "[site-1: its log cannot be read: its log.txt (or its job folder) was replaced by a link"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("running", [{"link": True}], indirect=True)
def test_follow_does_not_read_a_link_a_job_planted_as_its_log(federation: Federation, running: str) -> None:
    job_id = running
    crt = (federation.project.kit("site-1") / "startup" / "client.crt").read_text()
    secret_line = next(line for line in crt.splitlines() if line and "-----" not in line)

    def leaked(follower: Follower) -> bool:
        return any(secret_line in line or "BEGIN CERTIFICATE" in line
                   for lines in follower.lines.values() for line in lines)

    def notices(follower: Follower) -> int:
        return sum(LINK_NOTICE in line for line in follower.lines.get("site-1", []))

    def told_why(follower: Follower) -> bool:  # a line naming the site and why, not a silent stop...
        # ...once per way the log was read (a resumed follow reads the gap, then looks live), not per look
        return 1 <= notices(follower) <= 2

    async def live() -> None:
        async with Follower(federation.project, ADMIN) as admin, Follower(federation.project, ADMIN) as resumed:
            await admin.follow(job_id, "site-1", lines=50)
            await resumed.follow(job_id, "site-1", resume=["site-1=0"])
            await until(lambda: told_why(admin) and told_why(resumed), 30, "a line saying why the log is not read")
            await asyncio.sleep(1.0)  # the site polls its log every 0.1 s: ten looks at the link
            assert not leaked(admin) and not leaked(resumed)
            assert notices(admin) == 1 and told_why(resumed), (admin.lines, resumed.lines)  # not at every look

    log_dir = federation.project.kit("site-1") / job_id
    wait_until(lambda: (log_dir / "log.txt").is_symlink(), 30, "the job to plant its link")
    asyncio.run(live())
    federation.session.abort_job(job_id)
    wait_until(lambda: federation.session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the end")

    async def after() -> None:
        async with Follower(federation.project, ADMIN) as admin, Follower(federation.project, ADMIN) as fresh:
            await admin.follow(job_id, "site-1", resume=["site-1=0"])
            await fresh.follow(job_id, "site-1", lines=20)
            await until(lambda: "site-1" in admin.ended and "site-1" in fresh.ended, 30, "the end of site-1's log")
            assert not leaked(admin) and not leaked(fresh)
            assert told_why(admin), admin.lines
            # read once by the site's tail command, which names where the link leads: outside
            assert any("[site-1: its log cannot be read" in line for line in fresh.lines["site-1"]), fresh.lines

    asyncio.run(after())


BIG = 40_000  # lines of ~130 bytes: ~5 MiB, and ~13 MiB as JSON (each \x01 is \u0001)


def assert_once_in_order(lines: list[str], site: str) -> None:
    """Every big line of ``site`` once and in order, then its ticks, none twice, none missing."""
    big = [line for line in lines if f"{site} big " in line]
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


#: site-1 waits for a file ``go`` in its job folder, then writes CHATTY lines in bursts (~9 MiB of
#: log, ~20 MiB as JSON: each \x01 is \u0001; at line ``pause_at`` it waits for a file ``go2``),
#: then "chat done"; both sites wait for the abort.
CHATTY_TRAINER = '''
import os
import sys
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    if ctx.site_name == "site-1":
        while not os.path.exists(os.path.join(str(ctx.workspace), "go")) and not ctx.aborted():
            time.sleep(0.05)
        for i in range({chatty}):
            if i == {pause_at}:  # until the test has paused its reader and asked for the gap
                sys.stdout.flush()
                while not os.path.exists(os.path.join(str(ctx.workspace), "go2")) and not ctx.aborted():
                    time.sleep(0.05)
            sys.stdout.write(f"site-1 chat {{i:06d}} " + "\\x01" * 40 + "." * 40 + "\\n")
            if i % 1000 == 999:  # ~3 MiB/s: the site's own reading of its log keeps up, as a real job's does
                sys.stdout.flush()
                time.sleep(0.05)
        print("site-1 chat done", flush=True)
    while not ctx.aborted():
        time.sleep(0.1)
    return TaskResult(model, weight=1.0, metrics={{}})
'''
CHATTY = 60_000


@pytest.mark.timeout(300)
def test_a_follower_that_stops_reading_gets_every_live_line_after(federation: Federation, tmp_path: Path) -> None:
    """A follower stops reading (its socket's window shut) while site-1 writes ~20 MiB of events:
    far past the 4 MiB backlog past which events are dropped. Once it reads again it gets every
    line, once and in order, paced from the log by offset; none is lost unseen."""
    session = federation.session
    folder = numpy_job(tmp_path, name="chatty", rounds=1)
    (folder / "app" / "custom" / "trainer.py").write_text(CHATTY_TRAINER.format(chatty=CHATTY, pause_at=-1))
    job_id = session.submit_job(str(folder))
    site_dir = federation.project.kit("site-1") / job_id
    try:
        wait_until(lambda: session.get_job_meta(job_id)["status"] == "RUNNING", 60, "the job to run")

        async def live() -> None:
            async with Follower(federation.project, ADMIN) as slow:
                await slow.follow(job_id, "site-1", lines=0)
                transport = slow.client._writer.transport  # the test stands for a reader that stalls
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
                transport.pause_reading()
                (site_dir / "go").touch()
                await until(lambda: b"site-1 chat done" in (site_dir / "log.txt").read_bytes(), 120,
                            "site-1 to write its chatty lines")
                await asyncio.sleep(2.0)  # the site's pushes reach the server, which has no room for them
                transport.resume_reading()
                await until(lambda: any(line.endswith("site-1 chat done") for line in slow.lines.get("site-1", [])),
                            120, "the last line")
                got = slow.lines["site-1"]
                chat = [line.split(" - ", 3)[-1] for line in got if "site-1 chat " in line]
                assert not [line for line in got if "skipped" in line]
                assert chat == [f"site-1 chat {i:06d} " + "\x01" * 40 + "." * 40 for i in range(CHATTY)] + \
                    ["site-1 chat done"], \
                    (len(chat), chat[:1], chat[-2:])

        asyncio.run(live())
    finally:
        with contextlib.suppress(JobNotRunning):
            session.abort_job(job_id)
        wait_until(lambda: session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the job to end")


@pytest.mark.timeout(300)
def test_a_resumed_follower_that_stops_reading_gets_the_gap_and_every_line_after(federation: Federation,
                                                                               tmp_path: Path) -> None:
    """A follow resumed from byte 0 of a chatty log whose session does not read while the job writes
    ~4.5 MiB more: the lines that come while the gap waits for room are not all kept in the server's
    memory (past 4 MiB they are read from the log again after the gap). Once it reads, it gets the
    gap and every line after, once and in order."""
    session = federation.session
    folder = numpy_job(tmp_path, name="chatty-resumed", rounds=1)
    (folder / "app" / "custom" / "trainer.py").write_text(CHATTY_TRAINER.format(chatty=CHATTY, pause_at=CHATTY // 2))
    job_id = session.submit_job(str(folder))
    site_dir = federation.project.kit("site-1") / job_id
    try:
        wait_until(lambda: session.get_job_meta(job_id)["status"] == "RUNNING", 60, "the job to run")

        async def live() -> None:
            async with Follower(federation.project, ADMIN) as slow:
                transport = slow.client._writer.transport  # the test stands for a reader that stalls
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
                (site_dir / "go").touch()
                half = f"site-1 chat {CHATTY // 2 - 1:06d} ".encode()
                await until(lambda: half in (site_dir / "log.txt").read_bytes(), 120, "the first half of the chat")
                transport.pause_reading()
                follow = asyncio.ensure_future(slow.follow(job_id, "site-1", resume=["site-1=0"]))
                await asyncio.sleep(1.0)  # the gap (~4.5 MiB of log, ~10 MiB of events) waits for room
                (site_dir / "go2").touch()  # and ~4.5 MiB more comes while it waits: past what is held
                await until(lambda: b"site-1 chat done" in (site_dir / "log.txt").read_bytes(), 120,
                            "site-1 to write the rest of its chatty lines")
                await asyncio.sleep(2.0)  # the site's pushes reach the server while the gap waits for room
                transport.resume_reading()
                await follow
                await until(lambda: any(line.endswith("site-1 chat done") for line in slow.lines.get("site-1", [])),
                            120, "the last line")
                got = slow.lines["site-1"]
                chat = [line.split(" - ", 3)[-1] for line in got if "site-1 chat " in line]
                assert not [line for line in got if "skipped" in line]
                assert chat == [f"site-1 chat {i:06d} " + "\x01" * 40 + "." * 40 for i in range(CHATTY)] + \
                    ["site-1 chat done"], (len(chat), chat[:1], chat[-2:])

        asyncio.run(live())
    finally:
        with contextlib.suppress(JobNotRunning):
            session.abort_job(job_id)
        wait_until(lambda: session.get_job_meta(job_id)["status"].startswith("FINISHED"), 60, "the job to end")
