"""What a job's server-side code receives: ``ServerAppContext``.

A task's model goes out as a model file in the workspace's ``.transfer/`` folder (the server
streams it to each site); each site's answer comes back the same way, one file per site,
read when the controller takes that result. ``task_timeout`` (workflow args, else the job's
meta.json) bounds how long a round waits; a result that arrives later is dropped with a
logged reason.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.runtime.arrays import Model, ModelFormatError, read_model, write_model
from console.runtime.child import ChildChannel
from console.runtime.limits import (
    MAX_PROGRESS_BYTES,
    MAX_PROGRESS_DEPTH,
    NestedTooDeep,
    check_json,
    cut,
    expected_result_bytes,
)
from console.runtime.transfer import result_file, task_file

#: The task timeout when neither the workflow args nor meta.json set one.
DEFAULT_TASK_TIMEOUT = 600.0


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
    meta_task_timeout: float | None = None
    _task_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _said_too_deep: bool = False

    @property
    def abort_event(self) -> threading.Event:
        return self.channel.abort_event

    @property
    def task_timeout(self) -> float:
        """Seconds a round waits for results: workflow args ``task_timeout``, else meta.json's, else 600."""
        value = self.args.get("task_timeout") or self.meta_task_timeout or DEFAULT_TASK_TIMEOUT
        return float(value)

    def max_result_bytes(self, task_file_bytes: int) -> int:
        """A task's result limit (array bytes): the workflow args' ``max_result_bytes``, else
        ``expected_result_bytes`` of the model file the task sends (``console.runtime.limits``)."""
        explicit = self.args.get("max_result_bytes")
        return int(explicit) if explicit else expected_result_bytes(task_file_bytes)

    def aborted(self) -> bool:
        return self.abort_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early on abort; False if the job was aborted."""
        return not self.abort_event.wait(seconds)

    def progress(self, **data: Any) -> None:
        """Report progress; it reaches every monitor of the job and ``show_stats``.

        Raises PayloadTooLarge past 64 KiB of JSON, NestedTooDeep (a PayloadTooLarge) past
        ``MAX_PROGRESS_DEPTH`` levels; the first such depth refusal is also one of the job's errors,
        so it is seen even when the caller goes on."""
        try:
            check_json(data, MAX_PROGRESS_BYTES, "a progress event", MAX_PROGRESS_DEPTH)
        except NestedTooDeep as exc:
            if not self._said_too_deep:
                self._said_too_deep = True
                self.channel.emit("error", message=cut(f"progress refused: {exc}"))
            raise
        self.channel.emit("progress", data=data)

    def run_task(self, round_number: int, num_rounds: int, model: Model) -> list[SiteResult]:
        """Send the model to every site still in the job and collect their results (all held at once;
        ``task_results`` hands them over one at a time instead)."""
        return list(self.task_results(round_number, num_rounds, model))

    def task_results(self, round_number: int, num_rounds: int, model: Model) -> Iterator[SiteResult]:
        """Send the model to every site still in the job; yield each site's result as it arrives.

        Ends when every site answered, or ``task_timeout`` passed (the missing sites are logged),
        or the job was aborted. A site that drops out is left out from then on; an executor that
        raised ends the job (SiteFailed)."""
        task_id = next(self._task_ids)
        targets = list(self.sites)
        outgoing = task_file(self.workspace, task_id)
        write_model(model, outgoing)
        timeout = self.task_timeout
        self.channel.emit("task", task_id=task_id, round=round_number, num_rounds=num_rounds, targets=targets,
                          timeout=timeout, max_result_bytes=self.max_result_bytes(outgoing.stat().st_size))
        deadline = time.monotonic() + timeout
        waiting = set(targets)
        try:
            while waiting:
                try:
                    command = self.channel.commands.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    self.logger.warning("round %d: no result from %s within the task_timeout of %g s; going on "
                                        "without", round_number, ", ".join(sorted(waiting)), timeout)
                    return
                if command is None:  # aborted
                    return
                if command.get("cmd") != "result":
                    continue
                site = str(command.get("site"))
                if command.get("task_id") != task_id or site not in waiting:
                    self._drop_late(command)
                    continue
                waiting.discard(site)
                result = self._take(command, round_number, task_id)
                if result is not None:
                    yield result
                del result  # not kept alive while the next one is read: one result in memory at a time
        finally:
            outgoing.unlink(missing_ok=True)

    def _take(self, command: dict[str, Any], round_number: int, task_id: int) -> SiteResult | None:
        site = str(command.get("site"))
        if command.get("error"):
            if command.get("kind") == "exception":
                raise SiteFailed(f"{site}: {command['error']}")
            if command.get("kind") == "timeout":
                self.logger.warning("round %d: %s did not answer in time: %s", round_number, site, command["error"])
                return None
            self.logger.warning("round %d: %s dropped out: %s", round_number, site, command["error"])
            if site in self.sites:
                self.sites.remove(site)
            return None
        path = result_file(self.workspace, task_id, site)
        try:
            model = read_model(path)
        except ModelFormatError as exc:
            raise SiteFailed(f"{site}: its result is not a model: {exc}") from None
        finally:
            path.unlink(missing_ok=True)
        return SiteResult(site, model, float(command.get("weight", 1.0)), dict(command.get("metrics") or {}))

    def _drop_late(self, command: dict[str, Any]) -> None:
        site, task_id = str(command.get("site")), command.get("task_id")
        if isinstance(task_id, int):
            result_file(self.workspace, task_id, site).unlink(missing_ok=True)
        self.logger.warning("result of task %s from %s came after its task_timeout; dropped", task_id, site)
