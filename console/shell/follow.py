"""``follow JOB_ID [TARGET|all] [-n N]`` and ``unfollow``: a job's log lines above the prompt.

A follow is a background task listed with the monitors (``monitors``; ``unmonitor`` stops
it too), fed by ``Backend.follow_log`` (pushed by our server, polled on FLARE); its lines are
printed by ``console.shell.log_printer``. One follow per job (the server keeps one stream per job and connection): following it
again on another target replaces the first, and says so. In a batch ``follow`` blocks until the job ends and, like ``monitor_job``, fails
(exit 1, the status on stderr) unless the job ended FINISHED:COMPLETED. A dropped
connection is waited out and the log followed again from where the delivered log ended
(``LogStream.resume``): lines written meanwhile come then, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from console.api.async_session import is_final
from console.api.errors import JobNotRunning, NoConnection
from console.backends.base import SITES_WITHOUT_JOB, Backend, LogStream
from console.backends.nvflare_orphans import ORPHANED, in_words
from console.shell.client_side import CommandFailed, Outcome, ShellContext, client_side, with_closing_document
from console.shell.log_printer import LogPrinter
from console.shell.monitors import COMPLETED, Monitor, MonitorManager, job_ended, not_completed
from console.shell.parse import ParsedCommand
from console.shell.safe_text import visible_line as visible  # one line each: breaks shown too
from console.within import within

#: Seconds a follow waits for its log's end after the job's final status (FLARE: the log ends as its processes do).
END_GRACE = 60.0


async def _watch_job(backend: Backend, stream: LogStream, say: Callable[[str], None]) -> str:
    """The followed job watched as monitor_job watches it (an engine without pushes: FLARE), until it ends: its final
    status. Raises JobNotRunning for a job FLARE's restarted server no longer runs (its log never ends: flare11
    item 4). A followed site that answers without the job (restarted: its job process ended) is said once."""
    told: set[str] = set()

    def on_meta(meta: dict[str, Any]) -> bool:
        gone = meta.get(SITES_WITHOUT_JOB)
        for site in sorted(set(gone if isinstance(gone, list) else []) & set(stream.targets) - told):
            told.add(site)
            say(f"[{site}] no longer runs job {stream.job_id[:8]} (its job process ended: restarted?); its log stops "
                "here, and the job waits for it")
        return True

    _code, meta = await backend.monitor_job(stream.job_id, 0.0, 1.0, on_meta)
    return str((meta or {}).get("status", ""))


async def _log_or_job_end(backend: Backend, stream: LogStream,
                          say: Callable[[str], None]) -> tuple[str, BaseException | None] | None:
    """Wait for the log's end; on FLARE also for the job's (``_watch_job``). None: the log ended (or the stream
    failed: ``stream.error``); else why the follow ends without its log's end, and the error that says it."""
    if backend.pushes:
        await stream.done.wait()
        return None
    watch = asyncio.create_task(_watch_job(backend, stream, say))
    log_end = asyncio.create_task(stream.done.wait())
    try:
        await asyncio.wait([watch, log_end], return_when=asyncio.FIRST_COMPLETED)
        if stream.done.is_set():
            return None
        try:
            status = watch.result()
        except JobNotRunning as exc:  # abandoned by a server restart: as monitor_job says it
            return str(exc), exc
        except Exception:  # a dropped link, say: the log's own end (or its error) decides, as before
            await log_end
            return None
        with contextlib.suppress(TimeoutError):
            await within(asyncio.shield(log_end), END_GRACE)
            return None
        return f"the job ended {status} and its log did not end within {END_GRACE:g} s", None
    finally:
        for task in (watch, log_end):
            task.cancel()
        await asyncio.gather(watch, log_end, return_exceptions=True)


async def _keep_following(backend: Backend, monitors: MonitorManager, stream: LogStream, target: str,
                          printer: LogPrinter) -> None:
    try:
        while True:
            why = await _log_or_job_end(backend, stream, lambda text: monitors.emit(visible(text), "class:error", None))
            printer.close()
            if why is not None:
                monitors.emit(visible(f"following the log of {stream.job_id[:8]} stopped: {why[0]}"), "class:error",
                              None)
                return
            if not isinstance(stream.error, NoConnection):
                break
            await stream.close()
            await monitors._wait_for_connection()
            stream = await backend.follow_log(stream.job_id, target, 0, printer, stream.resume)
        if stream.error is not None:
            monitors.emit(visible(f"following the log of {stream.job_id[:8]} stopped: {stream.error}"),
                          "class:error", None)
        else:
            status = await _final_status(backend, stream.job_id)
            monitors.emit(_end_line(stream, status),
                          "class:status.completed" if status in ("", COMPLETED) else "class:error", None)
    finally:
        printer.close()
        await stream.close()


def _end_line(stream: LogStream, status: str) -> str:
    """The one line a follow ends with, live or started after the job ended, on either engine: ``log of
    d9bdca67 (hello-digits) ended with the job (FINISHED:COMPLETED)``; without the status when not known."""
    said = f" ({visible(status)})" if status else ""
    return f"log of {stream.job_id[:8]} ({visible(stream.name)}) ended with the job{said}"


#: Seconds the end line waits for the job's final status (written once its workspaces are in).
FINAL_STATUS_DEADLINE = 15.0


async def _final_status(backend: Backend, job_id: str) -> str:
    """The ended job's final status (``FINISHED:COMPLETED``), or "" when it is not known in
    ``FINAL_STATUS_DEADLINE`` seconds (the line is said all the same, without it)."""
    try:
        _, meta = await within(backend.monitor_job(job_id, 0.0, 1.0, None), FINAL_STATUS_DEADLINE)
    except asyncio.CancelledError:
        raise
    except Exception:
        return ""
    status = str((meta or {}).get("status") or "")
    return status if is_final(status) else ""


async def _require_completed(backend: Backend, job_id: str, name: str) -> Outcome:
    """Once a followed log has ended: the job's final status (its log ends as its processes do; the
    status is written once its workspaces are in). Raises CommandFailed unless FINISHED:COMPLETED."""
    _, meta = await backend.monitor_job(job_id, 0.0, 1.0, None)
    status = (meta or {}).get("status", "")
    name = (meta or {}).get("name") or name
    if status != COMPLETED:
        raise CommandFailed(not_completed(job_id, name, status), {"job_id": job_id, "name": name, "status": status})
    return ended(job_id, name, status)


def last_known(exc: BaseException, job_id: str, name: str, status: str) -> dict[str, Any]:
    """The closing document of a batch's monitor_job or follow that ``exc`` ended: the job as last seen; a job
    FLARE lists RUNNING but no longer runs (JobNotRunning, ``nvflare_orphans``) with that said in its status,
    as list_jobs says it."""
    if any(isinstance(e, JobNotRunning) for e in (exc, exc.__cause__)) and status in ("RUNNING", "DISPATCHED"):
        status = str(in_words({"status": status, ORPHANED: True})["status"])
    return {"job_id": job_id, "name": name, "status": status}


def ended(job_id: str, name: str, status: str) -> Outcome:
    """A batch's monitor_job or follow whose job completed: said in a line, and one JSON document
    (``{"job_id", "name", "status", "message"}``) for ``--format json``."""
    return Outcome(message=job_ended(job_id, name, status),
                   fields={"job_id": job_id, "name": name, "status": status})


async def _within(work: Coroutine[Any, Any, None], timeout: float, monitors: MonitorManager, job_id: str,
                  name: str) -> None:
    """A background follow for at most ``timeout`` seconds (0: until the job ends), as monitor_job's."""
    if not timeout:
        await work
        return
    try:
        await within(work, timeout)
    except TimeoutError:
        monitors.emit(visible(f"stopped following the log of {job_id[:8]} ({name}): --timeout {timeout:g} s passed"),
                      "class:status.queued", None)


#: What follow takes, for the errors that name a word it cannot use as its job.
FOLLOW_USAGE = "follow JOB [all|server|SITE]"


async def _job_to_follow(backend: Backend, given: str | None) -> str:
    """The job ``follow`` was given, or without one the one job not ended (as ``unfollow`` alone takes the one
    followed). Raises CommandFailed when ``given`` is a target word (``follow all``: the job comes first) or
    there is not exactly one job to take, saying what follow takes."""
    if given in ("all", "server"):
        raise CommandFailed(f"'{given}' is a target, not a job: {FOLLOW_USAGE} (the job first)")
    if given:
        return given
    live = [job for job in await backend.list_jobs() if not is_final(job.get("status"))]
    if len(live) == 1:
        return str(live[0]["job_id"])
    if not live:
        raise CommandFailed(f"no job runs, so there is none to take: {FOLLOW_USAGE} ('list_jobs' lists them)")
    shown = ", ".join(f"{job['job_id'][:8]} ({visible(str(job.get('name') or ''))})" for job in live[:5])
    raise CommandFailed(f"{len(live)} jobs run ({shown}{', ...' if len(live) > 5 else ''}): name one: "
                        f"{FOLLOW_USAGE}")


@client_side("follow")
async def _follow(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    job_id = await _job_to_follow(ex.backend, parsed.values.get("job_id"))
    return await start_follow(ex, job_id, parsed.values["target"] or "server",
                              parsed.values["lines"], parsed.values.get("timeout") or 0.0)


#: A batch's follow asks the server about its job this often while no log end has come: a server that
#: stopped answering (a job may be quiet for hours, the server not) fails it at a command's deadline,
#: naming the server, instead of a wait with no end (security report 10, finding 10).
PROBE_SECONDS = 30.0
#: How long a follow ended by a server that stopped answering gives its unfollow.
CLOSE_SECONDS = 2.0


async def _until_ended(backend: Backend, stream: LogStream, timeout: float, say: Callable[[str], None]) -> None:
    """Wait for the followed log's end, at most ``timeout`` seconds (0: no limit; TimeoutError past
    it), asking the server for the job's meta every ``PROBE_SECONDS`` (its NoConnection raised). On FLARE
    the job is watched too: one its server no longer runs (abandoned) fails the follow, as monitor_job."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout if timeout else None
    while True:
        wait = PROBE_SECONDS if end is None else min(PROBE_SECONDS, end - loop.time())
        if wait <= 0:
            raise TimeoutError
        try:
            why = await within(_log_or_job_end(backend, stream, say), wait)
            if why is not None:
                raise CommandFailed(f"following the log of {stream.job_id[:8]} stopped: {why[0]}") from why[1]
            return
        except TimeoutError:
            if end is not None and loop.time() >= end:
                raise
        await backend.get_job_meta(stream.job_id)


async def _log_to_the_end(ex: ShellContext, stream: LogStream, timeout: float) -> Outcome:
    """A followed log shown until it ends: an ended job's at the prompt, or a batch's follow (which then exits as
    monitor_job does, by how the job ended)."""
    silent = False
    try:
        await _until_ended(ex.backend, stream, timeout, lambda text: ex.monitors.emit(visible(text), "class:error", None))
    except NoConnection as exc:
        silent = True  # the server stopped answering: its unfollow would wait out a deadline of its own
        raise CommandFailed(f"following the log of {stream.job_id[:8]} stopped: {exc}") from None
    except TimeoutError:
        if ex.frontend.interactive:
            raise CommandFailed(f"the log of {stream.job_id[:8]} did not end within --timeout {timeout:g} s") from None
        now = await ex.backend.get_job_meta(stream.job_id)
        status, name = now.get("status", ""), now.get("name") or stream.name
        raise CommandFailed(f"job {stream.job_id} ({visible(name) or 'unnamed'}) is still {status} after "
                            f"--timeout {timeout:g} s",
                            {"job_id": stream.job_id, "name": name, "status": status}) from None
    finally:
        if silent:
            with contextlib.suppress(Exception):
                await within(stream.close(), CLOSE_SECONDS)
        else:
            await stream.close()
    if stream.error is not None:
        raise CommandFailed(f"following the log of {stream.job_id[:8]} stopped: {stream.error}") from stream.error
    if not ex.frontend.interactive:  # a batch: exits as monitor_job does, by how the job ended
        return await _require_completed(ex.backend, stream.job_id, stream.name)
    return Outcome(message=_end_line(stream, await _final_status(ex.backend, stream.job_id)))


async def start_follow(ex: ShellContext, job_id: str, target: str, lines: int, timeout: float = 0.0) -> Outcome:
    """Follow a job's log: in the background when interactive, else until the job ends. ``timeout`` (seconds,
    0: never), as monitor_job's: a batch's follow fails once it passed with the job still running; a background
    one stops then, saying so."""
    background = ex.frontend.interactive
    tagged: str | None = None  # a batch follows one log at a time (each blocks): its tags stay short
    replaced = None  # the target of this job's follow that the new one replaces, said in its message
    meta = await ex.backend.get_job_meta(job_id)  # an unknown job fails here; a batch's events name the whole ID
    if ex.frontend.interactive:  # one follow per job: a new one replaces the last (the server keeps one)
        tagged = meta["job_id"]
        before = ex.monitors.following(meta["job_id"], "log")
        replaced = before.watches.removeprefix("log: ") if before is not None else None
        await ex.monitors.stop(meta["job_id"], watches="log")
        # Another job's log followed: from now on both name theirs.
        ex.monitors.name_logs = any(m.watches.startswith("log") for m in ex.monitors.running())
        background = not is_final(meta.get("status"))  # an ended job's log is shown now, then the prompt
    printer = LogPrinter(ex.monitors, paced=background, job_id=tagged, engine=ex.backend.engine,
                         events_of=meta["job_id"])
    stream = await ex.backend.follow_log(meta["job_id"], target, lines, printer)  # bad target: fails here
    if not background:
        try:
            return await _log_to_the_end(ex, stream, timeout)
        except Exception as exc:  # a batch's: the stream stopped, the job was abandoned: its closing document all the same
            if ex.frontend.interactive:
                raise
            raise with_closing_document(exc, last_known(exc, stream.job_id, stream.name, meta.get("status", ""))) from None
    monitor = Monitor(stream.job_id, stream.name, watches=f"log: {target}")
    work = _keep_following(ex.backend, ex.monitors, stream, target, printer)
    ex.monitors.run_background(monitor, _within(work, timeout, ex.monitors, stream.job_id, stream.name))
    shown = ", ".join(stream.targets)
    said = f"following the log of {stream.job_id[:8]} ({visible(stream.name)}) on {shown} in the background"
    if replaced == target:
        said += f", again from its last {lines} lines (it was followed already)"
    elif replaced is not None:  # tail -f on another file: say the first one stopped, and how to have both
        said += (f", instead of {visible(replaced)} (one follow per job; 'follow {stream.job_id[:8]} all' "
                 "follows every target)")
    return Outcome(message=f"{said}; 'unfollow' stops it")


@client_side("unfollow")
async def _unfollow(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    try:
        which = ex.monitors.the_one(parsed.values.get("job_id"), "log", "followed log")
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    stopped = await ex.monitors.stop(which, watches="log")
    if not stopped:
        what = "no log is followed" if which == "all" else f"no followed log of a job matching '{which}'"
        raise CommandFailed(f"{what}; 'monitors' lists what runs in the background")
    return Outcome(message=f"stopped following {stopped} log{'s' if stopped != 1 else ''}")


__all__ = ["ended", "last_known", "start_follow"]
