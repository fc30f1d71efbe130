"""Leaving the demo: its server and sites stop with the console, so first a word on the jobs still running.

Owns the question asked when leaving ``flare-console demo`` while any job on its server still runs
(submitted in this console or elsewhere), and the bounded wait for the server's word on them; leaving itself stays ``app.py``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from console.api.async_session import is_final
from console.backends import nvflare_orphans as orphans
from console.backends.base import Backend
from console.commands import Engine
from console.shell.execute import Executor
from console.shell.interrupt import Interrupts


class LeaveCheck:
    """Whether the console may leave now (``allowed``): always, unless it runs the demo."""

    #: Seconds the demo's leave check waits, in all, for the server's word on the jobs submitted here.
    WAIT = 3.0
    #: Seconds before that wait is said (a server answering at once is not worth a line).
    SAID_AFTER = 0.3

    def __init__(self, demo: bool, backend: Backend, executor: Executor, interrupts: Interrupts,
                 emit: Callable[[str, str], None], confirm: Callable[[str], Awaitable[bool]]) -> None:
        self.demo = demo
        self.backend = backend
        self.executor = executor
        self.interrupts = interrupts
        self.emit = emit
        self.confirm = confirm

    async def allowed(self) -> bool:
        """In the demo, leaving stops the server and sites: ask first while any job on the demo's server
        runs, submitted here or from anywhere else (another console, a batch).

        The server's job list is awaited ``WAIT`` s, said once it takes longer than ``SAID_AFTER`` s;
        without it, the jobs submitted here are named as unknown in the question.
        Ctrl-C meanwhile leaves without its word: the user asked to leave, and Ctrl-C while leaving
        means "do not wait" elsewhere too (``GoingOn.wait_all``).
        """
        if not self.demo or not self.backend.connected:
            return True
        # The user's list_jobs, not completion's: on FLARE it marks the jobs its server no longer runs.
        asking = asyncio.ensure_future(self.backend.request("list_jobs", {"reverse": True}))
        waiting = asyncio.ensure_future(asyncio.wait({asking}, timeout=self.WAIT))
        try:
            with self.interrupts.cancels(waiting):
                await asyncio.wait({waiting}, timeout=self.SAID_AFTER)
                if not waiting.done():
                    self.emit(f"asking the server whether jobs still run (at most {self.WAIT:g} s; "
                              "Ctrl-C leaves without asking)", "class:status.queued")
                    await asyncio.wait({waiting})
        finally:
            asking.cancel()
            waiting.cancel()
        if waiting.cancelled():
            self.emit("leaving without the server's word on running jobs", "class:status.queued")
            return True
        said = []
        if asking.done() and not asking.cancelled() and asking.exception() is None:
            running = running_jobs(asking.result())
            if running:
                said.append(f"job{'s' if len(running) > 1 else ''} {', '.join(running)} still running")
        else:
            unknown = [job_id[:8] for job_id in dict.fromkeys(self.executor.submitted)]
            if unknown:
                said.append(f"the server did not say within {self.WAIT:g} s whether "
                            f"job{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} still "
                            f"run{'' if len(unknown) > 1 else 's'}")
            else:
                said.append(f"the server did not say within {self.WAIT:g} s which jobs still run")
        if not said:
            return True
        # Ours marks them at its next start; FLARE's POC is stopped under them.
        ending = "end FINISHED:ABANDONED" if self.backend.engine is Engine.OURS else "are stopped unfinished"
        question = (f"{'; '.join(said)}: leaving stops the demo's server and sites, and unfinished jobs {ending}. "
                    "Leave anyway? [y/N] ")
        if await self.confirm(question):
            return True
        self.emit("staying; 'monitor_job JOB' follows a job, 'abort_job JOB' stops one", "class:status.queued")
        return False


def running_jobs(rows: list[dict[str, Any]]) -> list[str]:
    """``list_jobs`` rows of jobs that run, as "ID8 (name, STATUS)", in the server's order (newest first): not
    finished, and not one FLARE lists RUNNING that its server no longer runs (``nvflare_orphans``: the console
    called it abandoned already; leaving stops nothing of it)."""
    return [f"{str(row.get('job_id', ''))[:8]} ({row.get('name') or row.get('job_name') or ''}, {row.get('status')})"
            for row in rows if isinstance(row, dict) and not is_final(row.get("status"))
            and row.get(orphans.ORPHANED) is not True]
