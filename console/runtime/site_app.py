"""A job's client app on a site (the executor), run as ``python -m console.runtime.site_app``.

Commands on stdin: ``task`` (its model is the file ``.transfer/task-<id>.model`` in the
workspace), ``end``, ``abort``. Events on stdout: ``ready``, ``result`` (weight and metrics;
the trained model is written to ``.transfer/result-<id>.model``), ``error`` (the executor
raised, or its result broke a limit; the traceback is in this site's ``log.txt``).
Exit code: 0 ended, 2 bad config, 3 aborted.
"""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from pathlib import Path
from typing import Any

from console.jobdef.process_limits import ProcessLimits
from console.process import tune_allocator
from console.runtime import flare_classic
from console.runtime.adoption import end_descendants
from console.runtime.arrays import model_nbytes, read_model, write_model
from console.runtime.child import (
    EXIT_ABORTED,
    EXIT_COMPLETED,
    EXIT_CONFIG_ERROR,
    ChildChannel,
    add_process_arguments,
    drop_workspace_from_path,
    import_entry,
    load_config,
    load_entry,
    open_channel,
)
from console.runtime.contract import TaskContext, TaskResult
from console.runtime.limits import (
    DEFAULT_MAX_RESULT_BYTES,
    MAX_METRICS_BYTES,
    RESULT_LIMIT_RULE,
    PayloadTooLarge,
    check_json,
    cut,
)
from console.runtime.transfer import result_file, task_file

CONFIG_NAME = "config_fed_client.json"


def _run_task(train: Any, command: dict[str, Any], channel: ChildChannel, job_id: str, site: str,
              workspace: Path) -> None:
    task_id = int(command.get("task_id", 0))
    ctx = TaskContext(job_id, site, int(command.get("round", 0)), int(command.get("num_rounds", 0)), workspace,
                      channel.logger, channel.abort_event)
    limit = int(command.get("max_result_bytes") or DEFAULT_MAX_RESULT_BYTES)
    incoming = task_file(workspace, task_id)
    try:
        try:
            model = read_model(incoming)
        finally:
            incoming.unlink(missing_ok=True)
        outcome = train(model, ctx)
        del model
        if isinstance(outcome, dict):
            outcome = TaskResult(outcome)
        if not isinstance(outcome, TaskResult):
            raise TypeError(f"the executor returned {type(outcome).__name__}, not TaskResult or a dict of arrays")
        size = model_nbytes(outcome.model)
        if size > limit:
            raise PayloadTooLarge(f"the result model of {size} bytes exceeds this task's limit of {limit} bytes "
                                  f"({RESULT_LIMIT_RULE})")
        check_json(outcome.metrics, MAX_METRICS_BYTES, "the result's metrics")
        weight = float(outcome.weight)
        if not math.isfinite(weight) or weight < 0:  # FedAvg would average it into a model of NaN
            raise ValueError(f"the result's weight must be a finite number of at least 0, not {outcome.weight!r}")
        write_model(outcome.model, result_file(workspace, task_id))
        channel.emit("result", task_id=task_id, weight=weight, metrics=outcome.metrics)
        channel.logger.info("round %s: task done (weight %s)", ctx.round, outcome.weight)
    except Exception as exc:
        channel.logger.error("round %s: the executor raised:\n%s", ctx.round, cut(traceback.format_exc()))
        channel.emit("error", task_id=task_id, message=cut(f"{type(exc).__name__}: {exc}"))


def run(job_id: str, site: str, app_dir: Path, workspace: Path, custom_allowed: bool = False,
        relayed: bool = False, limits: ProcessLimits | None = None, mark_owner: int = 0) -> int:
    channel = open_channel("ClientApp", workspace, relayed, limits or ProcessLimits(), mark_owner)
    def load() -> Any:
        config = load_config(app_dir / "config" / CONFIG_NAME)
        if flare_classic.is_classic(config):
            return flare_classic.client_executor(config)
        return import_entry(config.get("executor"), app_dir, "executor", custom_allowed)

    train = load_entry(channel, job_id, "client app", "executor", load)
    if train is None:
        return EXIT_CONFIG_ERROR
    channel.start_reading()
    channel.logger.info("job %s: client app started on %s", job_id, site)
    channel.emit("ready")
    while (command := channel.commands.get()) is not None:
        if command.get("cmd") == "task":
            _run_task(train, command, channel, job_id, site, workspace)
    if channel.abort_event.is_set():
        channel.logger.info("job %s: client app aborted", job_id)
        return EXIT_ABORTED
    channel.logger.info("job %s: client app ended", job_id)
    return EXIT_COMPLETED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="console.runtime.site_app")
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--app-dir", required=True, type=Path)
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--custom-code", action="store_true",
                        help="the job may run code from its custom/ folder (the site's policy grants 'byoc')")
    add_process_arguments(parser)
    args = parser.parse_args(argv)
    drop_workspace_from_path()
    tune_allocator()
    try:
        return run(args.job_id, args.site, args.app_dir.resolve(), args.workspace.resolve(), args.custom_code,
                   args.output_relayed, args.limits, args.mark_owner)
    finally:  # what the job started ends with it, also when the daemon that would sweep it is gone
        end_descendants()


if __name__ == "__main__":
    sys.exit(main())
