"""A stand-in for the FLARE backend's side the shell's monitor drives (``console.backends.nvflare_monitor``
through ``console.shell.monitors.MonitorManager``), over a test's stand-in of FLARE's Session: what the monitor
prints, for tests of what it says about a job's sites."""

from __future__ import annotations

import asyncio
from typing import Any


def monitor_said(session: Any, job_id: str, call_seconds: float) -> list[str]:
    """The lines a shell's monitor of ``job_id`` printed until the job ended, each FLARE call taking
    ``call_seconds`` (the poll's calls ride on one worker: a call's length is what a test varies)."""
    from console.backends import nvflare_monitor
    from console.backends.nvflare_poll import JobPoll
    from console.commands import Engine
    from console.shell.monitors import MonitorManager

    class Backend:
        engine = Engine.NVFLARE
        rounds_seen: dict[str, Any] = {}

        def __init__(self) -> None:
            self.poll = JobPoll(self)

        async def call_aside(self, func: Any, args: dict[str, Any], what: str = "") -> Any:
            await asyncio.sleep(call_seconds)
            return func(session, args)

        async def get_job_meta(self, job_id: str) -> dict[str, Any]:
            return session.get_job_meta(job_id)

        def note_status(self, meta: dict[str, Any]) -> None:
            pass

        async def monitor_job(self, job_id: str, timeout: float, interval: float, cb: Any) -> Any:
            return await nvflare_monitor.monitor_job(self, job_id, timeout, interval, cb)

    said: list[str] = []

    async def run() -> None:
        backend = Backend()
        await MonitorManager(backend, lambda text, _s, _m: said.append(text)).follow(job_id, 30.0, 0.1)  # type: ignore[arg-type]
        await backend.poll.stop()

    asyncio.run(run())
    return said
