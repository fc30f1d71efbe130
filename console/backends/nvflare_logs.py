"""``follow`` on NVIDIA FLARE: a job's log polled with FLARE's own shell commands, by size.

FLARE pushes nothing, and its ``get_job_logs`` returns a whole log. So each target (the
server or a site) is polled with ``ls -l <job_id>/log.txt`` (its size) and, only when the
size changed, ``tail -c N``: where that window continues what was delivered is found by
``console.backends.log_window`` (by position, not by guessing: each line exactly once, in
order, also when the log grew during the calls; a window that cuts a multi-byte character,
which FLARE's shell fails to decode, is asked again a byte larger). Polls ride on FLARE's one
worker thread with every other call, ``POLL_SECONDS`` apart. The stream is done once the
job's status is final and then ``QUIET_POLLS`` polls in a row found nothing new (FLARE's
processes write their last lines after the status); a log FLARE removed with the job's
workspace is finished from FLARE's log store (``get_job_logs``), once, when it holds what
was delivered. The cursors (``FlareFollow.cursors``) outlive a dropped connection: following
again resumes where the delivered log ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, Protocol

from console.api import errors
from console.api.async_session import is_final
from console.backends.base import LogLines, LogStream
from console.backends.log_window import CutCharacter, LogCursor, catch_up
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_poll import FlareCalls, JobPoll

#: Seconds between two polls of a followed log (each poll: one ``ls -l`` per target).
POLL_SECONDS = 1.0
#: Seconds a follow goes on polling after the job's status turned final: FLARE marks a job done
#: before its processes write their last lines ("MPM: Good Bye!"), so the end of a log comes later.
FINAL_GRACE = 10.0
#: Polls in a row that found nothing new, after the final status, before the follow ends.
QUIET_POLLS = 2

_LS_SIZE = re.compile(r"^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s", re.MULTILINE)


class LogBackend(FlareCalls, Protocol):
    """What following a log on FLARE uses of the backend (``console.backends.nvflare.FlareBackend``):
    its calls, its job poll (a log's follow ends with its job) and what it knows of jobs and sites."""

    @property
    def poll(self) -> JobPoll: ...

    async def get_job_meta(self, job_id: str) -> dict[str, Any]: ...

    async def site_names(self) -> list[str]: ...


class _TargetLog:
    def __init__(self, target: str, path: str, cursor: LogCursor) -> None:
        self.target = target
        self.path = path
        self.cursor = cursor
        self.done = False  # finished from FLARE's log store: nothing more will come


#: What ``tail`` itself prints, merged into FLARE's reply, when the log is gone (not log text).
_TAIL_ERROR = re.compile(r"\Atail: .*(No such file or directory|cannot open)")
#: FLARE's reply when its shell could not decode tail's output (``subprocess.run(text=True)``,
#: strict UTF-8): a site answers with the error as text, the server fails the call; secure mode
#: names only the exception's class.
_UNDECODED = re.compile(r"\A\s*(exception_occurred|Exception Occurred):.{0,60}UnicodeDecodeError", re.DOTALL)


def tail_window(reply: str | None) -> bytes | None:
    """FLARE's answer to ``tail -c N`` as the window's bytes; None when the log is gone. Raises
    CutCharacter when FLARE could not decode the window: ``-c`` cut a multi-byte character."""
    text = reply or ""
    if _UNDECODED.match(text):
        raise CutCharacter(text[:200])
    return None if _TAIL_ERROR.match(text) else text.encode("utf-8", "replace")


def is_cut_character(exc: Exception) -> bool:
    """Whether a failed ``tail -c`` call is FLARE's server failing to decode the window."""
    return "UnicodeDecodeError" in str(exc)


async def _size(backend: LogBackend, log: _TargetLog) -> int | None:
    try:
        listing = await backend.call(lambda s, a: s.ls_target(a["target"], "-l", a["path"]),
                                     {"target": log.target, "path": log.path}, what="follow")
    except (errors.NoConnection, errors.SessionClosed):
        raise
    except Exception:  # no log there (yet): the job has not started on that target
        return None
    match = _LS_SIZE.search(listing or "")
    return int(match.group(1)) if match else None


async def _poll(backend: LogBackend, log: _TargetLog, lines: int, on_lines: LogLines, final: bool) -> bool:
    """Deliver what is new in one target's log; whether anything was (a grown log counts)."""
    if log.done:
        return False
    size = await _size(backend, log)
    if size is None and final and log.cursor.started:
        # FLARE removes a job's workspace when it ends: the rest of the log is in its log store,
        # read once (get_job_logs) and placed after what was delivered.
        with contextlib.suppress(errors.JobNotFound, errors.InvalidArgumentError, errors.InternalError):
            stored = await backend.call(COMMANDS["get_job_logs"], {"job_id": log.path.split("/")[0],
                                                                    "target": log.target}, what="follow")
            text = (stored.get("logs") or {}).get(log.target) if isinstance(stored, dict) else None
            if isinstance(text, str) and text:
                log.done = True
                new = log.cursor.place_stored(text)
                if new:
                    on_lines(log.target, new)
                return bool(new)
    if size is None or (log.cursor.started and size == log.cursor.size):
        if size is not None:
            log.cursor.settle(size)
        return False

    async def fetch(count: int) -> bytes | None:
        try:
            text = await backend.call(lambda s, a: s.tail_target(a["target"], f"-c {a['count']}", a["path"]),
                                      {"target": log.target, "path": log.path, "count": count}, what="follow")
        except (errors.NoConnection, errors.SessionClosed):
            raise
        except Exception as exc:
            if is_cut_character(exc):  # asked again a byte larger by catch_up: the follow goes on
                raise CutCharacter(str(exc)[:200]) from None
            raise
        return tail_window(text)

    async def look() -> int | None:
        return await _size(backend, log)

    new = await catch_up(log.cursor, size, fetch, look, lines)
    if new:
        on_lines(log.target, new)
    return new is not None


async def _drain(backend: LogBackend, logs: list[_TargetLog], lines: int, on_lines: LogLines) -> None:
    """After the final status: poll until every log stayed the same ``QUIET_POLLS`` times in a row
    (or was finished from the store), at most ``FINAL_GRACE`` seconds; then the unfinished last lines."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FINAL_GRACE
    quiet = 0
    while True:
        changed = False
        for log in logs:
            changed |= await _poll(backend, log, lines, on_lines, True)
        quiet = 0 if changed else quiet + 1
        if quiet >= QUIET_POLLS or all(log.done for log in logs) or loop.time() >= deadline:
            break
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))
    for log in logs:
        last = log.cursor.finish()
        if last:
            on_lines(log.target, last)


async def follow_log(backend: LogBackend, job_id: str, target: str, lines: int,
                     on_lines: LogLines, resume: dict[str, Any] | None = None) -> LogStream:
    """Poll the job's logs on its targets; ``resume`` (an earlier stream's ``resume``: target ->
    ``LogCursor``) goes on where that stream's delivered logs ended."""
    meta = await backend.get_job_meta(job_id)
    full, name = meta["job_id"], meta.get("name") or meta.get("job_name") or ""
    sites = await _job_sites(backend, meta)
    if target == "all":
        targets = ["server", *sites]
    elif target == "server" or target in sites:
        targets = [target]
    else:
        raise errors.InvalidTarget(f"{target} is not a target of job {full[:8]}: 'server', 'all' or one of "
                                   f"its sites ({', '.join(sites)})")
    cursors = {t: c for t, c in (resume or {}).items() if isinstance(c, LogCursor)}
    logs = [_TargetLog(t, f"{full}/log.txt", cursors.get(t) or LogCursor()) for t in targets]
    watch = backend.poll.watch(full, POLL_SECONDS)

    async def run() -> None:
        final = is_final(meta.get("status"))
        try:
            while not final:
                for log in logs:
                    await _poll(backend, log, lines, on_lines, False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watch.changed.wait(), POLL_SECONDS)
                watch.changed.clear()
                final = watch.meta is not None and is_final(watch.meta.get("status"))
            await _drain(backend, logs, lines, on_lines)
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


async def _job_sites(backend: LogBackend, meta: dict[str, Any]) -> list[str]:
    deploy_map = meta.get("deploy_map") or {}
    named: set[str] = set()
    every = False
    for targets in (deploy_map.values() if isinstance(deploy_map, dict) else []):
        for t in targets if isinstance(targets, list) else []:
            if isinstance(t, str) and t.upper() == "@ALL":
                every = True
            elif isinstance(t, str) and t != "server":
                named.add(t)
    if every:
        named |= set(await backend.site_names())
    return sorted(named)


__all__ = ["COMMANDS", "follow_log"]
