"""A bounded load run against a server: many sessions issuing mixed commands, plus uploads.

Used by ``benchmarks/bench_load.py`` (200 sessions) and by the test suite (fewer): both
count every request, every failure, and the latency of each command.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.api.async_session import AsyncSession


@dataclass
class LoadReport:
    sessions: int
    seconds: float
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    submits: int = 0
    submitted_ids: list[str] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0


async def run_load(username: str, kit: Path, *, sessions: int, seconds: float, submitters: int,
                   job_folder: Path, seed: int = 7) -> LoadReport:
    """``sessions`` sessions loop over list_jobs / get_job_meta / check_status for ``seconds``;
    ``submitters`` of them also submit ``job_folder`` once each, all at the same time."""
    report = LoadReport(sessions, seconds)
    opened = [AsyncSession(username, str(kit), timeout=30) for _ in range(sessions)]
    rng = random.Random(seed)
    try:
        await asyncio.gather(*(s.connect() for s in opened))
        seed_job = await opened[0].submit_job(str(job_folder))
        report.submitted_ids.append(seed_job)
        deadline = time.monotonic() + seconds

        async def worker(sess: AsyncSession, index: int) -> None:
            if index < submitters:
                try:
                    report.submitted_ids.append(await sess.submit_job(str(job_folder)))
                    report.submits += 1
                except Exception as exc:
                    report.failures.append(f"submit: {type(exc).__name__}: {exc}")
            while time.monotonic() < deadline:
                choice = rng.random()
                started = time.perf_counter()
                try:
                    if choice < 0.5:
                        await sess.list_jobs(limit=20, reverse=True)
                    elif choice < 0.85:
                        await sess.get_job_meta(seed_job[:8])
                    else:
                        await sess.get_system_info()
                    report.latencies.append(time.perf_counter() - started)
                    report.requests += 1
                except Exception as exc:
                    report.failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(worker(s, i) for i, s in enumerate(opened)))
    finally:
        await asyncio.gather(*(s.close() for s in opened), return_exceptions=True)
    return report
