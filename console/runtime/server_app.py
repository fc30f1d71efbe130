"""A job's server app, run as ``python -m console.runtime.server_app``.

Control channel: JSON lines on stdout (``started``, ``progress``); the app's own prints
go to the log. Exit code: 0 completed, 1 the app raised (traceback in ``log.txt``),
2 bad config, 3 aborted. Stdin is the abort channel: a line ``abort`` or its closing
(the server died) stops the app, by force after a grace period.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.runtime.context import ServerAppContext

EXIT_COMPLETED, EXIT_APP_ERROR, EXIT_CONFIG_ERROR, EXIT_ABORTED = 0, 1, 2, 3
ABORT_GRACE_SECONDS = 2.0
CONFIG_NAME = "config_fed_server.json"

#: Built-in workflows by name: ``{"workflow": NAME, "args": {...}}`` in the server config.
WORKFLOWS: dict[str, Callable[[ServerAppContext], None]] = {}


class ConfigError(Exception):
    pass


class _LogWriter(io.TextIOBase):
    """Sends what the app prints to the job log, line by line."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger, self._level, self._buffer = logger, level, ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self._logger.log(self._level, line)
        return len(text)


def _setup_logging(workspace: Path) -> logging.Logger:
    handler = logging.FileHandler(workspace / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger("ServerApp")


def _resolve(config: dict[str, Any], app_dir: Path) -> Callable[[ServerAppContext], None]:
    if "controller" in config:
        spec = config["controller"]
        if not isinstance(spec, str) or spec.count(":") != 1:
            raise ConfigError(f"'controller' must be 'module:function', not {spec!r}")
        module_name, func_name = spec.split(":")
        custom = app_dir / "custom"
        if custom.is_dir():
            sys.path.insert(0, str(custom))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"cannot import controller module {module_name!r} from custom/: {exc}") from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise ConfigError(f"controller {spec!r}: {module_name} has no function {func_name!r}")
        return func
    if "workflow" in config:
        name = config["workflow"]
        if name not in WORKFLOWS:
            known = ", ".join(sorted(WORKFLOWS)) or "none yet"
            raise ConfigError(f"unknown workflow {name!r}; known workflows: {known}")
        return WORKFLOWS[name]
    raise ConfigError(f"{CONFIG_NAME} names neither a 'controller' nor a 'workflow'")


def _load_config(app_dir: Path) -> dict[str, Any]:
    path = app_dir / "config" / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    args = config.get("args", {})
    if not isinstance(args, dict):
        raise ConfigError(f"{path}: 'args' must be an object")
    return config


def _watch_stdin(ctx: ServerAppContext) -> None:
    """Abort on an 'abort' line or on EOF (the server is gone); force the exit after a grace period."""
    reason = "the server is gone (stdin closed)"
    for line in sys.stdin:
        if line.strip() == "abort":
            reason = "abort requested by the server"
            break
    ctx.logger.warning("job %s: %s; stopping", ctx.job_id, reason)
    ctx.abort_event.set()
    timer = threading.Timer(ABORT_GRACE_SECONDS, os._exit, args=(EXIT_ABORTED,))
    timer.daemon = True
    timer.start()


def run(job_id: str, app_dir: Path, workspace: Path) -> int:
    channel = sys.stdout
    logger = _setup_logging(workspace)
    sys.stdout = _LogWriter(logging.getLogger("app.stdout"), logging.INFO)  # type: ignore[assignment]
    sys.stderr = _LogWriter(logging.getLogger("app.stderr"), logging.WARNING)  # type: ignore[assignment]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(EXIT_ABORTED))
    try:
        config = _load_config(app_dir)
        entry = _resolve(config, app_dir)
    except ConfigError as exc:
        logger.error("job %s: bad server app config: %s", job_id, exc)
        return EXIT_CONFIG_ERROR
    ctx = ServerAppContext(job_id, workspace, app_dir, config.get("args", {}), logger, channel)
    threading.Thread(target=_watch_stdin, args=(ctx,), daemon=True, name="abort-watch").start()
    logger.info("job %s: server app started", job_id)
    ctx.emit("started")
    try:
        entry(ctx)
    except Exception:
        logger.exception("job %s: server app raised", job_id)
        return EXIT_APP_ERROR
    if ctx.aborted():
        logger.info("job %s: server app aborted", job_id)
        return EXIT_ABORTED
    logger.info("job %s: server app finished", job_id)
    return EXIT_COMPLETED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="console.runtime.server_app")
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--app-dir", required=True, type=Path)
    parser.add_argument("--workspace", required=True, type=Path)
    args = parser.parse_args(argv)
    return run(args.job_id, args.app_dir.resolve(), args.workspace.resolve())


if __name__ == "__main__":
    sys.exit(main())
