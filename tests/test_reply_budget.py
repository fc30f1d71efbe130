"""Issue 16: large answers and grep children are bounded, so nobody exhausts the server or a site.

A view-only member floods ``get_job_logs`` of a 6 MB site log over several connections and never
reads the answers (finding A: the server went to 3 GiB, the site to 2.8 GiB and lost its
heartbeat). Here, against a real server and two real sites on loopback, memory stays bounded,
another admin's ``list_jobs`` and ``get_job_logs`` still answer, and a running 2-site job still
completes. Then many pathological greps at once (finding B) run at most ``MAX_GREPS`` children.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.api.async_session import AsyncSession
from console.flare_api import NoReply, new_secure_session
from console.runtime.target_runner import MAX_GREPS
from console.wire.budget import ReplyBudget
from console.wire.errors import RemoteError

from attacks import RawPeer, answer_time, record, rss_mib, scaled
from conftest import (
    ADMIN,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
    wait_until,
)
from jobs import numpy_job

MEMBER = "member@example.com"
LEAD = "lead@example.com"
#: The issue's bound: unbounded growth was +3 GiB on the server and +2.8 GiB on the site.
MAX_GROWTH_MIB = 200
LOG_MB = 6


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("budget")
    project = make_project(root, extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
                                        {"name": LEAD, "type": "admin", "org": "example", "role": "lead"}])
    server = ServerProcess(project.server_kit)
    sites = {name: SiteProcess(project.kit(name)) for name in ("site-1", "site-2")}
    admin = None
    try:
        server.start()
        start_together(list(sites.values()))
        admin = new_secure_session(ADMIN, str(project.admin_kit), timeout=30)
        wait_until(lambda: len(admin.get_system_info().client_info) == 2, 20, "both sites to register")
        yield {"root": root, "project": project, "server": server, "sites": sites, "admin": admin}
    finally:
        if admin is not None:
            admin.close()
        stop_together(list(sites.values()))
        stop_together([server])


def _children(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += len((task / "children").read_text().split())
        except OSError:
            pass
    return total


@pytest.fixture(scope="module")
def long_log(federation) -> str:
    """A finished job whose log on site-1 is 6 MB (a long run's log, as in the finding)."""
    admin = federation["admin"]
    done = admin.submit_job(str(numpy_job(federation["root"], name="long-log", rounds=1)))
    assert admin.wait_for_job(done, timeout=60)["status"] == "FINISHED:COMPLETED"
    site_log = federation["project"].kit("site-1") / done / "log.txt"
    wait_until(site_log.is_file, 20, "site-1's log of the job")
    with open(site_log, "ab") as out:
        line = b"2026-11-29 09:00:00 - INFO - round 1 of a long run, some metric = 0.123456789\n"
        out.write(line * (LOG_MB * (1 << 20) // len(line)))
    return done


@pytest.mark.timeout(240)
def test_unread_log_floods_stay_bounded(federation, long_log) -> None:
    admin, root = federation["admin"], federation["root"]
    server_pid = federation["server"].process.pid
    site_pid = federation["sites"]["site-1"].process.pid
    done = long_log
    # Another admin's job, running through the flood (each round sleeps on both sites).
    running = admin.submit_job(str(numpy_job(root, name="through-the-flood", rounds=4, sleep=1.0)))
    wait_until(lambda: admin.get_job_meta(running)["status"] == "RUNNING", 60, "the job to run")

    server_before, site_before = rss_mib(server_pid), rss_mib(site_pid)
    peers: list[RawPeer] = []
    sent = 0
    try:
        for _ in range(scaled(4)):
            peer = RawPeer(federation["project"].kit(MEMBER))
            peers.append(peer)
            assert peer.login()["ok"]
            sent += peer.flood(64, "get_job_logs", {"job_id": done, "target": "site-1", "log_file_name": "log.txt",
                                                    "tail_lines": None, "grep_pattern": None}, stall_seconds=1.0)
        peak_server = peak_site = 0.0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # the peak while the flood is being answered
            peak_server = max(peak_server, rss_mib(server_pid))
            peak_site = max(peak_site, rss_mib(site_pid))
            time.sleep(0.2)
        latency = answer_time(admin)
        started = time.monotonic()
        logs = admin.get_job_logs(done, target="site-1", tail_lines=3)
        log_s = time.monotonic() - started
        figures = {"connections": len(peers), "requests": sent, "log_mb": LOG_MB,
                   "server_rss_before_mib": round(server_before, 1), "server_rss_peak_mib": round(peak_server, 1),
                   "site_rss_before_mib": round(site_before, 1), "site_rss_peak_mib": round(peak_site, 1),
                   "list_jobs_s": round(latency, 4), "other_admin_log_s": round(log_s, 2)}
        record("unread get_job_logs of a 6 MB site log", **figures)
        assert peak_server - server_before < MAX_GROWTH_MIB, figures
        assert peak_site - site_before < MAX_GROWTH_MIB, figures
        assert latency < 1.0, figures
        assert "some metric" in str(logs), logs
        # The running job went on: site-1 kept its heartbeat and the job completed.
        assert admin.wait_for_job(running, timeout=120)["status"] == "FINISHED:COMPLETED"
        assert "site-1" in {c.name for c in admin.get_system_info().client_info}
    finally:
        for peer in peers:
            peer.close()
    for part in (federation["server"], *federation["sites"].values()):  # no traceback spam either
        assert "Traceback" not in part.stderr, part.stderr[-2000:]


@pytest.mark.timeout(120)
def test_two_identities_that_never_read_do_not_hold_the_large_answers_of_others(federation, long_log) -> None:
    """Report 9, finding 4: a member and a lead asked for the 6 MB log twice each and never read: all
    4 of the server's large-answer slots were theirs until the JSON pace cut each answer (~100 s),
    and the project admin's get_job_logs was refused "busy sending 4 large answers" every 10 s. Now
    an answer nobody reads for LARGE_ANSWER_STALL_SECONDS loses its slot (its end says why), so the
    admin's log comes while the two still hold their connections open."""
    from console.wire.replies import LARGE_ANSWER_STALL_SECONDS

    admin, server = federation["admin"], federation["server"]
    args = {"job_id": long_log, "target": "site-1", "log_file_name": "log.txt", "tail_lines": None,
            "grep_pattern": None}
    log_start = len(server.stderr)
    peers: list[RawPeer] = []
    try:
        for name in (MEMBER, LEAD):
            peer = RawPeer(federation["project"].kit(name))
            peers.append(peer)
            assert peer.login()["ok"]
            for _ in range(2):
                peer.send({"k": "req", "id": peer.next_id, "cmd": "get_job_logs", "args": args})
                peer.next_id += 1
        for peer in peers:  # each connection's first answer has begun (its head read, nothing more)
            peer.sock.settimeout(60)
            head = peer.read()
            assert head.get("k") == "res" and head.get("stream") and head.get("json"), head
        started = time.monotonic()
        logs = admin.get_job_logs(long_log, target="site-1", tail_lines=3)  # one try: no retries
        took = time.monotonic() - started
        record("large answers of two identities that never read", admin_log_s=round(took, 2),
               stall_s=LARGE_ANSWER_STALL_SECONDS)
        assert "some metric" in str(logs), logs
        wait_until(lambda: server.stderr[log_start:].count("the answer was not read for") >= 4, 30,
                   "the four unread answers to be dropped")
        ends = []  # what a hog reads once it reads: each answer's end says why the rest did not come
        while len(ends) < 2:
            frame = peers[0].read()
            if frame.get("k") == "end":
                ends.append(frame["error"]["message"])
        assert all(f"the answer was not read for {LARGE_ANSWER_STALL_SECONDS:g} s; the rest of it was dropped" in end
                   for end in ends), ends
    finally:
        for peer in peers:
            peer.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("target", ["server", "site-1"])
def test_pathological_greps_run_a_few_children_at_once(federation, target: str) -> None:
    """Two identities (each within its own budget) send 8 greps of ``\\(a\\+\\)\\+$`` to the server or,
    relayed, to a site: at most MAX_GREPS children run there, the rest wait and are refused with a
    clear error. Four each are past every limit they meet (2 large answers per identity, 1 search
    per user, MAX_GREPS per process); more would only queue longer."""
    project = federation["project"]
    part = federation["server"] if target == "server" else federation["sites"][target]
    (part.kit / "victim.txt").write_text("a" * 40 + "b\n")
    results: list[object] = []

    async def many() -> None:
        async def one(name: str, kit: Path) -> None:
            sess = AsyncSession(name, str(kit), timeout=30)
            try:
                await sess.connect()
                if target != "server":  # the site's searches fit in the server's wait (6 of 8 s): a shorter test
                    await sess.set_timeout(8)

                async def grep() -> None:
                    try:
                        results.append(await sess.shell_command("grep", target, None, "victim.txt", "\\(a\\+\\)\\+$"))
                    except Exception as exc:  # noqa: BLE001 - the refusal is what we look for
                        results.append(exc)

                await asyncio.gather(*(grep() for _ in range(4)))
            finally:
                await sess.close()

        task = asyncio.gather(one(ADMIN, project.admin_kit), one(LEAD, project.kit(LEAD)))
        most = 0
        while not task.done():
            most = max(most, _children(part.process.pid))
            await asyncio.sleep(0.05)
        await task
        record(f"8 pathological greps at once from 2 admins on the {target}", grep_children_max=most,
               limit=MAX_GREPS)
        assert 1 <= most <= MAX_GREPS, results

    asyncio.run(many())
    messages = " ".join(str(r) for r in results)
    assert "too many searches running" in messages or "already has 2 large answers on their way" in messages, messages
    assert answer_time(federation["admin"]) < 1.0
    _searches_ended(part)


def _searches_ended(part) -> None:
    """Waits until ``part`` runs no search: a search whose asker stopped waiting runs on to its own
    limit holding its user's slot, and the next test of this module's federation would be refused
    "too many searches running" (as it was after the greps above)."""
    wait_until(lambda: _children(part.process.pid) == 0, 30, f"the searches on {part.kit.name} to end")


@pytest.mark.timeout(90)
def test_a_site_stops_a_runaway_grep_before_the_server_stops_waiting(federation) -> None:
    """A nested repetition on a site is refused in the site's own words ("ran longer than ... use -F"),
    never the server's NoReply: the site's grep limit fits in the server's wait for it, whatever the
    session's timeout (final security tester, session 11, finding 2: both were 10 s)."""
    project = federation["project"]
    (federation["sites"]["site-1"].kit / "runaway.txt").write_text("a" * 60 + "\n")
    _searches_ended(federation["sites"]["site-1"])  # whatever ran before: this search must get a slot
    admin = new_secure_session(LEAD, str(project.kit(LEAD)), timeout=30)
    try:
        admin.set_timeout(8)  # the server waits 8 s for site-1: its grep gets 6 s of it (2 s kept: a loaded run missed 1 s)
        started = time.monotonic()
        with pytest.raises(Exception) as refused:  # noqa: PT011 - which one is the point
            admin.grep_target("site-1", pattern="\\(.*.*\\)*Q", file="runaway.txt")
        took = time.monotonic() - started
        assert not isinstance(refused.value, NoReply), refused.value
        # 6 s unless the machine was slow to start the search: the rest of the 6 s, then
        assert re.search(r"the pattern ran longer than [0-9.]+ s and was stopped; simplify it, or use -F",
                         str(refused.value)), refused.value
        record("a runaway grep on a site, the server waiting 8 s", answered_after_s=round(took, 2))
    finally:
        admin.close()


@pytest.mark.timeout(60)
def test_a_site_that_does_not_answer_in_time_is_one_line(federation) -> None:
    """A relayed read that times out (site-2 frozen for a moment) is a clear error for the admin and
    one warning line in the server's log, not a traceback per request (finding A). It is a NoReply in
    one sentence naming the user's command, not an InternalError naming the server's request (fuser10 #7)."""
    admin, server = federation["admin"], federation["server"]
    site = federation["sites"]["site-2"]
    admin.set_timeout(0.5)
    site.process.send_signal(signal.SIGSTOP)
    try:
        for _ in range(2):
            with pytest.raises(NoReply) as refused:
                admin.ls_target("site-2")
            assert str(refused.value) == ("site-2 did not answer ls within 0.5 s (is it running? check_status "
                                          "client says)")
        with pytest.raises(NoReply, match=r"^site-2 did not answer cat within 0\.5 s"):
            admin.cat_target("site-2", file="log.txt")
    finally:
        site.process.send_signal(signal.SIGCONT)
        admin.unset_timeout()
    wait_until(lambda: server.stderr.count("site-2 did not answer") >= 3, 10, "the server's warning lines")
    assert "Traceback" not in server.stderr
    assert "site-2" in {c.name for c in admin.get_system_info().client_info}  # it was never dropped


def test_the_budget_queues_then_refuses_and_forgets_identities() -> None:
    async def scenario() -> None:
        budget = ReplyBudget(total=3, per_identity=2, wait_seconds=0.3)
        release = asyncio.Event()
        held = 0

        async def hold(identity: str) -> None:
            nonlocal held
            async with budget.slot(identity, "cat"):
                held += 1
                await release.wait()

        tasks = [asyncio.create_task(hold("m")) for _ in range(2)]
        tasks.append(asyncio.create_task(hold("a")))
        deadline = asyncio.get_running_loop().time() + 10  # polled, not a bare sleep: CI once saw none yet at 50 ms
        while held < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert held == 3 and budget.in_use() == 3
        with pytest.raises(RemoteError, match="m already has 2 large answers"):
            await hold("m")
        with pytest.raises(RemoteError, match="busy sending 3 large answers to others"):
            await hold("b")
        waiter = asyncio.create_task(hold("b"))  # queued: gets the slot once one is freed
        release.set()
        await asyncio.gather(*tasks, waiter)
        assert held == 4 and budget.in_use() == 0 and budget.refused == 2
        assert not budget._mine and not budget._users  # noqa: SLF001 - nothing kept per identity

    asyncio.run(scenario())
