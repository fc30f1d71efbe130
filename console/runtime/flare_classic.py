"""NVIDIA FLARE's classic numpy job configs, run by our built-in FedAvg: one job folder for both systems.

FLARE's hello-numpy-sag names Python classes in its app configs (``"workflows"``,
``"components"``, ``"executors"`` with a ``"path"`` each). Importing class paths from a job
would run arbitrary code by name, so nothing here imports them: the few classes of that numpy
example are recognised by their final name and mapped onto what we already run:

- server: ``ScatterAndGather`` (``num_rounds``, ``min_clients``, ``train_timeout``) with ``NPModelPersistor`` (its
  ``model``, or FLARE's default 3x3 model 1..9, as the array ``numpy_key``) → workflow ``fedavg``;
- client: ``NPTrainer`` (``delta``, ``sleep_time``) for the task ``train`` → a built-in executor
  adding ``delta`` to every array.

Any other class gets a ConfigError naming it and what is supported. This module reads configs
only; it must not touch the job's ``custom/`` code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.runtime.child import ConfigError
from console.runtime.contract import TaskContext, TaskResult

NUMPY_KEY = "numpy_key"  # the array name FLARE's NPModelPersistor and NPTrainer use
FLARE_DEFAULT_MODEL = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
SUPPORTED_SERVER = "ScatterAndGather with NPModelPersistor"
SUPPORTED_CLIENT = "NPTrainer for the task 'train'"


def is_classic(config: dict[str, Any]) -> bool:
    return "workflows" in config or "executors" in config


def _class_name(entry: Any, where: str) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ConfigError(f"{where}: each entry needs a 'path' naming its class")
    return entry["path"].rsplit(".", 1)[-1]


def _args(entry: dict[str, Any], where: str) -> dict[str, Any]:
    args = entry.get("args", {})
    if not isinstance(args, dict):
        raise ConfigError(f"{where}: 'args' must be an object")
    return args


def server_config(config: dict[str, Any]) -> dict[str, Any]:
    """Our ``{"workflow": "fedavg", "args": ...}`` for a FLARE ScatterAndGather server config."""
    workflows = config.get("workflows")
    if not isinstance(workflows, list) or len(workflows) != 1:
        raise ConfigError(f"a FLARE server config here needs exactly one workflow ({SUPPORTED_SERVER})")
    workflow = workflows[0]
    name = _class_name(workflow, "workflows")
    if name != "ScatterAndGather":
        raise ConfigError(f"FLARE workflow {name!r} is not supported; supported: {SUPPORTED_SERVER}")
    args = _args(workflow, "ScatterAndGather")
    components = {c.get("id"): c for c in config.get("components", []) if isinstance(c, dict)}
    persistor = components.get(args.get("persistor_id", "persistor"))
    model: Any = FLARE_DEFAULT_MODEL
    if persistor is not None:
        persistor_name = _class_name(persistor, "components")
        if persistor_name != "NPModelPersistor":
            raise ConfigError(f"FLARE persistor {persistor_name!r} is not supported; supported: {SUPPORTED_SERVER}")
        model = _args(persistor, "NPModelPersistor").get("model") or FLARE_DEFAULT_MODEL
    ours: dict[str, Any] = {
        "num_rounds": int(args.get("num_rounds", 5)),
        "min_clients": int(args.get("min_clients", 1)),
        "initial_model": {NUMPY_KEY: model},
    }
    if float(args.get("train_timeout") or 0) > 0:  # FLARE's 0 means "no timeout": ours then applies
        ours["task_timeout"] = float(args["train_timeout"])
    return {"workflow": "fedavg", "args": ours}


def client_executor(config: dict[str, Any]) -> Callable[[dict[str, Any], TaskContext], TaskResult]:
    """The built-in executor standing for a FLARE client config's NPTrainer."""
    executors = config.get("executors")
    if not isinstance(executors, list):
        raise ConfigError(f"'executors' must be a list ({SUPPORTED_CLIENT})")
    for entry in executors:
        if not isinstance(entry, dict) or "train" not in (entry.get("tasks") or []):
            continue
        name = _class_name(entry.get("executor"), "executors")
        if name != "NPTrainer":
            raise ConfigError(f"FLARE executor {name!r} is not supported; supported: {SUPPORTED_CLIENT}")
        args = _args(entry["executor"], "NPTrainer")
        return _np_trainer(float(args.get("delta", 1)), float(args.get("sleep_time", 0)))
    raise ConfigError(f"no executor handles the task 'train'; supported: {SUPPORTED_CLIENT}")


def _np_trainer(delta: float, sleep_time: float) -> Callable[[dict[str, Any], TaskContext], TaskResult]:
    def train(model: dict[str, Any], ctx: TaskContext) -> TaskResult:
        if sleep_time and ctx.abort_event.wait(sleep_time):
            return TaskResult(model)
        ctx.logger.info("round %d/%d: adding delta=%s to %s", ctx.round, ctx.num_rounds, delta, ", ".join(model))
        return TaskResult({name: array + delta for name, array in model.items()})

    return train

