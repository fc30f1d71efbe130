"""A job's server app (the controller), run as ``python -m console.runtime.server_app``.

Events on stdout, one JSON object a line: ``started``, ``progress``, ``task`` (a model file
for the job's sites, in ``.transfer/``), ``error`` (why the app failed, for the job's errors);
the app's own prints go to ``log.txt``. Commands on stdin: ``result`` (a site's answer, its
model file beside the task's), ``abort``. ``abort`` or stdin closing (the parent is gone) sets the abort
event; an app that has not stopped 2 s later, or SIGTERM, ends the process with code 3.
Exit code: 0 completed, 1 the app or a site's executor raised (traceback in the log), 2 bad
config or controller that cannot be loaded, 3 aborted, 4 too few sites left.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.jobdef.process_limits import ProcessLimits
from console.process import tune_allocator
from console.runtime import flare_classic
from console.runtime.adoption import end_descendants
from console.runtime.child import (
    EXIT_ABORTED,
    EXIT_APP_ERROR,
    EXIT_COMPLETED,
    EXIT_CONFIG_ERROR,
    EXIT_SITES_LOST,
    ConfigError,
    add_process_arguments,
    drop_workspace_from_path,
    import_entry,
    load_config,
    load_entry,
    open_channel,
)
from console.runtime.context import ServerAppContext, SiteFailed, SitesLost
from console.runtime.fedavg import fedavg
from console.runtime.limits import cut

CONFIG_NAME = "config_fed_server.json"

#: Built-in workflows by name: ``{"workflow": NAME, "args": {...}}`` in the server config.
WORKFLOWS: dict[str, Callable[[ServerAppContext], None]] = {"fedavg": fedavg}


def _resolve(config: dict, app_dir: Path, custom_allowed: bool) -> Callable[[ServerAppContext], None]:
    if "controller" in config and "workflow" in config:
        raise ConfigError(f"{CONFIG_NAME} names both a 'controller' and a 'workflow'; keep one")
    if "controller" in config:
        return import_entry(config["controller"], app_dir, "controller", custom_allowed)
    if "workflow" in config:
        name = config["workflow"]
        if name not in WORKFLOWS:
            known = ", ".join(sorted(WORKFLOWS)) or "none"
            raise ConfigError(f"unknown workflow {name!r}; known workflows: {known}")
        return WORKFLOWS[name]
    raise ConfigError(f"{CONFIG_NAME} names neither a 'controller' nor a 'workflow'")


def run(job_id: str, app_dir: Path, workspace: Path, sites: list[str], custom_allowed: bool = False,
        task_timeout: float | None = None, relayed: bool = False, limits: ProcessLimits | None = None,
        mark_owner: int = 0) -> int:
    if not workspace.is_dir():
        # No log to write to yet: stderr is the only place the runner can see this.
        print(f"server app: workspace {workspace} is not a folder", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    channel = open_channel("ServerApp", workspace, relayed, limits or ProcessLimits(), mark_owner)
    logger = channel.logger

    def load() -> tuple[dict[str, Any], Callable[[ServerAppContext], None]]:
        config = load_config(app_dir / "config" / CONFIG_NAME)
        if flare_classic.is_classic(config):
            config = flare_classic.server_config(config)
        return config, _resolve(config, app_dir, custom_allowed)

    loaded = load_entry(channel, job_id, "server app", "controller", load)
    if loaded is None:
        return EXIT_CONFIG_ERROR
    config, entry = loaded
    ctx = ServerAppContext(job_id, workspace, app_dir, config.get("args", {}), logger, channel, list(sites),
                           task_timeout)
    channel.start_reading()
    logger.info("job %s: server app started (sites: %s)", job_id, ", ".join(sites) or "none")
    channel.emit("started")
    try:
        entry(ctx)
    except KeyboardInterrupt:
        logger.warning("job %s: server app interrupted", job_id)
        return EXIT_ABORTED
    except SystemExit as exc:
        if exc.code not in (None, 0):
            logger.error("job %s: server app called sys.exit(%r)", job_id, exc.code)
            return EXIT_ABORTED if ctx.aborted() else EXIT_APP_ERROR
    except SitesLost as exc:
        logger.error("job %s: %s", job_id, exc)
        if ctx.aborted():
            return EXIT_ABORTED
        channel.emit("error", message=cut(str(exc)))
        return EXIT_SITES_LOST
    except SiteFailed as exc:
        logger.error("job %s: a site's executor failed: %s", job_id, exc)
        return EXIT_APP_ERROR
    except Exception as exc:
        logger.exception("job %s: server app raised", job_id)
        # An app that fails because it was being stopped was aborted, not broken.
        if ctx.aborted():
            return EXIT_ABORTED
        channel.emit("error", message=cut(f"the server app raised {type(exc).__name__}: {exc}"))
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
    parser.add_argument("--sites", default="", help="comma-separated sites the job was deployed to")
    parser.add_argument("--task-timeout", type=float, default=None, help="meta.json's task_timeout, seconds")
    parser.add_argument("--custom-code", action="store_true",
                        help="the job may run code from its custom/ folders (its submitter holds 'byoc')")
    add_process_arguments(parser)
    args = parser.parse_args(argv)
    drop_workspace_from_path()
    tune_allocator()
    sites = [s for s in args.sites.split(",") if s]
    try:
        return run(args.job_id, args.app_dir.resolve(), args.workspace.resolve(), sites, args.custom_code,
                   args.task_timeout, args.output_relayed, args.limits, args.mark_owner)
    finally:  # what the job started ends with it, also when the daemon that would sweep it is gone
        end_descendants()


if __name__ == "__main__":
    sys.exit(main())
