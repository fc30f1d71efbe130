"""Server side of FLARE's site administration: versions, resources, site environments, and
disabling or enabling a site. Return shapes are FLARE 2.9's (see docs/compatibility.md).

It asks sites through ``targets.ask_sites`` and never touches jobs.
"""

from __future__ import annotations

import os
from typing import Any

from console import __version__
from console.commands import Right
from console.jobdef.bounds import check_site_name
from console.jobdef.errors import JobDefinitionError
from console.process import memory_total_mib
from console.server.audit import UNCHANGED
from console.server.authz import principal
from console.server.handlers import checked_only, handles
from console.server.site_directory import MAX_DISABLED_PER_ORG
from console.server.targets import ask_sites, chosen_sites, require_on_target, site_org
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext


async def _per_target(ctx: RequestContext, args: dict[str, Any], right: Right) -> dict[str, Any]:
    """``sys_info`` of the server and/or the chosen sites, by target name."""
    answers: dict[str, Any] = {}
    if args["target_type"] in ("server", "all"):
        require_on_target(ctx, right, "server")
        answers["server"] = {"version": __version__, "cpu_count": os.cpu_count(),
                             "memory_total_mib": memory_total_mib()}
    if args["target_type"] in ("client", "all"):
        sites = chosen_sites(ctx, args["targets"] if args["target_type"] == "client" else None, right)
        if not sites and args["target_type"] == "client":
            raise RemoteError(ErrorType.NO_CLIENTS_AVAILABLE, "no site is connected")
        answers.update(await ask_sites(ctx, sites, "sys_info"))
    return answers


@handles("report_version")
async def report_version(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    answers = await _per_target(ctx, args, Right.VIEW)
    return {name: {"error": a["error"]} if "error" in a else {"version": a.get("version", "unknown")}
            for name, a in answers.items()}


@handles("report_resources")
async def report_resources(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    answers = await _per_target(ctx, args, Right.OPERATE)
    # FLARE gives each target's resources as one string; ours has no GPU scheduling, so CPUs and memory.
    return {name: str({"error": a["error"]} if "error" in a else
                      {"cpu_count": a.get("cpu_count"), "memory_total_mib": a.get("memory_total_mib")})
            for name, a in answers.items()}


@handles("report_env")
async def report_env(ctx: RequestContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    sites = chosen_sites(ctx, args["targets"], Right.OPERATE)
    if not sites:
        raise RemoteError(ErrorType.INVALID_TARGET, "no site is connected")
    answers = await ask_sites(ctx, sites, "env")
    return [answer if "error" not in answer else {"site_name": site, **answer} for site, answer in answers.items()]


def _storable_site(name: str) -> str:
    try:
        check_site_name(name)
    except JobDefinitionError as exc:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    return name


@handles("disable_client")
async def disable_client(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    name = _storable_site(args["site"])
    org = site_org(ctx, name)  # only a site of the project, by its own org
    ctx.server.policy.require(principal(ctx.connection), Right.OPERATE, site_org=org, what=name)
    sites = ctx.server.sites
    if name not in sites.disabled and sites.directory.disabled_in(org) >= MAX_DISABLED_PER_ORG:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, f"{MAX_DISABLED_PER_ORG} sites of {org} are disabled "
                                                      "already; enable some (enable_client) first")
    if args["check_only"]:
        return checked_only(ctx)
    already = sites.directory.set_disabled(name, True, org)
    # Disabled already: its session goes too, whatever happens (its running jobs do not wait for it).
    removed = await ctx.finish(sites.remove(name, "disabled by an admin (disable_client)"))
    if already and not removed:  # audited as a read: repeating it can flood nothing (session 10, item 2)
        ctx.notes[UNCHANGED] = f"{name} was disabled already"
    return {"clients": [{"client_name": name, "state": "disabled", "already_disabled": already,
                         "active_session_removed": removed, "credential_revoked": False, "rejoin_allowed": False}]}


@handles("enable_client")
async def enable_client(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    name = args["site"]
    sites = ctx.server.sites
    # A disabled entry is scoped by the org stored with it; one of an older server that names no
    # site of the project has none (""), which only an unscoped right matches.
    org = sites.disabled[name] if name in sites.disabled else site_org(ctx, name)
    ctx.server.policy.require(principal(ctx.connection), Right.OPERATE, site_org=org, what=name)
    was = sites.directory.set_disabled(name, False)
    if not was:
        ctx.notes[UNCHANGED] = f"{name} was not disabled"
    return {"clients": [{"client_name": name, "state": "enabled", "was_disabled": was, "credential_revoked": False,
                         "rejoin_allowed": True}]}
