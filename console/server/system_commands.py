"""Server side of the system commands: status and per-session settings."""

from __future__ import annotations

from typing import Any

from console.server.connection import RequestContext
from console.server.handlers import handles


@handles("check_status")
async def check_status(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    server = ctx.server
    running = server.runner.running_jobs()
    return {
        "status": "OK",
        "server_status": "started" if running else "stopped",
        "server_start_time": server.start_time,
        "jobs": [{"job_id": job_id, "app_name": app_name} for job_id, app_name in running],
        # No site endpoint exists yet, so no site can be connected.
        "clients": [],
    }


@handles("set_timeout")
async def set_timeout(ctx: RequestContext, args: dict[str, Any]) -> None:
    ctx.connection.command_timeout = args["value"]


@handles("unset_timeout")
async def unset_timeout(ctx: RequestContext, args: dict[str, Any]) -> None:
    ctx.connection.command_timeout = None
