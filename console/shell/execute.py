"""Running a parsed command: server commands through the session, the shell's own here.

Shared by the interactive shell and the batch runner, over any ``Backend``; what differs between them (how to
ask for confirmation, print above a prompt, switch a theme) comes in through
``Frontend``. A command that needs nothing special on the client is sent as it is; the
entries below exist only where the client does real work. What a failed command says to people
is ``failures.py``'s; the settings commands (``set``, ``theme``, ...) are ``settings.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from console.api.errors import CancelTooLate, NoConnection
from console.api.spec import MonitorReturnCode
from console.backends.base import Backend
from console.commands import CommandSpec, Transfer, Where
from console.names import site_named
from console.shell import follow, plot, settings  # noqa: F401  (they register their commands)
from console.shell.client_side import (
    CLIENT_SIDE,
    CommandFailed,
    Frontend,
    Outcome,
    ShellState,
    client_side,
    with_closing_document,
)
from console.shell.completion_data import MAX_JOBS_KEPT
from console.shell.failures import explain, went_on
from console.shell.file_errors import FILE_COMMANDS, answers_only, unless_failed
from console.shell.help import help_text
from console.shell.human import in_words
from console.shell.monitors import COMPLETED, Monitor, MonitorManager, not_completed
from console.shell.output import render
from console.shell.parse import ParsedCommand, UsageError, parse_command, unavailable
from console.shell.progress import progress_line
from console.shell.refresher import CompletionRefresher
from console.shell.resize import on_resize
from console.shell.safe_text import visible_line
from console.shell.site_jobs import running_on
from console.shell.top import command as _top_command  # noqa: F401  (registers top)
from console.shell.watch_heading import WatchHeading
from console.wire.requesting import USER_COMMAND
from console.within import within


class Executor:
    def __init__(self, backend: Backend, state: ShellState, frontend: Frontend, monitors: MonitorManager,
                 refresher: CompletionRefresher) -> None:
        self.backend = backend
        self.state = state
        self.frontend = frontend
        self.monitors = monitors
        self.refresher = refresher
        #: Jobs submitted or cloned in this session, oldest first (the demo asks before leaving them running).
        self.submitted: list[str] = []
        #: Seconds the last command spent on its work (requests), without the confirmation question
        #: or the pager; None when it never got that far (refused, cancelled at the question).
        self.elapsed: float | None = None

    @property
    def shut_down_server(self) -> bool:
        """This console sent a shutdown of the server (``shutdown server|all``) that has not failed: a lost
        connection is then that shutdown, not a fault (the reconnect line and the toolbar say so). Kept on the
        backend (``Backend.shut_down_by_you``), so that its background pollers honour it too."""
        return self.backend.shut_down_by_you

    @shut_down_server.setter
    def shut_down_server(self, value: bool) -> None:
        self.backend.shut_down_by_you = value

    async def run(self, parsed: ParsedCommand, on_answer: Callable[[Any], None] | None = None) -> Outcome:
        """Run a parsed command: its outcome. ``on_answer``: a server command's answer as soon as it arrives
        (``Backend.request``), so that it may be shown from there (``early.py``)."""
        spec = parsed.spec
        self.elapsed = None
        if not spec.supports(self.backend.engine):
            raise CommandFailed(unavailable(spec, self.backend.engine))
        if spec.where is not Where.SHELL and not self.backend.connected:
            # The reconnect loop is already at work: waiting for it here would hold the prompt for
            # the whole connect timeout, so say so at once instead.
            if self.shut_down_server:  # this console's own shutdown: nothing will answer until it is started
                again = (", or start the server again and the console keeps reconnecting"
                         if self.backend.reconnects_after_own_shutdown else
                         "; open the console again once the server is started again")
                raise NoConnection(f"the server was shut down by you, so {spec.name} was not sent; leave with "
                                   f"bye{again}")
            raise NoConnection(f"the server is unreachable, so {spec.name} was not sent; the console keeps "
                               "reconnecting (the toolbar shows when it is back)")
        self._check_right(spec)
        if spec.destructive and not parsed.yes and self.state.confirm:
            await self._confirm(parsed)
        handler = CLIENT_SIDE.get(spec.name)
        if handler is None and spec.where is not Where.SERVER:
            raise CommandFailed(f"{spec.name} has no implementation in this client")
        started = time.perf_counter()
        # A silent server's NoAnswer names this command, not its requests (put back by value: safe whoever
        # drives this coroutine).
        before = USER_COMMAND.get()
        USER_COMMAND.set(spec.name)
        try:
            if handler is not None:
                return await handler(self, parsed)
            # Set before sending: the connection may drop before the answer arrives.
            stopping = spec.name == "shutdown" and parsed.values.get("target_type") in ("server", "all")
            self.shut_down_server |= stopping
            restarting = spec.name == "restart" and parsed.values.get("target_type") in ("server", "all")
            self.backend.restarting_by_you |= restarting
            try:
                if spec.name in FILE_COMMANDS:  # the tool's error line is a failed command, never shown as an answer
                    return Outcome(unless_failed(spec.name, await self.backend.request(
                        spec.name, parsed.wire_args(), on_answer and answers_only(spec.name, on_answer))))
                answer = await self.backend.request(spec.name, parsed.wire_args(), on_answer)
                self._note_site(spec.name, parsed.values.get("site"))
                return Outcome(answer)
            except (NoConnection, CancelTooLate):
                raise  # the server went before it answered, or a Ctrl-C came after it was sent: shut down, likely
            except BaseException:
                self.shut_down_server &= not stopping  # refused (jobs running), cancelled: the server stays
                self.backend.restarting_by_you &= not restarting
                raise
        finally:
            USER_COMMAND.set(before)
            self.elapsed = time.perf_counter() - started if spec.timed else None

    def _note_site(self, command: str, site: Any) -> None:
        """A site this session disabled, or enabled again (``Backend.disabled_sites``: top shows it disabled)."""
        if isinstance(site, str) and command in ("disable_client", "enable_client"):
            chosen = {site}
            disabled = self.backend.disabled_sites
            self.backend.disabled_sites = disabled | chosen if command == "disable_client" else disabled - chosen

    def starts_at_enter(self, parsed: ParsedCommand) -> bool:
        """True for a command that only asks the server (no question first, no client-side work that
        could want the terminal): the shell may send it the moment Enter is pressed, while
        prompt_toolkit is still putting the prompt away."""
        spec = parsed.spec
        return spec.where is Where.SERVER and spec.name not in CLIENT_SIDE and not spec.destructive

    def _check_right(self, spec: CommandSpec, meta: dict[str, Any] | None = None) -> None:
        """Refuse what the server's policy (as it told us at login) certainly refuses, before any
        question; a scoped right ("n:submitter", ...) is judged once the job is known."""
        if spec.right is None:
            return
        condition = self.backend.right_condition(spec.right.value)
        refused = condition == "none"
        if meta is not None and condition == "n:submitter":
            refused = meta.get("submitter_name") != self.backend.user
        elif meta is not None and condition == "o:submitter":
            refused = meta.get("submitter_org") != self.backend.org
        if refused:
            scope = {"n:submitter": " for jobs others submitted",
                     "o:submitter": " for jobs of other organisations"}.get(condition or "", "")
            raise CommandFailed(f"{spec.name} needs the '{spec.right.value}' right, which {self.backend.user} "
                                f"does not hold{scope} on this server; ask a project admin")

    async def _confirm(self, parsed: ParsedCommand) -> None:
        spec = parsed.spec
        if not self.frontend.interactive:
            raise CommandFailed(f"{spec.name} is destructive: add --yes to run it in a batch")
        what = await self._describe(parsed)
        if what is None:
            return
        await self.backend.refuse_before_asking(spec.name, parsed.wire_args())
        if not await self.frontend.confirm(f"{spec.name} {what}: are you sure? [y/N] "):
            raise CommandFailed(f"{spec.name} cancelled")

    async def _describe(self, parsed: ParsedCommand) -> str | None:
        """What a destructive command acts on, for its question: the job's name and status, the sites.

        None when the job's status already says the command changes nothing (aborting a finished
        job, deleting one still running): no question, the server's answer says why.
        """
        values = parsed.values
        if "job_id" in values:
            meta = await self.backend.get_job_meta(values["job_id"])  # an unknown job fails before the question
            self._check_right(parsed.spec, meta)
            status = meta.get("status")
            # The job states the command takes (the registry's, as FLARE 2.9's job commands: a finished
            # job has nothing to abort, a dispatched or running one is not deleted).
            job_param = next(p for p in parsed.spec.params if p.name == "job_id")
            if isinstance(status, str) and not job_param.jobs.takes(status):
                return None
            return f"job {meta['job_id']} ({meta.get('name') or meta.get('job_name') or 'unnamed'}, {meta['status']})"
        target = values.get("target_type")
        sites = values.get("targets") or []
        if target == "all":
            return "the server and every site"
        if target == "server":
            return "the server"
        if target == "client":
            return f"site{'s' if len(sites) > 1 else ''} {', '.join(sites)}" if sites else "every connected site"
        if "site" in values:  # (remove_client, disable_client: the jobs it runs are what the answer costs)
            return f"{site_named(values['site'])}{await running_on(self.backend, values['site'])}"
        return " ".join(str(v) for v in parsed.wire_args().values() if v is not None)


# -- server commands with client-side work ---------------------------------------------


async def _new_job(ex: Executor, started: Awaitable[str], done: str, late_verb: str) -> Outcome:
    """A job made by ``started`` (a submit or a clone): said, and kept for completion and the demo's leave question.

    A Ctrl-C that came after the server had it (``CancelTooLate``) says the job went on, with its ID.
    """
    try:
        job_id = await started
    except CancelTooLate as late:  # not cancelled: the job exists (or will), so say so and keep its ID
        job_id = late.result if isinstance(late.result, str) else None
        if job_id is None:
            return Outcome(message=went_on(late, "", None))
        message = went_on(late, late_verb, job_id)
    else:
        message = f"{done}: {visible_line(job_id)}"  # (the server's words: on this one line)
    ex.refresher.note_job(job_id)
    ex.submitted.append(job_id)
    # The ID as a field (json) and alone (raw: what FLARE's and our API return): scripts never parse the sentence.
    return Outcome(message=message, fields={"job_id": job_id}, answer=job_id)


@client_side("submit_job")
async def _submit(ex: Executor, parsed: ParsedCommand) -> Outcome:
    started = ex.backend.submit_job(parsed.values["job_folder"], parsed.values.get("submit_token"))
    return await _new_job(ex, started, "Submitted job", "submitted as")


@client_side("clone_job")
async def _clone(ex: Executor, parsed: ParsedCommand) -> Outcome:
    return await _new_job(ex, ex.backend.clone_job(parsed.values["job_id"]), "Cloned as job", "cloned as")


@client_side("download_job")
async def _download(ex: Executor, parsed: ParsedCommand) -> Outcome:
    job_id, destination = parsed.values["job_id"], parsed.values.get("destination")
    try:
        async with progress_line(ex.frontend, ex.backend.download_probe(job_id, destination),
                                 f"download_job {job_id[:8]}"):
            path = await ex.backend.download_job(job_id, destination)
    except CancelTooLate as late:
        path = late.result if isinstance(late.result, str) else None
        return Outcome(message=went_on(late, "downloaded to", path),
                       fields=None if path is None else {"path": path}, answer=path)
    return Outcome(message=f"Downloaded to {path}", fields={"path": path}, answer=path)


@client_side("delete_job")
@client_side("set_timeout")
@client_side("unset_timeout")
async def _said_in_words(ex: Executor, parsed: ParsedCommand) -> Outcome:
    """Said in words (``human.in_words``); the answer stays whole for json (its fields) and raw."""
    answer = await ex.backend.request(parsed.spec.name, parsed.wire_args())
    words = in_words(parsed.spec.name, answer)
    if words is None:  # an answer of another shape: shown as it came
        return Outcome(answer)
    return Outcome(message=words, fields=answer, answer=answer)


@client_side("monitor_job")
async def _monitor(ex: Executor, parsed: ParsedCommand) -> Outcome:
    job_id, timeout, interval = (parsed.values[k] for k in ("job_id", "timeout", "interval"))
    meta = await ex.backend.get_job_meta(job_id)  # an unknown job fails here, in the foreground
    if not ex.frontend.interactive:
        return await _monitor_to_the_end(ex, meta, timeout, interval)
    which = visible_line(f"{meta['job_id'][:8]} ({meta.get('name', '')})")  # (the server's words: on this one line)
    if ex.monitors.following(meta["job_id"]) is not None:
        return Outcome(message=f"{which} is already monitored; 'monitors' lists monitors, 'unmonitor' stops one")
    ex.monitors.start(meta["job_id"], timeout, interval)
    return Outcome(message=f"monitoring {which} in the background; 'monitors' lists monitors, 'unmonitor' stops them")


async def _monitor_to_the_end(ex: Executor, meta: dict[str, Any], timeout: float, interval: float) -> Outcome:
    """A batch's monitor_job: blocks until the job ends; fails (exit 1) unless it ended FINISHED:COMPLETED,
    so that CI sees a failed, aborted or unfinished job without parsing the status lines."""
    watched = Monitor(meta["job_id"], meta.get("name", ""), "")
    try:
        code = await ex.monitors.follow(meta["job_id"], timeout, interval, watched)
    except Exception as exc:  # abandoned (JobNotRunning), a failed check: its closing document all the same
        raise with_closing_document(exc, follow.last_known(exc, meta["job_id"], watched.name or meta.get("name", ""),
                                                            watched.status or meta.get("status", ""))) from None
    name = watched.name or meta.get("name", "")
    job = f"job {meta['job_id']} ({name or 'unnamed'})"
    status = watched.status or meta.get("status", "")
    fields = {"job_id": meta["job_id"], "name": name, "status": status}  # the closing document, however it ends
    if code is MonitorReturnCode.TIMEOUT:
        raise CommandFailed(f"{job} is still {status} after --timeout {timeout:g} s", fields)
    if code is not MonitorReturnCode.JOB_FINISHED:
        raise CommandFailed(f"monitor of {job} ended ({code.name}) with the job {status}", fields)
    if status != COMPLETED:
        raise CommandFailed(not_completed(meta["job_id"], name, status), fields)
    return follow.ended(meta["job_id"], name, status)


# -- the shell's own commands ------------------------------------------------------------


@client_side("help")
async def _help(ex: Executor, parsed: ParsedCommand) -> Outcome:
    # Laid out in columns for the terminal's width (the registry's own words): shown as it is, never refilled.
    return Outcome(message=help_text(ex.backend.engine, parsed.values.get("command")), drawn=True)


@client_side("bye")
async def _bye(ex: Executor, parsed: ParsedCommand) -> Outcome:
    return Outcome(exit=True)


@client_side("monitors")
async def _monitors(ex: Executor, parsed: ParsedCommand) -> Outcome:
    rows = ex.monitors.rows()
    return Outcome(rows) if rows else Outcome(message="no monitors running")


@client_side("unmonitor")
async def _unmonitor(ex: Executor, parsed: ParsedCommand) -> Outcome:
    try:
        which = ex.monitors.the_one(parsed.values.get("job_id"), None, "monitor")
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    stopped = await ex.monitors.stop(which)
    if not stopped:
        raise CommandFailed(f"no monitor of a job matching '{which}'; 'monitors' lists them")
    return Outcome(message=f"stopped {stopped} monitor{'s' if stopped != 1 else ''}")


#: Commands ``watch`` may repeat: those that only show something (repeating a submit would submit again).
_CHANGES_THINGS = frozenset({"enable_client", "set_timeout", "unset_timeout", "reset_errors", "follow", "unfollow"})


def watchable(spec: CommandSpec) -> bool:
    return spec.name == "monitors" or (spec.where is Where.SERVER and spec.transfer is Transfer.NONE
                                       and not spec.destructive and spec.name not in _CHANGES_THINGS)


@contextlib.contextmanager
def _repainting(frontend: Frontend) -> Iterator[None]:
    try:
        yield
    finally:
        frontend.end_repaint()


@client_side("watch")
async def _watch(ex: Executor, parsed: ParsedCommand) -> Outcome:
    """Run a showing command again every ``interval`` seconds, its output redrawn in place, until Ctrl-C
    (which cancels this task: the shell says "watch stopped")."""
    if not ex.frontend.interactive:
        raise CommandFailed("watch needs the interactive console; a script can run the command in a loop")
    line, interval = parsed.values["command"], parsed.values["interval"]
    try:
        inner = parse_command(line, ex.backend.engine)
    except UsageError as exc:
        raise CommandFailed(f"watch: {exc}") from None
    if inner is None or not watchable(inner.spec):
        name = inner.spec.name if inner else "nothing"
        raise CommandFailed(f"watch repeats commands that only show something, not {name}; e.g. watch -n 5 list_jobs")
    resized = asyncio.Event()
    # Background lines wait for the end: drawn over at the next round, they would be lost. The held
    # lines print after the view has gone (contexts leave in reverse order).
    with ex.monitors.held("watch"), _repainting(ex.frontend), on_resize(resized.set):
        while True:
            started = time.monotonic()
            try:
                outcome = await ex.run(inner)
                parts = ([render(outcome.result, ex.state.format, None, ex.state.expanded)]
                         if outcome.result is not None else [])
                text = "\n".join(p for p in [*parts, outcome.message or ""] if p)
            except Exception as exc:  # shown in place; the next round tries again
                text = explain(exc, inner, ex.backend.engine)
            heading = WatchHeading(interval, line, time.strftime("%H:%M:%S"))
            shown = f"{heading.whole()}\n\n{text}"
            while True:  # fitted to the screen again at once when the terminal is resized, not at the next round
                resized.clear()
                ex.frontend.repaint(shown, heading.fit)
                try:
                    await within(resized.wait(), max(0.0, interval - (time.monotonic() - started)))
                except TimeoutError:
                    break


@client_side("refresh")
async def _refresh(ex: Executor, parsed: ParsedCommand) -> Outcome:
    await ex.refresher.refresh()
    count = len(ex.refresher.data.jobs)
    if count >= MAX_JOBS_KEPT:
        return Outcome(message=f"completion data refreshed: the newest {count} jobs (completion keeps no more; "
                               "type more of an older job's ID)")
    return Outcome(message=f"completion data refreshed: {count} jobs")
