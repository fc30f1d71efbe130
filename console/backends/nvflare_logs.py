"""``follow`` on NVIDIA FLARE: a job's log polled with FLARE's own shell commands, by size.

FLARE pushes nothing, and its ``get_job_logs`` returns a whole log. So each target (the
server or a site) is polled with ``ls -l <job_id>/log.txt`` (its size) and, only when the
size changed, ``tail -c N``: where that window continues what was delivered is found by
``console.backends.log_window`` (by position, not by guessing: each line exactly once, in
order, also when the log grew during the calls; a window that cuts a multi-byte character,
which FLARE's shell fails to decode, is asked again a byte larger). Polls ride on FLARE's one
worker thread with every other call, ``POLL_SECONDS`` apart. The stream is done once the
job's status is final and then ``QUIET_POLLS`` polls in a row found nothing new (FLARE's
processes write their last lines after the status). A log FLARE removed with the job's
workspace (its server's, as soon as the job ends) is finished from FLARE's log store
(``get_job_logs``), once: after what was delivered, or, never seen (a follow that started as the
job ended or after), its last ``-n`` lines. A log that appeared after the follow started is
delivered from its start. A log that cannot be had at all is said, naming why, never left out
in silence. The cursors (``FlareFollow.cursors``) outlive a dropped connection: following again
resumes where the delivered log ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any, Protocol

from console.api import errors
from console.api.async_session import is_final
from console.backends.base import LogLines, LogStream
from console.backends.deploy_map import deploy_map_sites
from console.backends.log_catch_up import CutCharacter, catch_up
from console.backends.log_window import LogCursor
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_poll import FlareCalls, JobPoll
from console.within import within

#: Seconds between two polls of a followed log (each poll: one ``ls -l`` per target).
POLL_SECONDS = 1.0
#: Seconds a follow goes on polling after the job's status turned final: FLARE marks a job done
#: before its processes write their last lines ("MPM: Good Bye!"), so the end of a log comes later.
FINAL_GRACE = 10.0
#: Polls in a row that found nothing new, after the final status, before the follow ends.
QUIET_POLLS = 2
#: ``lines`` of a log's first look that gives all of it (a log that was not there when the follow started).
FROM_START = 1 << 40

_LS_SIZE = re.compile(r"^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s", re.MULTILINE)


class LogBackend(FlareCalls, Protocol):
    """What following a log on FLARE uses of the backend (``console.backends.nvflare.FlareBackend``):
    its calls, its job poll (a log's follow ends with its job) and what it knows of jobs and sites."""

    @property
    def poll(self) -> JobPoll: ...

    async def get_job_meta(self, job_id: str) -> dict[str, Any]: ...

    async def site_names(self, most: int | None = None) -> list[str]: ...


class _TargetLog:
    def __init__(self, target: str, path: str, cursor: LogCursor, note: Callable[[str, str], None] | None) -> None:
        self.target = target
        self.path = path
        self.cursor = cursor
        self.done = False  # finished from FLARE's log store: nothing more will come
        self.silent = False  # the site did not answer the last ls: said once, and when it answers again
        #: Whether the first look that had an answer found no log, the job not ended: the log is new since the
        #: follow started, so all of it follows (None: not looked yet).
        self.fresh: bool | None = None
        self.whole = False  # all of it is new to the follower, wherever it is had from (a resumed follow's)
        #: Why the rest of the log cannot be had, once FLARE removed it with the job's workspace and its log
        #: store did not give it either (said when the follow ends, unless a later poll has it).
        self.lost: str | None = None
        self._note = note

    def answered(self, answered: bool) -> None:
        """Whether the target answered this poll's ``ls``: a change is said (``on_lines.note``; flare10 item 15:
        a follow of a site that was down showed nothing, a batch's just timed out)."""
        if answered == self.silent:
            self.say("answers again: its log follows" if answered else
                     "does not answer (is it running? check_status client says): its log follows when it does")
        self.silent = not answered

    def say(self, text: str) -> None:
        if self._note is not None:
            self._note(self.target, text)


#: FLARE 2.9's words for a site that did not answer a shell command (shell_cmd: "no reply from client - timed out",
#: meta "client timeout").
_NO_REPLY = re.compile(r"client timeout|no reply from client", re.I)
#: What ``tail`` (or ``head``) itself prints, merged into FLARE's reply, when the log is gone (not log text).
_TAIL_ERROR = re.compile(r"\A(tail|head): .*(No such file or directory|cannot open)")
#: FLARE's reply when its shell could not decode tail's output (``subprocess.run(text=True)``,
#: strict UTF-8): a site answers with the error as text, the server fails the call; secure mode
#: names only the exception's class.
_UNDECODED = re.compile(r"\A\s*(exception_occurred|Exception Occurred):.{0,60}UnicodeDecodeError", re.DOTALL)


def tail_window(reply: str | None) -> bytes | None:
    """FLARE's answer to ``tail -c N`` as the window's bytes; None when the log is gone. Raises
    CutCharacter when FLARE could not decode the window: ``-c`` cut a multi-byte character, or the
    window holds a byte that is not UTF-8 (``log_catch_up.catch_up`` tells them apart)."""
    text = reply or ""
    if _UNDECODED.match(text):
        raise CutCharacter(text[:200])
    return None if _TAIL_ERROR.match(text) else text.encode("utf-8", "replace")


def _silent(exc: Exception) -> bool:
    """Whether a failed call on a site is the site not answering FLARE's server (in FLARE's words, or ours when
    the site froze: ``nvflare_site_timeout``'s NoReply), not a failure of the command."""
    return isinstance(exc, errors.NoReply) or bool(_NO_REPLY.search(str(exc)))


def is_cut_character(exc: Exception) -> bool:
    """Whether a failed ``tail -c`` call is FLARE's server failing to decode the window."""
    return "UnicodeDecodeError" in str(exc)


async def _size(backend: LogBackend, log: _TargetLog) -> int | None:
    try:
        listing = await backend.call(lambda s, a: s.ls_target(a["target"], "-l", a["path"]),
                                     {"target": log.target, "path": log.path}, what="follow")
    except (errors.NoConnection, errors.SessionClosed):
        raise
    except Exception as exc:  # no log there (yet): the job has not started on that target; or no answer
        log.answered(not _silent(exc))
        return None
    log.answered(True)
    match = _LS_SIZE.search(listing or "")
    return int(match.group(1)) if match else None


async def _from_store(backend: LogBackend, log: _TargetLog, lines: int, on_lines: LogLines) -> bool:
    """A log FLARE removed with the job's workspace, finished from its log store (``get_job_logs``): what
    follows the delivered lines, or, never seen, its last ``lines`` lines; whether anything was delivered. When
    the store does not give it, ``log.lost`` says why (a later poll asks again: the store is written after the
    job's status)."""
    try:
        stored = await backend.call(COMMANDS["get_job_logs"], {"job_id": log.path.split("/")[0],
                                                                "target": log.target}, what="follow")
    except (errors.NoConnection, errors.SessionClosed):
        raise
    except Exception as exc:
        log.lost = f"FLARE's log store could not be read ({str(exc)[:200] or type(exc).__name__})"
        return False
    stored = stored if isinstance(stored, dict) else {}
    text = (stored.get("logs") or {}).get(log.target)
    if not isinstance(text, str) or not text:
        why = (stored.get("unavailable") or {}).get(log.target)
        log.lost = f"FLARE's log store has none ({why})" if why else "FLARE's log store has none"
        return False
    log.done, log.lost = True, None
    if not log.cursor.started:
        new: list[str] | None = log.cursor.first_stored(text, lines)
    else:
        new = log.cursor.place_stored(text)
        if new is None:
            log.say("its log's end could not be had: the job's workspace is gone and FLARE's stored log does not "
                    f"hold the lines shown; download_job {log.path.split('/')[0][:8]} has it whole")
    if new:
        on_lines(log.target, new)
    return bool(new)


async def _poll(backend: LogBackend, log: _TargetLog, lines: int, on_lines: LogLines, final: bool,
                before_run: bool = False) -> bool:
    """Deliver what is new in one target's log; whether anything was (a grown log counts). ``before_run``: the
    follow started before the job ran, so a log only had from the store is given whole."""
    if log.done:
        return False
    size = await _size(backend, log)
    if log.fresh is None and not log.silent:
        log.fresh = size is None and not final
    if size is None and final:  # gone with the job's workspace (FLARE's server removes it), or never written
        return await _from_store(backend, log, FROM_START if log.whole or log.fresh and before_run else lines,
                                 on_lines)
    if size is None or (log.cursor.started and size == log.cursor.size):
        if size is not None:
            log.cursor.settle(size)
        return False

    async def fetch(count: int, shell: str = "tail") -> bytes | None:
        try:
            text = await backend.call(lambda s, a: getattr(s, f"{a['shell']}_target")(
                a["target"], f"-c {a['count']}", a["path"]),
                {"target": log.target, "path": log.path, "count": count, "shell": shell}, what="follow")
        except (errors.NoConnection, errors.SessionClosed):
            raise
        except Exception as exc:
            if is_cut_character(exc):  # asked again a byte larger by catch_up: the follow goes on
                raise CutCharacter(str(exc)[:200]) from None
            if log.target != "server" and _silent(exc):  # a site that stopped answering between ls and tail:
                log.answered(False)  # said; nothing delivered this poll, the next asks again (not the follow's end)
                return None
            raise
        return tail_window(text)

    async def head(count: int) -> bytes | None:  # the log's start: lines before a byte FLARE cannot pass
        return await fetch(count, "head")

    async def look() -> int | None:
        return await _size(backend, log)

    new = await catch_up(log.cursor, size, fetch, look, FROM_START if log.fresh or log.whole else lines, head)
    if new:
        on_lines(log.target, new)
    return new is not None


async def _drain(backend: LogBackend, logs: list[_TargetLog], lines: int, on_lines: LogLines,
                 before_run: bool = False) -> None:
    """After the final status: poll until every log stayed the same ``QUIET_POLLS`` times in a row
    (or was finished from the store), at most ``FINAL_GRACE`` seconds; then the unfinished last lines,
    and, for each log that could not be had (its workspace copy gone, the store without it), why."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FINAL_GRACE
    quiet = 0
    while True:
        changed = False
        for log in logs:
            changed |= await _poll(backend, log, lines, on_lines, True, before_run)
        quiet = 0 if changed else quiet + 1
        settled = quiet >= QUIET_POLLS and not any(log.lost for log in logs)
        if settled or all(log.done for log in logs) or loop.time() >= deadline:
            break
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))
    for log in logs:
        last = log.cursor.finish()
        if last:
            on_lines(log.target, last)
        if log.lost:
            what = "the rest of its log" if log.cursor.started else "its log"
            why = " (FLARE's server removes its own when the job ends)" if log.target == "server" else ""
            where = "it does not answer" if log.silent else f"no {log.path} in its workspace{why}"
            log.say(f"{what} could not be had: {where}, and {log.lost}")


async def follow_log(backend: LogBackend, job_id: str, target: str, lines: int,
                     on_lines: LogLines, resume: dict[str, Any] | None = None) -> LogStream:
    """Poll the job's logs on its targets; ``resume`` (an earlier stream's ``resume``: target ->
    ``LogCursor``) goes on where that stream's delivered logs ended."""
    meta = await backend.get_job_meta(job_id)
    full, name = meta["job_id"], meta.get("name") or meta.get("job_name") or ""
    targets, away = await _targets(backend, meta, target)
    cursors = {t: c for t, c in (resume or {}).items() if isinstance(c, LogCursor)}
    note = getattr(on_lines, "note", None)  # (``console.shell.log_printer.LogPrinter.note``)
    logs = [_TargetLog(t, f"{full}/log.txt", cursors.get(t) or LogCursor(), note) for t in targets]
    for log in logs:  # resumed (a dropped link) before the log was first seen: all of it is new to the follower
        log.whole = log.target in cursors and not log.cursor.started
    before_run = not is_final(meta.get("status")) and meta.get("status") != "RUNNING"
    for site in away if note is not None and resume is None else ():  # said once, not left out in silence
        note(site, f"is a site of job {full[:8]} but is not connected (check_status server lists the connected): "
                   "its log is not followed")
    watch = backend.poll.watch(full, POLL_SECONDS)

    async def run() -> None:
        final = is_final(meta.get("status"))
        try:
            while not final:
                for log in logs:
                    await _poll(backend, log, lines, on_lines, False, before_run)
                with contextlib.suppress(TimeoutError):
                    await within(watch.changed.wait(), POLL_SECONDS)
                watch.changed.clear()
                final = watch.meta is not None and is_final(watch.meta.get("status"))
            await _drain(backend, logs, lines, on_lines, before_run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the link dropped: the follower decides whether to follow again
            stream.error = exc
        finally:
            stream.done.set()

    async def close() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stream = LogStream(full, name, targets, close)
    stream.resume = {log.target: log.cursor for log in logs}
    task = asyncio.create_task(run())
    task.add_done_callback(lambda _t: backend.poll.unwatch(full, watch))
    return stream


async def _targets(backend: LogBackend, meta: dict[str, Any], target: str) -> tuple[list[str], list[str]]:
    """The targets whose logs a follow of ``target`` polls: "server", one site of the job, or "all" (the server
    and the job's sites connected now); and, for "all", the job's sites left out as not connected (said). A site
    of the job that FLARE's server does not list (never connected, or gone) is refused as a target, as FLARE's
    ``ls`` refuses it, rather than polled for ever in silence (flare10 item 15)."""
    named, every = deploy_map_sites(meta)
    connected = set(await backend.site_names())
    sites = sorted(named | connected if every else named)
    job = meta["job_id"][:8]
    if target == "all":
        return ["server", *(s for s in sites if s in connected)], [s for s in sites if s not in connected]
    if target == "server" or target in connected.intersection(sites):
        return [target], []
    listed = f"FLARE's server lists {', '.join(sorted(connected))}" if connected else "FLARE's server lists no site"
    if target in sites:
        raise errors.InvalidTarget(f"{target} is a site of job {job} but is not connected ({listed}), so it has no "
                                   f"log to follow; check_status server shows when it is, 'follow {job} server' "
                                   "follows the server's")
    raise errors.InvalidTarget(f"{target} is not a target of job {job}: 'server', 'all' or one of its sites "
                               f"({', '.join(sites) or 'none connected'})")


__all__ = ["COMMANDS", "follow_log"]
