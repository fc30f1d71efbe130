"""Leaving the demo: its server and sites stop with the console, so first a word on the jobs submitted here.

Owns the question asked when leaving ``flare-console demo`` while a job submitted in this console
still runs, and the bounded wait for the server's word on them; leaving itself stays ``app.py``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from console.api.async_session import is_final
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
        """In the demo, leaving stops the server and sites: ask first while a job submitted here runs.

        The server's word is awaited ``WAIT`` s in all, said once it takes longer than
        ``SAID_AFTER`` s; jobs it did not answer for are named as unknown in the question.
        Ctrl-C meanwhile leaves without its word: the user asked to leave, and Ctrl-C while leaving
        means "do not wait" elsewhere too (``GoingOn.wait_all``).
        """
        if not self.demo or not self.backend.connected or not self.executor.submitted:
            return True
        asks = {job_id: asyncio.ensure_future(self.backend.get_job_meta(job_id))
                for job_id in dict.fromkeys(self.executor.submitted)}
        waiting = asyncio.ensure_future(asyncio.wait(asks.values(), timeout=self.WAIT))
        try:
            with self.interrupts.cancels(waiting):
                await asyncio.wait({waiting}, timeout=self.SAID_AFTER)
                if not waiting.done():
                    self.emit(f"asking the server whether the jobs submitted here still run (at most "
                              f"{self.WAIT:g} s; Ctrl-C leaves without asking)", "class:status.queued")
                    await asyncio.wait({waiting})
        finally:
            for ask in asks.values():
                ask.cancel()
            waiting.cancel()
        if waiting.cancelled():
            self.emit("leaving without the server's word on the jobs submitted here", "class:status.queued")
            return True
        running, unknown = [], []
        for job_id, ask in asks.items():
            if not ask.done() or ask.cancelled():
                unknown.append(job_id[:8])
            elif ask.exception() is None:  # (a job deleted meanwhile, a dropped link: nothing to keep)
                meta = ask.result()
                if not is_final(meta["status"]):
                    running.append(f"{job_id[:8]} ({meta.get('name', '')}, {meta['status']})")
        if not running and not unknown:
            return True
        said = []
        if running:
            said.append(f"job{'s' if len(running) > 1 else ''} {', '.join(running)} still running")
        if unknown:
            said.append(f"the server did not say within {self.WAIT:g} s whether "
                        f"job{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} still "
                        f"run{'' if len(unknown) > 1 else 's'}")
        # Ours marks them at its next start; FLARE's POC is stopped under them.
        ending = "end FINISHED:ABANDONED" if self.backend.engine is Engine.OURS else "are stopped unfinished"
        question = (f"{'; '.join(said)}: leaving stops the demo's server and sites, and unfinished jobs {ending}. "
                    "Leave anyway? [y/N] ")
        if await self.confirm(question):
            return True
        self.emit("staying; 'monitor_job JOB' follows a job, 'abort_job JOB' stops one", "class:status.queued")
        return False
