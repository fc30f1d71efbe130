"""download_job of a big result: time to the first byte, transfer rate, and the whole call.

A server-only job carries ``--mb`` MB of incompressible data (in its job.zip); once it has
finished, it is downloaded ``--runs`` times. Each run measures, on one admin session:
the time from the request to the answer's head (the first byte: before streaming, the
server built a whole archive first), the transfer to the head's end in MB/s, and
``download_job_result`` end to end (transfer and unpacking). Medians are printed.

    python benchmarks/bench_download.py [--mb 200] [--runs 3]

Disk: about four times ``--mb`` while it runs, in a scratch folder removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console.api.async_session import AsyncSession  # noqa: E402

from common import ADMIN, make_project, print_table, quick_job, running_server, scratch  # noqa: E402


async def _one_run(session: AsyncSession, job_id: str, root: Path) -> tuple[float, float, int, float]:
    """(seconds to the head, seconds of the transfer, bytes, seconds of download_job_result)."""
    target = root / "raw.bin"
    start = time.perf_counter()
    transfer = asyncio.create_task(session.client.download("download_job", {"job_id": job_id}, target,
                                                           timeout=600))
    while not target.exists() and not transfer.done():  # the target is made once the head is read
        await asyncio.sleep(0.001)
    head_at = time.perf_counter()
    await transfer
    done_at = time.perf_counter()
    size = target.stat().st_size
    target.unlink()
    start_call = time.perf_counter()
    result = await session.download_job_result(job_id, str(root / "dl"))
    whole = time.perf_counter() - start_call
    shutil.rmtree(result)
    return head_at - start, done_at - head_at, size, whole


async def _measure(kit: Path, job_folder: Path, runs: int, root: Path) -> list[tuple[float, float, int, float]]:
    session = AsyncSession(ADMIN, kit, timeout=30)
    await session.connect()
    session.client.request_timeout = 600
    try:
        job_id = await session.submit_job(str(job_folder))
        shutil.rmtree(job_folder)  # its data is in the store now: the disk is kept for the download
        while not str((await session.get_job_meta(job_id))["status"]).startswith("FINISHED:"):
            await asyncio.sleep(0.2)
        return [await _one_run(session, job_id, root) for _ in range(runs)]
    finally:
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="MB of incompressible data in the job (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="downloads measured (default 3)")
    args = parser.parse_args()
    with scratch() as root:
        prod = make_project(root)
        job = quick_job(root, steps=1, step_seconds=0.01)
        with open(job / "weights.bin", "wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(1 << 20))
        with running_server(prod):
            samples = asyncio.run(_measure(prod / ADMIN, job, args.runs, root))
    first, transfer, size, whole = (statistics.median(column) for column in zip(*samples, strict=True))
    mb = size / 1e6
    print_table(f"download_job of a {mb:.0f} MB result (medians of {args.runs})", [
        ("time to first byte (head)", f"{first * 1000:.0f} ms", "at once", str(args.runs)),
        ("transfer", f"{mb / transfer:.0f} MB/s ({transfer:.1f} s)", ">= 100 MB/s", str(args.runs)),
        ("download_job_result, end to end", f"{whole:.1f} s", "", str(args.runs)),
    ])


if __name__ == "__main__":
    main()
