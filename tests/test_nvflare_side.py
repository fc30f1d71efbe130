"""The poll's own FLARE Session (``console.backends.nvflare_side``): logged in ahead, and again when FLARE ended it.

Against a scripted FLARE Session whose login waits for the test (so "in the background" is seen
without timing anything), then the wiring on the live POC: the interactive console's first
completion fetch logs the poll's Session in, a batch never does.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nvflare_poc import LiveFlare

from console.api import errors
from console.backends.nvflare_side import SideSession


class SessionClosed(Exception):  # as FLARE's flare_api names it
    pass


def _translate(exc: BaseException) -> BaseException:
    return errors.SessionClosed(str(exc)) if type(exc).__name__ == "SessionClosed" else exc


class FlareSession:
    def __init__(self, number: int) -> None:
        self.number = number
        self.ended = False  # FLARE's server ended it (idle for 30 minutes)
        self.closed = False

    def get_job_meta(self, job_id: str) -> dict[str, Any]:
        if self.ended or self.closed:
            raise SessionClosed("the session is closed on server")
        return {"job_id": job_id, "session": self.number}

    def close(self) -> None:
        self.closed = True


class Logins:
    """FLARE's login: each one waits until the test lets it through (``go``)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()
        self.sessions: list[FlareSession] = []

    def __call__(self, old: Any) -> FlareSession:
        self.started.set()
        assert self.go.wait(30), "the test never let the login through"
        self.sessions.append(FlareSession(len(self.sessions) + 1))
        return self.sessions[-1]


def _meta(session: Any, args: dict[str, Any]) -> dict[str, Any]:
    return session.get_job_meta(args["job_id"])


async def _until(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@pytest.mark.timeout(60)
def test_warm_up_logs_in_in_the_background_and_the_first_call_finds_it_done() -> None:
    async def scenario() -> None:
        logins = Logins()
        side = SideSession(logins, _translate, "test-side")
        try:
            side.warm_up()  # returns at once: the login is still held by the test
            assert not side.logged_in
            await _until(logins.started.is_set, "the login to start")
            ticked = 0
            for _ in range(5):  # the loop runs meanwhile (the prompt, typing)
                await asyncio.sleep(0)
                ticked += 1
            assert ticked == 5 and not side.logged_in
            logins.go.set()
            await _until(lambda: side.logged_in, "the background login")
            side.warm_up()  # once only
            assert (await side.call(_meta, {"job_id": "j"}))["session"] == 1
            assert side.logins == 1 and len(logins.sessions) == 1
        finally:
            await side.close(5)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_calls_during_the_warm_up_wait_for_that_login_and_without_it_the_first_call_logs_in() -> None:
    async def scenario() -> None:
        logins = Logins()
        side = SideSession(logins, _translate, "test-side")
        try:
            side.warm_up()
            await _until(logins.started.is_set, "the login to start")
            calls = [asyncio.create_task(side.call(_meta, {"job_id": f"j{i}"})) for i in range(3)]
            await asyncio.sleep(0.05)
            assert not any(c.done() for c in calls)
            logins.go.set()
            assert [(await c)["session"] for c in calls] == [1, 1, 1]
            assert side.logins == 1
        finally:
            await side.close(5)
        # A batch: no warm-up, no login until something is followed.
        cold = Logins()
        cold.go.set()
        batch = SideSession(cold, _translate, "test-side")
        try:
            await asyncio.sleep(0.05)
            assert batch.logins == 0 and not cold.started.is_set()
            assert (await batch.call(_meta, {"job_id": "j"}))["job_id"] == "j"
            assert batch.logins == 1
        finally:
            await batch.close(5)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_session_flare_ended_for_idling_is_replaced_and_the_call_answered() -> None:
    async def scenario() -> None:
        logins = Logins()
        logins.go.set()
        side = SideSession(logins, _translate, "test-side")
        try:
            assert (await side.call(_meta, {"job_id": "j"}))["session"] == 1
            logins.sessions[0].ended = True  # FLARE's server: "session closed due to inactivity"
            assert (await side.call(_meta, {"job_id": "j"}))["session"] == 2
            assert side.logins == 2
            await _until(lambda: logins.sessions[0].closed, "the ended Session to be let go")
        finally:
            await side.close(5)
        assert logins.sessions[1].closed

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_leaving_during_the_warm_up_login_closes_the_session_it_made() -> None:
    async def scenario() -> None:
        logins = Logins()
        side = SideSession(logins, _translate, "test-side")
        side.warm_up()
        await _until(logins.started.is_set, "the login to start")
        closing = asyncio.create_task(side.close(10))
        await asyncio.sleep(0.05)
        logins.go.set()
        await closing
        assert len(logins.sessions) == 1 and logins.sessions[0].closed
        with pytest.raises(errors.SessionClosed):
            await side.call(_meta, {"job_id": "j"})

    asyncio.run(scenario())


LIVE = """
import asyncio, sys, time
from console.backends import open_backend
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_progress import ask_sites, connected_sites, running_sites

async def main():
    backend = await open_backend(sys.argv[1], timeout=30)
    side = backend._side
    try:
        await backend.request("check_status", {"target_type": "server"})  # what a batch asks
        await asyncio.sleep(1.0)
        print("batch logins", side.logins)
        await backend.list_jobs()  # the interactive console's first completion fetch
        deadline = time.monotonic() + 60
        while not side.logged_in and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        print("console logins", side.logins, side.logged_in)
        meta = await backend.call_aside(COMMANDS["check_status"], {"target_type": "server"})
        print("first check", side.logins, sorted(meta))
        # What the poll reads of FLARE's answers when it asks a job's sites (nvflare_progress).
        answer, error, _took = await backend.call_aside(ask_sites, {"sites": []})
        sites = connected_sites(answer, error)
        print("connected", sites)
        answer, error, _took = await backend.call_aside(ask_sites, {"sites": sites})
        print("running", sorted(running_sites(answer, error, "no-such-job", sites)))
    finally:
        await backend.close()

asyncio.run(main())
"""


@pytest.mark.timeout(180)
def test_on_flare_the_consoles_completion_fetch_logs_the_polls_session_in_and_a_batch_does_not_and_sites_are_read(
        flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = subprocess.run([str(flare_poc.python), "-c", LIVE, str(flare_poc.admin_kit)], capture_output=True,
                          text=True, timeout=150, env=flare_poc.console_env(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "batch logins 0" in lines, done.stdout
    assert "console logins 1 True" in lines, done.stdout
    first = next(line for line in lines if line.startswith("first check"))
    assert first.startswith("first check 1 ") and "server_status" in first, done.stdout
    assert f"connected {sorted(flare_poc.sites)}" in lines, done.stdout  # the names of an @ALL job's sites
    assert "running []" in lines, done.stdout  # every site answered, none runs that job
