"""One job while it runs on the server: its controller process, the sites it is deployed to,
its relays of tasks to sites, its errors and metrics so far.

Made and owned by ``console.server.runner``; read by the parts that act on a running job
(``deployment``, the site registry, the log relay, the job and system commands).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from console.runtime.procs import job_marker
from console.server.job_errors import JobErrors
from console.server.round_metrics import RoundMetrics
from console.server.status import JobStatus


class StopsSites(Protocol):
    """What abort_job uses of the job's ``console.server.deployment.Deployment`` (which imports this module)."""

    @property
    def deployed(self) -> list[str]: ...

    async def stop_sites(self, sites: list[str], *, abort: bool,
                         stop: asyncio.Event) -> dict[str, asyncio.Task[None]]: ...


@dataclass
class RunningJob:
    job_id: str
    name: str
    app_name: str
    workspace: Path
    meta: dict[str, Any] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)  # deployed to and still in the job
    process: asyncio.subprocess.Process | None = None
    output: asyncio.Task[None] | None = None  # its output, relayed to its log.txt
    aborting: bool = False
    last_progress: dict[str, Any] = field(default_factory=dict)
    errors: JobErrors = field(default_factory=JobErrors)  # target -> messages, each with its time
    #: How many of each target's errors reset_errors put out of show_errors' sight (``errors`` only grows).
    errors_reset_at: dict[str, int] = field(default_factory=dict)
    relays: set[asyncio.Task[None]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    signature: dict[str, str] = field(default_factory=dict)  # signature, signed_by, signer_pem
    forced_status: JobStatus | None = None  # the server stopped the app (it broke a limit)
    round_metrics: RoundMetrics = field(default_factory=RoundMetrics)
    #: A write of ``round_metrics`` waits on the store's writer; it writes the latest when it runs.
    metrics_write_pending: bool = False
    #: Its run is over: its sites are being stopped and their workspaces collected.
    ending: bool = False
    #: Set ``abort_wait_seconds`` (connection_limits) after abort_job (``abort_timer``): the sites' answers and workspaces
    #: still awaited then are not.
    stop_waiting: asyncio.Event = field(default_factory=asyncio.Event)
    abort_timer: asyncio.TimerHandle | None = None
    #: Its deployment, once its server app is being started (what abort_job tells the sites through).
    deployment: StopsSites | None = None
    #: abort_job of a job whose server app runs: its sites, told to abort at once (not after the app's process has
    #: exited and been reaped, which took seconds under load): each site's telling, for the workspace collection.
    sites_told: asyncio.Task[dict[str, asyncio.Task[None]]] | None = None

    def shown_errors(self, target: str) -> list[str]:
        """The errors of ``target`` recorded since the last ``reset_errors`` (what show_errors shows)."""
        return self.errors.get(target)[self.errors_reset_at.get(target, 0):]

    def shown_error_times(self, target: str) -> list[str | None]:
        """When each of ``shown_errors`` was recorded (ISO 8601, as the meta's ``job_error_times``)."""
        return self.errors.times.get(target, [])[self.errors_reset_at.get(target, 0):]

    def reset_errors(self) -> None:
        """As FLARE 2.9's reset_errors, which resets its info collector's error stats: show_errors
        starts afresh, while every error stays recorded for the job's final ``job_errors``. The
        command needs only the view right, so it must not erase what the job's record keeps."""
        self.errors_reset_at = {target: len(messages) for target, messages in self.errors.messages.items()}

    @property
    def marker(self) -> str:
        return job_marker(self.job_id, "server")
