"""``follow JOB all`` on FLARE started at each moment of a job's life (``console.backends.nvflare_logs``).

FLARE's server removes its own job workspace, ``log.txt`` with it, as soon as the job ends; the sites keep
theirs. A follow started after that (a loaded CI run's batch follow began after its 15 s job had ended: every
site's last lines and not one of the server's, exit 0) finishes the server's log from FLARE's log store
(``get_job_logs``), and a log neither place gives is said. FLARE stands behind its shell commands here: ``ls -l``
and ``tail -c`` over real files in a folder per target, ``get_job_logs`` from a dict (the POC tests,
tests/test_live_views_flare.py, follow real jobs).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from console.api import errors
from console.backends import nvflare_logs
from console.backends.log_window import LogCursor
from console.backends.nvflare_poll import JobPoll

JOB = "5e11f011-0000-4000-8000-000000000001"
SITES = ("site-1", "site-2")


def _log(target: str, first: int, last: int) -> str:
    return "".join(f"2026-11-30 06:21:{i % 60:02d},000 - {target} - INFO - line {i}\n" for i in range(first, last))


class Flare:
    """A FLARE server's answers: job status, targets' workspaces under ``root``, its log store."""

    def __init__(self, root: Path, status: str) -> None:
        self.root = root
        self.status = status
        self.store: dict[str, str] = {}
        self.unavailable: dict[str, str] = {}
        self.looks = 0  # ls calls: the test moves the job on by them, not by the clock
        self.deploy = ["@ALL"]
        self.frozen: set[str] = set()  # sites whose next tail gets no answer (as FLARE's server says it, in ours)

    def file(self, target: str) -> Path:
        return self.root / target / JOB / "log.txt"

    def write(self, target: str, text: str) -> None:
        path = self.file(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(text)

    # FLARE's Session, as our FLARE command functions call it
    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        return {"job_id": JOB, "name": "hello-numpy-sag", "status": self.status, "deploy_map": {"app": self.deploy}}

    def ls_target(self, target: str, options: str, path: str) -> str:
        self.looks += 1
        file = self.root / target / path
        if not file.exists():
            return f"ls: cannot access '{path}': No such file or directory\n"
        return f"-rw-r--r-- 1 flare flare {file.stat().st_size} Nov 30 06:21 {path}\n"

    def tail_target(self, target: str, options: str, path: str) -> str:
        if target in self.frozen:
            self.frozen.discard(target)
            raise errors.NoReply(f"follow: {target} did not answer FLARE's server in time; is it running? "
                                 "check_status client shows which sites answer")
        file = self.root / target / path
        if not file.exists():
            return f"tail: cannot open '{path}' for reading: No such file or directory\n"
        count = int(options.split()[1])
        data = file.read_bytes()
        return data[-count:].decode()

    def get_job_logs(self, job_id: str, target: str = "server", **_: Any) -> dict[str, Any]:
        logs = {target: self.store[target]} if target in self.store else {}
        unavailable = {target: self.unavailable[target]} if target in self.unavailable else {}
        return {"logs": logs, **({"unavailable": unavailable} if unavailable else {})}

    def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
        return {"clients": [{"client_name": s} for s in SITES]}


class Backend:
    rounds_seen: dict[str, Any] = {}

    def __init__(self, flare: Flare) -> None:
        self.flare = flare
        self.poll = JobPoll(self)

    async def call(self, func: Any, args: dict[str, Any], what: str = "") -> Any:
        await asyncio.sleep(0.002)
        return func(self.flare, args)

    call_aside = call

    async def get_job_meta(self, job_id: str) -> dict[str, Any]:
        return self.flare.get_job_meta(job_id)

    async def site_names(self, most: int | None = None) -> list[str]:
        return list(SITES)

    def note_status(self, meta: dict[str, Any]) -> None:
        pass


class Printer:
    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self.notes: list[tuple[str, str]] = []

    def __call__(self, target: str, lines: list[str]) -> None:
        self.lines.setdefault(target, []).extend(lines)

    def note(self, target: str, text: str) -> None:
        self.notes.append((target, text))


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvflare_logs, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(nvflare_logs, "FINAL_GRACE", 2.0)


def _follow(flare: Flare, lines: int, script: Any = None, resume: dict[str, Any] | None = None) -> Printer:
    """``follow JOB all -n lines`` to its end; ``script(flare)`` runs between polls (moves the job on)."""
    printer = Printer()

    async def run() -> None:
        backend = Backend(flare)
        stream = await nvflare_logs.follow_log(backend, JOB, "all", lines, printer, resume)  # type: ignore[arg-type]
        try:
            while not stream.done.is_set():
                if script is not None:
                    script(flare)
                await asyncio.sleep(0.01)
            assert stream.error is None, stream.error
            assert stream.targets == ["server", *SITES]
        finally:
            await stream.close()
            await backend.poll.stop()

    asyncio.run(asyncio.wait_for(run(), 30))
    return printer


def _ended(tmp_path: Path) -> Flare:
    """A job that ended: the sites keep their workspaces, the server's log is in the store only."""
    flare = Flare(tmp_path, "FINISHED:COMPLETED")
    for site in SITES:
        flare.write(site, _log(site, 0, 40))
    flare.store["server"] = _log("server", 0, 60)
    return flare


@pytest.mark.timeout(60)
def test_a_follow_started_after_the_job_ended_shows_the_servers_last_lines_from_the_store(tmp_path: Path) -> None:
    printer = _follow(_ended(tmp_path), 5)
    assert printer.lines == {t: _log(t, n - 5, n).splitlines() for t, n in (("server", 60), ("site-1", 40),
                                                                             ("site-2", 40))}, printer.lines
    assert printer.notes == []


@pytest.mark.timeout(60)
def test_a_log_neither_the_workspace_nor_the_store_gives_is_said_naming_why(tmp_path: Path) -> None:
    flare = _ended(tmp_path)
    del flare.store["server"]
    flare.unavailable["server"] = "server log not available for this job"
    printer = _follow(flare, 5)
    assert set(printer.lines) == set(SITES)
    assert printer.notes == [("server", f"its log could not be had: no {JOB}/log.txt in its workspace (FLARE's "
                              "server removes its own when the job ends), and FLARE's log store has none (server log "
                              "not available for this job)")], printer.notes


@pytest.mark.timeout(60)
def test_a_follow_started_as_the_job_ends_finishes_the_servers_log_from_the_store(tmp_path: Path) -> None:
    """Listed RUNNING when the follow started, the server's workspace already gone: its last lines, from the
    store, once the status is final (the store is written after it: asked again until it has the log)."""
    flare = _ended(tmp_path)
    flare.status = "RUNNING"
    stored = flare.store.pop("server")

    def ends(flare: Flare) -> None:
        if flare.looks >= 6:
            flare.status = "FINISHED:COMPLETED"
        if flare.looks >= 15:
            flare.store["server"] = stored

    printer = _follow(flare, 5, ends)
    assert printer.lines["server"] == _log("server", 55, 60).splitlines(), printer.lines
    assert printer.notes == []


@pytest.mark.timeout(60)
def test_a_follow_started_before_the_job_ran_delivers_every_log_whole_each_line_once(tmp_path: Path) -> None:
    """Started while the job waits to be scheduled: each log appears later and is followed from its first line,
    not from its last -n lines; the server's, removed as the job ends, is finished from the store."""
    flare = Flare(tmp_path, "SUBMITTED")
    written = {t: 0 for t in ("server", *SITES)}

    def runs(flare: Flare) -> None:
        if flare.looks < 6 or flare.status.startswith("FINISHED"):
            return
        flare.status = "RUNNING"
        for target in written:
            if written[target] < 200:
                flare.write(target, _log(target, written[target], written[target] + 20))
                written[target] += 20
        if all(n == 200 for n in written.values()):
            flare.store["server"] = flare.file("server").read_text()
            flare.file("server").unlink()
            flare.status = "FINISHED:COMPLETED"

    printer = _follow(flare, 5, runs)
    assert printer.lines == {t: _log(t, 0, 200).splitlines() for t in written}, \
        {t: (len(v), v[:2]) for t, v in printer.lines.items()}
    assert printer.notes == []


@pytest.mark.timeout(60)
def test_a_site_of_the_job_that_is_not_connected_is_said_not_left_out_of_all(tmp_path: Path) -> None:
    flare = _ended(tmp_path)
    flare.deploy = ["server", *SITES, "site-9"]
    printer = _follow(flare, 5)
    assert set(printer.lines) == {"server", *SITES}
    assert printer.notes == [("site-9", f"is a site of job {JOB[:8]} but is not connected (check_status server "
                                        "lists the connected): its log is not followed")], printer.notes


@pytest.mark.timeout(60)
def test_a_site_silent_between_its_ls_and_its_tail_is_said_and_followed_on(tmp_path: Path) -> None:
    """A site that froze for a moment (its tail got no answer: our NoReply) while its log grew: said, followed on
    when it answers, each line once; it ended the whole follow before."""
    flare = Flare(tmp_path, "RUNNING")
    written = {t: 0 for t in ("server", *SITES)}
    for target in written:
        flare.write(target, _log(target, 0, 10))
        written[target] = 10

    def runs(flare: Flare) -> None:
        if flare.status.startswith("FINISHED"):
            return
        for target in written:
            if written[target] < 100:
                flare.write(target, _log(target, written[target], written[target] + 10))
                written[target] += 10
        if written["site-2"] == 50:
            flare.frozen.add("site-2")
        if all(n == 100 for n in written.values()) and flare.looks > 60:
            flare.status = "FINISHED:COMPLETED"

    printer = _follow(flare, 5, runs)
    for target, lines in printer.lines.items():
        assert lines == _log(target, 100 - len(lines), 100).splitlines() and len(lines) >= 5, (target, lines[:2])
    assert ("site-2", "does not answer (is it running? check_status client says): its log follows when it does") in \
        printer.notes and printer.notes[-1] == ("site-2", "answers again: its log follows"), printer.notes


@pytest.mark.timeout(60)
def test_a_follow_resumed_before_a_log_was_first_seen_gives_all_of_it(tmp_path: Path) -> None:
    """A dropped link while a target's log was not there yet: the follow resumed (``-n 0``, its cursors) gives
    that log from its first line, not from where it was when the link came back."""
    flare = _ended(tmp_path)
    resume = {t: LogCursor() for t in ("server", *SITES)}
    printer = _follow(flare, 0, resume=resume)
    assert printer.lines == {t: _log(t, 0, n).splitlines() for t, n in (("server", 60), ("site-1", 40),
                                                                         ("site-2", 40))}, printer.lines
