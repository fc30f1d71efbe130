"""On FLARE, a Ctrl-C after FLARE's call for a job-changing command returned: the command was done.

The FLARE backend refreshes the job's status after submit_job, clone_job and abort_job. A cancel
that lands during that refresh must say the command went on, with its result (CancelTooLate, as
the shell expects), never "cancelled": the job exists, or was aborted. Live POC, FLARE's own
Session; the cancel is timed on the backend's refresh starting (the real one, only watched).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from nvflare_poc import LiveFlare

from conftest import EXAMPLES

SCRIPT = """
import asyncio, sys, time
from console.api import errors
from console.backends import open_backend

async def cancelled_in_refresh(backend, start):
    # start() cancelled the moment the backend starts refreshing a status: FLARE's call has returned.
    refreshing = asyncio.Event()
    real = backend._refresh_status
    async def watched(job_id):
        refreshing.set()
        await real(job_id)
    backend._refresh_status = watched
    try:
        task = asyncio.create_task(start())
        seen = asyncio.create_task(refreshing.wait())
        await asyncio.wait([task, seen], return_when=asyncio.FIRST_COMPLETED, timeout=60)
        seen.cancel()
        if not refreshing.is_set():
            return "never refreshed", task.done() and task.result()
        task.cancel()
        try:
            return "done", await task
        except errors.CancelTooLate as late:
            return "late", late.result
        except asyncio.CancelledError:
            return "cancelled", None
    finally:
        backend._refresh_status = real

async def main():
    backend = await open_backend(sys.argv[1], timeout=30)
    try:
        how, job = await cancelled_in_refresh(backend, lambda: backend.submit_job(sys.argv[2]))
        print("submit", how, job)
        how, clone = await cancelled_in_refresh(backend, lambda: backend.clone_job(job))
        print("clone", how, clone)
        for which in (job, clone):
            print("exists", (await backend.get_job_meta(which))["job_id"] == which)
            how, answer = await cancelled_in_refresh(backend, lambda: backend.request("abort_job", {"job_id": which}))
            print("abort", how, bool(answer))
        deadline = time.monotonic() + 90
        while True:
            statuses = {(await backend.get_job_meta(j))["status"] for j in (job, clone)}
            if statuses == {"FINISHED:ABORTED"} or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        print("statuses", sorted(statuses))
    finally:
        await backend.close()

asyncio.run(main())
"""


@pytest.mark.timeout(240)
def test_a_cancel_during_the_refresh_after_flares_call_says_the_command_went_on(flare_poc: LiveFlare,
                                                                                tmp_path: Path) -> None:
    done = subprocess.run([str(flare_poc.python), "-c", SCRIPT, str(flare_poc.admin_kit),
                           str(EXAMPLES / "hello-numpy-sag")], capture_output=True, text=True, timeout=200,
                          env=flare_poc.console_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    submitted = next(line for line in lines if line.startswith("submit "))
    assert submitted.startswith("submit late ") and len(submitted.split()[2]) == 36, done.stdout  # its job ID
    cloned = next(line for line in lines if line.startswith("clone "))
    assert cloned.startswith("clone late ") and len(cloned.split()[2]) == 36, done.stdout
    assert lines.count("exists True") == 2, done.stdout  # both made, as the outcome said
    assert lines.count("abort late True") == 2, done.stdout  # FLARE's answer handed on
    assert "statuses ['FINISHED:ABORTED']" in lines, done.stdout  # both aborted, as the outcome said
