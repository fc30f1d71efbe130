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
from console.server.handlers import checked_only, handles
from console.server.job_access import job_meta, may_view, resolve_job, view_filter
from console.server.job_commands import deployed_sites
from console.server.scheduler import required_sites
from console.server.shell_commands import run_on_target
from console.server.site_claims import sent_to
from console.server.targets import ask_sites, chosen_sites, require_on_target
from console.stop_refusals import jobs_still_running, no_site_connected, sites_not_connected
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext


def _viewable(ctx: RequestContext) -> Callable[[Any], bool]:
    """Whether the user may see a job by its ID: every one with ``view: any``, else those the
    scope covers (a job the store does not know: no one's but an ``any`` viewer's)."""
    policy, user = ctx.server.policy, principal(ctx.connection)
    if view_filter(policy, user) == {}:
        return lambda job_id: True
    return lambda job_id: may_view(policy, user, ctx.server.store.get(str(job_id)) or {})


def _site_of_job(site: str, meta: dict[str, Any] | None) -> bool:
    """Whether ``site``'s word about a job (``meta``: the store's, None when it has none) counts: the job
    went to that site (``site_claims.sent_to``: its deploy_map names it or is ``@ALL``, its deploy record
    lists it; security finding 3). A job the store does not know (deleted, its end not reached that site
    yet) is the site's own report of what runs there, and is shown (to those who may view any job); any
    other claim is left out, as a job that is not there."""
    return meta is None or sent_to(site, meta)


@handles("check_status")
async def check_status(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """The server's status (``server``), each site's jobs (``client``: ``client_status``), or both in one
    answer (``all``), as FLARE 2.9's check_status puts both parts in one meta."""
    target_type = args["target_type"]
    answer = _server_status(ctx) if target_type in ("server", "all") else {}
    if target_type in ("client", "all"):
        answer["client_status"] = await _site_statuses(ctx, args["targets"] if target_type == "client" else None)
    return answer


async def _site_statuses(ctx: RequestContext, names: list[str] | None) -> list[dict[str, Any]]:
    """A row per job each connected site runs (``no_jobs`` for none), ``error: ...`` for one that failed to
    answer, and ``no_reply`` for each site whose link was dropped because it stopped answering, or whose
    heartbeat is late (``SiteRegistry.late``: not asked, so it holds no other site's rows for the command
    timeout) (asked for by name, or all): as FLARE 2.9 answers "No Reply" for a listed client that does not
    answer."""
    silent = [site.name for site in ctx.server.sites.not_answering() if names is None or site.name in names]
    named = None if names is None else [name for name in names if name not in silent]
    sites = chosen_sites(ctx, named) if named is None or named else []
    late = ctx.server.sites.late()
    answers = await ask_sites(ctx, [site for site in sites if site not in late], "status")
    rows = []
    policy, user = ctx.server.policy, principal(ctx.connection)
    everyone = view_filter(policy, user) == {}  # a job the store does not know: only an ``any`` viewer's
    for site in sites:
        answer = answers.get(site)
        if answer is None:  # late: not asked
            rows.append({"client_name": site, "status": "no_reply"})
            continue
        running = (answer.get("jobs") if isinstance(answer, dict) else None) or []
        # Looked up at once, never one job at a time: a site's answer (up to 1 MiB) may name thousands of made-up jobs.
        metas = ctx.server.store.metas_of([j["job_id"] for j in running])
        jobs = [j for j in running if (everyone or may_view(policy, user, metas.get(j["job_id"]) or {}))
                and _site_of_job(site, metas.get(j["job_id"]))]
        if answer.get("error"):
            rows.append({"client_name": site, "status": f"error: {answer['error']}"})
            continue
        rows += [{"client_name": site, "app_name": j["app_name"], "job_id": j["job_id"], "status": j["status"]}
                 for j in jobs]
        if not jobs:
            # Of the jobs in the user's view: a job outside it is answered as one that does not
            # exist, so neither its row nor a count of such jobs, nor that the site is busy.
            rows.append({"client_name": site, "status": "no_jobs"})
    return rows + [{"client_name": site, "status": "no_reply"} for site in silent]


def _server_status(ctx: RequestContext) -> dict[str, Any]:
    server = ctx.server
    viewable = _viewable(ctx)
    running = [(job_id, app_name) for job_id, app_name in server.runner.running_jobs() if viewable(job_id)]
    answer: dict[str, Any] = {
        "status": "OK",
        "info": "",
        "server_status": "started" if running else "stopped",  # of the jobs in view, as the rows
        "server_start_time": server.start_time,
        "jobs": [{"job_id": job_id, "app_name": app_name} for job_id, app_name in running],
        "clients": [site.info() for site in sorted(server.sites.sites.values(), key=lambda s: natural_key(s.name))],
    }
    # Sites dropped for not answering (SiteRegistry.not_answering), while there are any: not connected, so not
    # among "clients" (FLARE's connected clients: what completion and targets offer), yet not known to be gone.
    silent = server.sites.not_answering()
    if silent:
        answer["clients_not_answering"] = [site.info() for site in silent]
    return answer


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


def _job_targets(args: dict[str, Any], sites: list[str]) -> list[str]:
    """The sites show_errors addresses: with ``client``, those named (FLARE 2.9: all the job's when none
    is); with ``all``, every one of the job's (FLARE's ``_collect_stats``); with ``server``, none."""
    if args["target_type"] == "server":
        return []
    return list(args["targets"] or sites) if args["target_type"] == "client" else list(sites)


@handles("show_stats")
async def show_stats(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """{"server": ..., SITE: ...}: the server's part with ``server`` or ``all``, the job's sites' with
    ``client`` (the named ones) or ``all``, as FLARE 2.9's show_stats answers."""
    job = _running_job(ctx, args["job_id"])
    answer: dict[str, Any] = {}
    if args["target_type"] in ("server", "all"):
        meta = ctx.server.store.get(job.job_id) or {}
        answer["server"] = {"ServerRunner": {"job_id": job.job_id, "status": "started",
                                             "job_status": meta.get("status"), "sites": job.sites},
                            "Workflow": dict(job.last_progress)}
    if args["target_type"] in ("client", "all"):
        named = args["targets"] if args["target_type"] == "client" else None
        sites = [s for s in chosen_sites(ctx, named) if s in job.sites] if named else list(job.sites)
        answer.update(await ask_sites(ctx, sites, "stats", {"job_id": job.job_id}))
    return answer


@handles("show_errors")
async def show_errors(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """{TARGET: {"errors": [message, ...], "error_times": [time, ...]}}: a running job's errors since the last
    reset_errors, and when each was recorded (ISO 8601 local time, as get_job_meta's ``job_error_times``)."""
    job = _running_job(ctx, args["job_id"])
    targets = (["server"] if args["target_type"] in ("server", "all") else []) + _job_targets(args, job.sites)
    return {target: {"errors": job.shown_errors(target), "error_times": job.shown_error_times(target)}
            for target in targets}


@handles("reset_errors")
async def reset_errors(ctx: RequestContext, args: dict[str, Any]) -> None:
    _running_job(ctx, args["job_id"]).reset_errors()


@handles("set_timeout")
async def set_timeout(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """{"command_timeout": seconds} now in force for this connection (FLARE's backend answers the same)."""
    ctx.connection.command_timeout = args["value"]
    return {"command_timeout": args["value"]}


@handles("unset_timeout")
async def unset_timeout(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """{"command_timeout": None}: the server's default is in force again."""
    ctx.connection.command_timeout = None
    return {"command_timeout": None}


def _refuse_while_running(ctx: RequestContext, what: str, server: bool, sites: list[str]) -> None:
    """JOB_NOT_DONE while a job runs on what is to stop (the server runs every job's controller; a
    site, the jobs deployed to it), naming those the user may view. Called only once the user's
    right on every target is checked: whoever may stop a target may know that some job keeps it
    busy, never anyone else (security finding 6: it was an oracle of hidden jobs)."""
    chosen = set(sites)
    running = [job for job in ctx.server.runner.jobs.values() if server or chosen & set(job.sites)]
    if running:
        viewable = _viewable(ctx)
        shown = [(job.job_id, job.name) for job in running if viewable(job.job_id)]
        # In the words FLARE's refusal has on its backend too (console.stop_refusals): one sentence, either engine.
        raise RemoteError(ErrorType.JOB_NOT_DONE, jobs_still_running(what, shown, hidden=len(shown) < len(running)))


def _refuse_sites_away(ctx: RequestContext, command: str, sites: list[str]) -> None:
    """INVALID_TARGET for the named ``sites`` not connected, in the words FLARE's refusal has on its backend
    too (``console.stop_refusals``)."""
    online = ctx.server.sites.online()
    away = [site for site in dict.fromkeys(sites) if site not in online]
    if away:
        raise RemoteError(ErrorType.INVALID_TARGET, sites_not_connected(command, away, sorted(online, key=natural_key)))


async def _stop_targets(ctx: RequestContext, args: dict[str, Any], command: str) -> dict[str, Any]:
    target_type = args["target_type"]
    result: dict[str, Any] = {"status": "OK"}
    # The right on every target first, before anything about their state is said.
    if target_type in ("server", "all"):
        require_on_target(ctx, Right.OPERATE, "server")
    if target_type == "client" and args["targets"]:
        _refuse_sites_away(ctx, command, args["targets"])
    sites = chosen_sites(ctx, args["targets"] if target_type == "client" else None, Right.OPERATE) \
        if target_type in ("client", "all") else None
    if target_type == "client" and not sites:  # (checked before the question too: check_only)
        raise RemoteError(ErrorType.NO_CLIENTS_AVAILABLE, no_site_connected(command))
    _refuse_while_running(ctx, command, target_type in ("server", "all"), sites or [])
    if args["check_only"]:
        return checked_only(ctx)

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
    _refuse_sites_away(ctx, "remove_client", [args["site"]])
    if args["check_only"]:
        return checked_only(ctx)
    if not await ctx.finish(ctx.server.sites.remove(args["site"])):  # (gone meanwhile)
        _refuse_sites_away(ctx, "remove_client", [args["site"]])
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
    (every connected site for an ``@ALL`` job); any other target is itself, if it is the server or
    a site of the job (its deploy_map names it, its deploy record lists it, or it is ``@ALL``): a
    log is a fact about the job, taken only from a site the job went to (security finding 3), as
    ``follow`` does. Raises RemoteError (InvalidTarget) naming the job's sites."""
    meta = ctx.server.store.get(job_id) or {}
    named, all_sites = required_sites(meta)
    if target.casefold() not in ("all", "@all"):
        require_on_target(ctx, Right.VIEW, target, meta or {"job_id": job_id})  # the right before what the job is
        if target != "server" and not sent_to(target, meta):  # the rule site_claims judges a site's word by
            sites = ", ".join(sorted(deployed_sites(meta)))
            raise RemoteError(ErrorType.INVALID_TARGET, f"{target} is not a target of job {job_id[:8]}: 'server', "
                                                        f"'all' or one of its sites ({sites})")
        return [target]
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

