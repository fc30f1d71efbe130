"""Server side of ls, cat, head, tail, grep and pwd: on the server's folder, or relayed to a site.

A participant's folder holds every job's workspace, named by the job's ID, beside the
participant's own files (its log.txt names every job it ran). A user whose ``view`` right is
scoped to some jobs (``n:submitter``, ``o:submitter``; or ``none``) reaches only the folders of
the jobs it may view: ``ls`` of the folder itself lists only those, ``pwd`` answers, and every
other path outside them is refused naming the rule. The default policy (``view: any``) reaches
the whole folder but for what ``target_commands`` never shows.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

from console.commands import Right
from console.runtime.target_commands import KIT_FOLDERS, TargetCommandError, job_folder
from console.runtime.target_runner import run_confined
from console.server import site_answers
from console.server.audit import AUDIT_FOLDER
from console.server.authz import Principal, principal
from console.server.handlers import handles
from console.server.job_access import may_view, view_filter
from console.server.targets import require_on_target, site_timeout
from console.wire.errors import ErrorType, RemoteError
from console.wire.exceptions import InternalError, InvalidArgumentError, NoConnection
from console.wire.request_context import RequestContext

#: Never reachable on the server: the kit, the store (every job's archive, signatures and the job
#: database, which download_job and list_jobs guard) and the audit trail (every user's commands).
SERVER_PRIVATE = (*KIT_FOLDERS, "store", AUDIT_FOLDER)

log = logging.getLogger("console.server.shell")


async def run_on_target(ctx: RequestContext, target: str, command: str, options: str | None, path: str | None,
                        pattern: str | None, right: Right = Right.SHELL_COMMANDS,
                        job_id: str | None = None) -> str | None:
    """The command on the server's folder or a site's; with ``job_id``, confined to that job's workspace
    there (links included). Only ``log`` answers None (no such log).

    A path in a job's workspace (on the server or a site) also needs the download_job right on that
    job, as download_job applies it: the workspace holds the same results as the job's download."""
    # A command on a job's own files (its log) needs the right on that job too, where the right is job-scoped.
    require_on_target(ctx, right, target, None if job_id is None else ctx.server.store.get(job_id) or {"job_id": job_id})
    user = principal(ctx.connection)
    scoped = job_id is None and view_filter(ctx.server.policy, user) != {}
    if job_id is None and (job := job_folder(path)) is not None:
        # A job the store no longer knows (a leftover workspace) has no submitter: only "any" reads it.
        meta = ctx.server.store.get(job) or {}
        ctx.server.policy.require(user, Right.DOWNLOAD_JOB, submitter=meta, what=f"job {job}")
        if scoped:  # a job one may not see is not there to read either, whatever download_job says
            ctx.server.policy.require(user, Right.VIEW, submitter=meta, what=f"job {job}")
    elif scoped and not (command in ("ls", "pwd") and _is_folder_itself(path)):
        raise RemoteError(ErrorType.AUTHORIZATION, _outside_jobs(ctx, user, command, target, path))
    answer = await _run(ctx, target, command, options, path, pattern, right, job_id)
    if scoped and command == "ls" and answer is not None:
        answer = await asyncio.to_thread(_viewable_entries, ctx, user, answer)
    return answer


def _is_folder_itself(path: str | None) -> bool:
    return not [part for part in Path(path or ".").parts if part != "."]


def _outside_jobs(ctx: RequestContext, user: Principal, command: str, target: str, path: str | None) -> str:
    condition = ctx.server.policy.condition(user.role, Right.VIEW)
    covers = {"n:submitter": "the jobs they submitted only", "o:submitter": "their org's jobs only"}.get(
        condition, "no job")
    return (f"{user.name} ({user.role}) has the right 'view' for {covers} ({condition}): file commands "
            f"reach only those jobs' folders on {target} (`ls {target}` lists them; name a path inside one), "
            f"not {command} {path or '.'}: the participant's own files name every job")


def _viewable_entries(ctx: RequestContext, user: Principal, listing: str) -> str:
    """``ls`` of a participant's folder as a scoped ``view`` sees it: only the lines of job folders
    the user may view (plain or ``-l``: the name ends the line)."""
    kept = []
    for line in listing.splitlines(keepends=True):
        found = _ENTRY_JOB.search(line.rstrip("\n"))
        if found is None:
            continue
        meta = ctx.server.store.get(found.group(1).lower())
        if meta is not None and may_view(ctx.server.policy, user, meta):
            kept.append(line)
    return "".join(kept)


#: A listed job folder: a job ID ending the line (``-l`` puts mode, size and time before it).
_ENTRY_JOB = re.compile(r"(?:^|\s)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$")


async def _run(ctx: RequestContext, target: str, command: str, options: str | None, path: str | None,
               pattern: str | None, right: Right, job_id: str | None) -> str | None:
    if target == "server":
        root = ctx.server.workspace if job_id is None else ctx.server.workspace / job_id
        try:
            return await run_confined(root, command, options, path, pattern, protected=SERVER_PRIVATE)
        except TargetCommandError as exc:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    site = ctx.server.sites.get(target)
    if site is None:
        online = ", ".join(sorted(ctx.server.sites.online())) or "none"
        raise RemoteError(ErrorType.INVALID_TARGET, f"{target} is not the server or a connected site "
                                                    f"(connected: {online})")
    try:
        user = principal(ctx.connection)
        return await site_answers.ask(target, site.link, "shell", {
            "command": command, "options": options, "path": path, "pattern": pattern, "user_name": user.name,
            "user_org": user.org, "user_role": user.role, "right": right.value, "job_id": job_id},
            timeout=site_timeout(ctx))
    except InvalidArgumentError as exc:  # the site refused the path or the options
        raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    except InternalError as exc:  # the site is busy (its reply budget, its grep limit): say so, one line
        raise RemoteError(ErrorType.INTERNAL, f"{target}: {exc}") from None
    except NoConnection as exc:
        log.warning("%s from %s: %s did not answer: %s", command, ctx.connection.identity.cn, target, exc)
        raise RemoteError(ErrorType.INTERNAL, f"{target} did not answer: {exc}; try again later") from None


def _bind(command: str) -> None:
    @handles(command)
    async def handler(ctx: RequestContext, args: dict[str, Any]) -> str:
        path = args.get("path") if command == "ls" else args.get("file")
        return await run_on_target(ctx, args["target"], command, args.get("options"), path, args.get("pattern"))


for _command in ("ls", "cat", "head", "tail", "grep", "pwd"):
    _bind(_command)
