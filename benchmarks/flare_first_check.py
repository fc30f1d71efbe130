"""The first monitor's first check on NVIDIA FLARE: with the poll's Session logged in at that check, or ahead.

    python benchmarks/flare_first_check.py [--runs N]     # starts a FLARE POC (nvflare_peer), prints a table

Each run opens a fresh FLARE backend as the console does, sends a command at once (a user who
types at once), waits 2.5 s (the user typing ``monitor_job JOB``), sends a command again, then starts
following a job and times its first poll check (the watch's first news). "before": nothing made the
poll's Session log in ahead (as before the console warmed it up; what a batch still does).
"after": the interactive console's first completion fetch (``list_jobs``) ran first, which logs
the poll's Session in once the user's Session has been idle a second. The command round trips
(``check_status server``) tell whether that login slows what the user does. Medians of N runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JOB = REPO / "examples" / "hello-numpy-sag"


async def _one(kit: str, job_id: str, ahead: bool) -> tuple[float, float, float]:
    from console.backends import open_backend

    backend = await open_backend(kit, timeout=30)
    try:
        if ahead:
            await backend.list_jobs()  # the console's first completion fetch
        began = time.perf_counter()
        await backend.request("check_status", {"target_type": "server"})
        at_once = time.perf_counter() - began
        await asyncio.sleep(2.5)
        began = time.perf_counter()
        await backend.request("check_status", {"target_type": "server"})
        later = time.perf_counter() - began
        began = time.perf_counter()
        watch = backend.poll.watch(job_id, 0.5)
        await asyncio.wait_for(watch.changed.wait(), 60)
        first = time.perf_counter() - began
        backend.poll.unwatch(job_id, watch)
        return first, at_once, later
    finally:
        await backend.close()


async def measure(kit: str, runs: int) -> None:
    from console.backends import open_backend

    backend = await open_backend(kit, timeout=30)
    try:
        job_id = await backend.submit_job(str(JOB))
    finally:
        await backend.close()
    rows = []
    for ahead in (False, True):
        runs_ = [await _one(kit, job_id, ahead) for _ in range(runs)]
        rows.append(("after (logged in ahead)" if ahead else "before (login at the first check)",
                     *(statistics.median(r[i] for r in runs_) for i in range(3))))
    print(f"{'poll Session':<36} {'first check':>12} {'command at once':>16} {'command 2.5 s later':>20}")
    for name, first, at_once, later in rows:
        print(f"{name:<36} {first * 1000:>9.1f} ms {at_once * 1000:>13.1f} ms {later * 1000:>17.1f} ms")
    print(f"(medians of {runs} runs, each a fresh console login; FLARE POC on loopback, {os.cpu_count()} cores)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--measure", metavar="KIT", help=argparse.SUPPRESS)  # in FLARE's venv
    args = parser.parse_args()
    if args.measure:
        asyncio.run(measure(args.measure, args.runs))
        return 0
    sys.path.insert(0, str(HERE))
    from nvflare_peer import running_poc

    with running_poc(log=lambda message: print(message, file=sys.stderr)) as poc:
        env = {**poc.env, "PYTHONPATH": str(REPO)}
        env.pop("FLARE_KIT", None)
        done = subprocess.run([str(poc.python), __file__, "--measure", str(poc.admin_kit), "--runs", str(args.runs)],
                              env=env, timeout=900, check=False)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
