"""Leaving the demo: its server and sites stop with the console, so first a word on the jobs still running.

Owns the question asked when leaving ``flare-console demo`` while any job on its server still runs
(submitted in this console or elsewhere), and the bounded wait for the server's word on them; leaving itself stays ``app.py``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
        if asking.done() and not asking.cancelled() and asking.exception() is None:
            jobs = unfinished_jobs(asking.result())
            if not jobs.running and not jobs.queued:
                return True
            question = fates(jobs, self.backend.engine)
        else:
            unknown = [job_id[:8] for job_id in dict.fromkeys(self.executor.submitted)]
            question = unknown_fates(unknown, self.WAIT, self.backend.engine)
        question += " Leave anyway? [y/N] "
        if await self.confirm(question):
            return True
        self.emit("staying; 'monitor_job JOB' follows a job, 'abort_job JOB' stops one", "class:status.queued")
        return False


@dataclass(frozen=True)
class Unfinished:
    """The demo server's jobs not ended, each as "ID8 (name, STATUS)", in the server's order (newest first).

    ``running``: dispatched or running; leaving stops them (ours ends them FINISHED:ABANDONED at its next start).
    ``queued``: SUBMITTED, not started; ours keeps them, and its scheduler runs them when the demo starts again.
    """

    running: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


def unfinished_jobs(rows: list[dict[str, Any]]) -> Unfinished:
    """``list_jobs`` rows of jobs not finished, by state; not one FLARE lists RUNNING that its server no longer
    runs (``nvflare_orphans``: the console called it abandoned already; leaving stops nothing of it)."""
    jobs = Unfinished()
    for row in rows:
        if not isinstance(row, dict) or is_final(row.get("status")) or row.get(orphans.ORPHANED) is True:
            continue
        named = f"{str(row.get('job_id', ''))[:8]} ({row.get('name') or row.get('job_name') or ''}, {row.get('status')})"
        queued = str(row.get("status") or "").partition(",")[0] == "SUBMITTED"
        (jobs.queued if queued else jobs.running).append(named)
    return jobs


def _jobs(named: list[str]) -> str:
    return f"job{'s' if len(named) > 1 else ''} {', '.join(named)}"


def running_fate(engine: Engine, many: bool) -> str:
    """What leaving does to a running job: ours marks it at its next start; FLARE's POC is stopped under it."""
    if engine is Engine.OURS:
        return f"end{'' if many else 's'} FINISHED:ABANDONED"
    return f"{'are' if many else 'is'} stopped unfinished"


def queued_fate(engine: Engine, many: bool) -> str:
    """What leaving does to a queued job: ours keeps it in its store, and its scheduler runs it at the next
    start; FLARE's next demo prepares a fresh POC (``nvflare poc prepare --force``), its job store with it."""
    if engine is Engine.OURS:
        return f"stay{'' if many else 's'} queued and run{'' if many else 's'} when the demo starts again"
    return f"{'are' if many else 'is'} dropped with the POC (the next demo prepares a fresh one)"


def fates(jobs: Unfinished, engine: Engine) -> str:
    """The question's words on ``jobs``, each state with what leaving does to it (session 12: a queued job
    was said to end ABANDONED, yet it ran at the next start)."""
    said, fate = [], []
    both = bool(jobs.running and jobs.queued)
    if jobs.running:
        said.append(f"{_jobs(jobs.running)} still running")
        many = len(jobs.running) > 1
        who = ("the running ones" if many else "the running one") if both else ("they" if many else "it")
        fate.append(f"{who} {running_fate(engine, many)}")
    if jobs.queued:
        said.append(f"{_jobs(jobs.queued)} queued, not started")
        many = len(jobs.queued) > 1
        who = ("the queued ones" if many else "the queued one") if both else ("they" if many else "it")
        fate.append(f"{who} {queued_fate(engine, many)}")
    return f"{'; '.join(said)}: leaving stops the demo's server and sites, and {'; '.join(fate)}."


def unknown_fates(unknown: list[str], wait: float, engine: Engine) -> str:
    """The question's words when the server did not say within ``wait`` s: what leaving does to each state."""
    if unknown:
        said = (f"the server did not say within {wait:g} s whether {_jobs(unknown)} still "
                f"run{'' if len(unknown) > 1 else 's'}")
    else:
        said = f"the server did not say within {wait:g} s which jobs still run"
    return (f"{said}: leaving stops the demo's server and sites; a running job {running_fate(engine, False)}, "
            f"a queued one {queued_fate(engine, False)}.")

