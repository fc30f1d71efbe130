"""What a job's server-side code receives: ``ServerAppContext``."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.runtime.arrays import Model, decode_model, encode_model
from console.runtime.child import ChildChannel


class SitesLost(Exception):
    """Too few sites are left to go on (the job ends FINISHED:ABNORMAL)."""


class SiteFailed(Exception):
    """A site's executor raised (the job ends FINISHED:EXECUTION_EXCEPTION)."""


@dataclass
class SiteResult:
    site: str
    model: Model
    weight: float
    metrics: dict[str, Any]


@dataclass
class ServerAppContext:
    job_id: str
    workspace: Path
    app_dir: Path
    args: dict[str, Any]
    logger: logging.Logger
    channel: ChildChannel
    sites: list[str] = field(default_factory=list)
    _task_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def abort_event(self) -> threading.Event:
        return self.channel.abort_event

    def aborted(self) -> bool:
        return self.abort_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early on abort; False if the job was aborted."""
        return not self.abort_event.wait(seconds)

    def progress(self, **data: Any) -> None:
        """Report progress; it reaches every monitor of the job and ``show_stats``."""
        self.channel.emit("progress", data=data)

    def run_task(self, round_number: int, num_rounds: int, model: Model) -> list[SiteResult]:
        """Send the model to every site still in the job and collect their results.

        A site that drops out is left out from then on; an executor that raised ends the job.
        """
        task_id = next(self._task_ids)
        targets = list(self.sites)
        self.channel.emit("task", task_id=task_id, round=round_number, num_rounds=num_rounds, targets=targets,
                          model=encode_model(model))
        results: list[SiteResult] = []
        waiting = set(targets)
        while waiting:
            command = self.channel.commands.get()
            if command is None:  # aborted
                return results
            if command.get("cmd") != "result" or command.get("task_id") != task_id:
                continue
            site = str(command.get("site"))
            waiting.discard(site)
            if command.get("error"):
                if command.get("kind") == "exception":
                    raise SiteFailed(f"{site}: {command['error']}")
                self.logger.warning("round %d: %s dropped out: %s", round_number, site, command["error"])
                if site in self.sites:
                    self.sites.remove(site)
                continue
            results.append(SiteResult(site, decode_model(command["model"]), float(command.get("weight", 1.0)),
                                      dict(command.get("metrics") or {})))
        return results
