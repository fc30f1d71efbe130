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
import tempfile
from pathlib import Path
from typing import Any

from console.commands import Right
from console.runtime.target_commands import SERVER_PRIVATE, TargetCommandError, job_folder
from console.runtime.target_runner import run_confined
from console.server import site_answers
from console.server.authz import Principal, Refusal, principal
from console.server.handlers import handles
from console.server.interfaces import SiteLink
from console.server.job_access import may_view, note_hidden_folder, view_filter
from console.server.targets import require_on_target, site_timeout
from console.wire.errors import ErrorType, RemoteError
from console.wire.exceptions import InternalError, InvalidArgumentError, NoAnswer, NoConnection
from console.wire.features import ANSWER_WITHIN
from console.wire.request_context import RequestContext

log = logging.getLogger("console.server.shell")


async def run_on_target(ctx: RequestContext, target: str, command: str, options: str | None, path: str | None,
                        pattern: str | None, right: Right = Right.SHELL_COMMANDS,
                        job_id: str | None = None) -> str | None:
    """The command on the server's folder or a site's; with ``job_id``, confined to that job's workspace
    there (links included). Only ``log`` answers None (no such log).

    A path in a job's workspace (on the server or a site) also needs the download_job right on that
    job, as download_job applies it: the workspace holds the same results as the job's download.
    Under a scoped ``view`` it needs the view of that job first: the workspace of a job outside it
    is answered as a folder that does not exist (``_as_if_absent``), as job commands answer its ID."""
    # A command on a job's own files (its log) needs the right on that job too, where the right is job-scoped.
    require_on_target(ctx, right, target, None if job_id is None else ctx.server.store.get(job_id) or {"job_id": job_id})
    user = principal(ctx.connection)
    scoped = job_id is None and view_filter(ctx.server.policy, user) != {}
    if job_id is None and (job := job_folder(path)) is not None:
        meta = ctx.server.store.get(job)
        if scoped and (meta is None or not may_view(ctx.server.policy, user, meta)):
            # Not theirs to see (or a leftover workspace the store no longer knows): the folder is
            # not there for them, whatever download_job says, and the answer says no more than that.
            if meta is not None:  # the operator's trail says why, naming the job
                note_hidden_folder(ctx, job)
            return await _as_if_absent(ctx, target, command, options, path, pattern)
        # A job the store no longer knows has no submitter: only "any" reads its leftover workspace.
        ctx.server.policy.require(user, Right.DOWNLOAD_JOB, submitter=meta or {}, what=f"job {job}")
    elif scoped and not (command in ("ls", "pwd") and _is_folder_itself(path)):
        raise Refusal(Right.VIEW, _outside_jobs(ctx, user, command, target, path))  # the trail: right view
    answer = await _run(ctx, target, command, options, path, pattern, right, job_id)
    # Only the participant's folder itself lists every job; inside a job folder the user may view
    # (its path confined to it: ``_confine``), the listing is that folder's own.
    if scoped and command == "ls" and answer is not None and _is_folder_itself(path):
        answer = await asyncio.to_thread(_viewable_entries, ctx, user, answer)
    return answer


async def _as_if_absent(ctx: RequestContext, target: str, command: str, options: str | None, path: str | None,
                        pattern: str | None) -> str | None:
    """The answer to ``command`` on ``path`` where its job's folder does not exist: the command run
    in an empty folder, so the text (options and pattern judged first, then ``No such file or
    directory``) is the one a missing folder gets, on the server and on a site alike (a site runs
    the same commands); a site that is not connected is refused as it would be."""
    if target != "server":
        _connected(ctx, target)
    with tempfile.TemporaryDirectory(prefix="absent-") as empty:
        try:
            return await run_confined(Path(empty), command, options, path, pattern, user=ctx.connection.identity.cn)
        except TargetCommandError as exc:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None


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
            return await run_confined(root, command, options, path, pattern, protected=SERVER_PRIVATE,
                                      user=ctx.connection.identity.cn)
        except TargetCommandError as exc:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    site = _connected(ctx, target)
    try:
        user = principal(ctx.connection)
        request = {"command": command, "options": options, "path": path, "pattern": pattern, "user_name": user.name,
                   "user_org": user.org, "user_role": user.role, "right": right.value, "job_id": job_id}
        if ANSWER_WITHIN in site.link.peer_features:  # the site fits its own limits in our wait (answer_budget)
            request["answer_within"] = site_timeout(ctx)
        return await site_answers.ask(target, site.link, "shell", request, timeout=site_timeout(ctx))
    except InvalidArgumentError as exc:  # the site refused the path or the options
        raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None
    except InternalError as exc:  # the site is busy (its reply budget, its grep limit): say so, one line
        raise RemoteError(ErrorType.INTERNAL, f"{target}: {exc}") from None
    except NoConnection as exc:
        log.warning("%s from %s: %s did not answer: %s", command, ctx.connection.identity.cn, target, exc)
        raise RemoteError(ErrorType.NO_REPLY, _site_silent(target, command, exc, site_timeout(ctx))) from None


def _site_silent(target: str, command: str, exc: NoConnection, seconds: float) -> str:
    """The one sentence of a site that gave no answer to ``command``: silent for ``seconds``
    (NoAnswer, the link kept), or its connection lost meanwhile; in the user's command, never the
    server's internal request to the site (as FLARE's "no reply from client")."""
    if isinstance(exc, NoAnswer):
        return f"{target} did not answer {command} within {seconds:g} s (is it running? check_status client says)"
    return f"{target}'s connection was lost during {command}; it answers again once it reconnects (check_status client)"


def _connected(ctx: RequestContext, target: str) -> SiteLink:
    """The connected site named ``target``, or INVALID_TARGET."""
    site = ctx.server.sites.get(target)
    if site is None:
        online = ", ".join(sorted(ctx.server.sites.online())) or "none"
        raise RemoteError(ErrorType.INVALID_TARGET, f"{target} is not the server or a connected site "
                                                    f"(connected: {online})")
    return site


def _bind(command: str) -> None:
    @handles(command)
    async def handler(ctx: RequestContext, args: dict[str, Any]) -> str:
        path = args.get("path") if command == "ls" else args.get("file")
        return await run_on_target(ctx, args["target"], command, args.get("options"), path, args.get("pattern"))


for _command in ("ls", "cat", "head", "tail", "grep", "pwd"):
    _bind(_command)
