"""Server side of the system commands: status, sites, stats and errors, logs, stop and restart."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from console.commands import Right
from console.natural_order import natural_key
from console.process import process_info
from console.server.authz import principal
from console.server.handlers import handles
from console.server.job_access import job_meta, may_view, resolve_job, view_filter
from console.server.scheduler import required_sites
from console.server.shell_commands import run_on_target
from console.server.targets import ask_sites, chosen_sites, require_on_target
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext


def _viewable(ctx: RequestContext) -> Callable[[Any], bool]:
    """Whether the user may see a job by its ID: every one with ``view: any``, else those the
    scope covers (a job the store does not know: no one's but an ``any`` viewer's)."""
    policy, user = ctx.server.policy, principal(ctx.connection)
    if view_filter(policy, user) == {}:
        return lambda job_id: True
    return lambda job_id: may_view(policy, user, ctx.server.store.get(str(job_id)) or {})


@handles("check_status")
async def check_status(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    server = ctx.server
    viewable = _viewable(ctx)
    if args["target_type"] == "client":
        sites = chosen_sites(ctx, args["targets"])
        answers = await ask_sites(ctx, sites, "status")
        rows = []
        for site, answer in answers.items():
            running = (answer.get("jobs") if isinstance(answer, dict) else None) or []
            jobs = [j for j in running if viewable(j["job_id"])]
            if answer.get("error"):
                rows.append({"client_name": site, "status": f"error: {answer['error']}"})
                continue
            rows += [{"client_name": site, "app_name": j["app_name"], "job_id": j["job_id"], "status": j["status"]}
                     for j in jobs]
            if len(running) > len(jobs):
                # The site is busy, and saying "no_jobs" would be untrue; which jobs is not this user's to see.
                rows.append({"client_name": site, "status": f"{len(running) - len(jobs)} job(s) outside your view"})
            elif not jobs:
                rows.append({"client_name": site, "status": "no_jobs"})
        return {"client_status": rows}
    running = server.runner.running_jobs()
    return {
        "status": "OK",
        "info": "",
        "server_status": "started" if running else "stopped",
        "server_start_time": server.start_time,
        "jobs": [{"job_id": job_id, "app_name": app_name} for job_id, app_name in running if viewable(job_id)],
        "clients": [site.info() for site in sorted(server.sites.sites.values(), key=lambda s: natural_key(s.name))],
    }


@handles("sys_info")
async def sys_info(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    if args["target_type"] == "server":
        require_on_target(ctx, Right.OPERATE, "server")
        return {"server": process_info(ctx.server.start_time)}
    return await ask_sites(ctx, chosen_sites(ctx, args["targets"], Right.OPERATE), "sys_info")


def _running_job(ctx: RequestContext, id_or_prefix: str) -> Any:
    """The running job, if the user may view it: as FLARE 2.9's info commands (show_stats,
    show_errors, reset_errors: the command's right, judged with the job's submitter, before "not running")."""
    job_id = job_meta(ctx, id_or_prefix, ctx.spec.right)["job_id"]
    job = ctx.server.runner.jobs.get(job_id)
    if job is None:
        raise RemoteError(ErrorType.JOB_NOT_RUNNING, f"job {job_id} is not running")
    return job


@handles("show_stats")
async def show_stats(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    job = _running_job(ctx, args["job_id"])
    if args["target_type"] == "server":
        meta = ctx.server.store.get(job.job_id) or {}
        return {"server": {"ServerRunner": {"job_id": job.job_id, "status": "started",
                                            "job_status": meta.get("status"), "sites": job.sites},
                           "Workflow": dict(job.last_progress)}}
    sites = [s for s in chosen_sites(ctx, args["targets"]) if s in job.sites] if args["targets"] else list(job.sites)
    return await ask_sites(ctx, sites, "stats", {"job_id": job.job_id})


@handles("show_errors")
async def show_errors(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    job = _running_job(ctx, args["job_id"])
    if args["target_type"] == "server":
        return {"server": {"errors": job.shown_errors("server")}}
    sites = args["targets"] or job.sites
    return {site: {"errors": job.shown_errors(site)} for site in sites}


@handles("reset_errors")
async def reset_errors(ctx: RequestContext, args: dict[str, Any]) -> None:
    _running_job(ctx, args["job_id"]).reset_errors()


@handles("set_timeout")
async def set_timeout(ctx: RequestContext, args: dict[str, Any]) -> None:
    ctx.connection.command_timeout = args["value"]


@handles("unset_timeout")
async def unset_timeout(ctx: RequestContext, args: dict[str, Any]) -> None:
    ctx.connection.command_timeout = None


def _refuse_while_running(ctx: RequestContext, what: str) -> None:
    running = ctx.server.runner.running_jobs()
    if running:
        raise RemoteError(ErrorType.JOB_NOT_DONE,
                          f"{what} refused: {len(running)} job(s) running ({', '.join(j for j, _ in running)}); "
                          "abort them or wait until they end")


async def _stop_targets(ctx: RequestContext, args: dict[str, Any], command: str) -> dict[str, Any]:
    _refuse_while_running(ctx, command)
    target_type = args["target_type"]
    result: dict[str, Any] = {"status": "OK"}
    if target_type in ("server", "all"):
        require_on_target(ctx, Right.OPERATE, "server")
    sites = chosen_sites(ctx, args["targets"] if target_type == "client" else None, Right.OPERATE) \
        if target_type in ("client", "all") else None

    async def stop() -> dict[str, Any]:
        # Once the sites are asked, the whole stop goes on (and is audited) even if the admin's
        # connection closes meanwhile: never some sites stopped and the server left running unsaid.
        if sites is not None:
            result["client_status"] = await ask_sites(ctx, sites, command)
        if target_type in ("server", "all"):
            loop = asyncio.get_running_loop()
            # Answer first, then go: the admin sees the reply before the connection closes.
            loop.call_later(0.2, ctx.server.request_stop, command == "restart")
            result["server_status"] = f"server is {'restarting' if command == 'restart' else 'shutting down'}"
        return result

    return await ctx.finish(stop())


@handles("shutdown")
async def shutdown(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    return await _stop_targets(ctx, args, "shutdown")


@handles("restart")
async def restart(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    return await _stop_targets(ctx, args, "restart")


@handles("remove_client")
async def remove_client(ctx: RequestContext, args: dict[str, Any]) -> str:
    require_on_target(ctx, Right.OPERATE, args["site"])
    if not await ctx.finish(ctx.server.sites.remove(args["site"])):
        raise RemoteError(ErrorType.INVALID_TARGET, f"site {args['site']} is not connected")
    return f"site {args['site']} removed; it registers again when it reconnects"


_LOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LOG_SUFFIXES = (".txt", ".log", ".json")


def _log_file_name(name: str) -> str:
    """A log's base name in the job's workspace (as FLARE's job log streamer takes it); anything else
    would read job files that only shell_commands or download_job may hand out."""
    if not _LOG_NAME.match(name) or "log" not in name.lower() or not name.lower().endswith(_LOG_SUFFIXES):
        raise RemoteError(ErrorType.INVALID_ARGUMENT,
                          f"log_file_name {name[:80]!r} is not a log file name: give a base name such as log.txt "
                          "or error_log.txt (no folders); other job files need ls/cat or download_job")
    return name


def _log_targets(ctx: RequestContext, job_id: str, target: str) -> list[str]:
    """``all``/``@ALL`` (any case, as FLARE) is the server and every site of the job's deploy_map
    (every connected site for an ``@ALL`` job); any other target is itself."""
    if target.casefold() not in ("all", "@all"):
        return [target]

    named, all_sites = required_sites(ctx.server.store.get(job_id) or {})
    return ["server", *sorted(named | (ctx.server.sites.online() if all_sites else set()))]


@handles("get_job_logs")
async def get_job_logs(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """As FLARE 2.9: the newest bytes of a long log behind a marker line; tail_lines, then
    grep_pattern (plain text), on the whole log; a log that cannot be read is named under
    ``unavailable``."""

    job_id = resolve_job(ctx, args["job_id"])
    path = _log_file_name(args["log_file_name"])
    tail = None if args["tail_lines"] is None else str(args["tail_lines"])
    targets = _log_targets(ctx, job_id, args["target"])
    result: dict[str, Any] = {"logs": {}}
    for target in targets:
        if len(targets) > 1 and target != "server" and ctx.server.sites.get(target) is None:
            result.setdefault("unavailable", {})[target] = f"{target} is not connected"
            continue
        try:
            text = await run_on_target(ctx, target, "log", tail, path, args["grep_pattern"] or None, Right.VIEW,
                                       job_id)
        except RemoteError as exc:  # one site gone or broken: its row says so, the others' logs still come
            if len(targets) == 1 or target == "server" or exc.error_type is not ErrorType.INTERNAL:
                raise
            result.setdefault("unavailable", {})[target] = exc.message
            continue
        if text is None:
            result.setdefault("unavailable", {})[target] = f"{target} log not available for this job"
        else:
            result["logs"][target] = text
    return result

