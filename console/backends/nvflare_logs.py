"""``follow`` on NVIDIA FLARE: a job's log polled with FLARE's own shell commands, by size.

FLARE pushes nothing, and its ``get_job_logs`` returns a whole log. So each target (the
server or a site) is polled with ``ls -l <job_id>/log.txt`` (its size) and, only when the
size changed, ``tail -c <new bytes + overlap>``: the overlap with the end of what was
already delivered tells where the new text starts, also when the log grew between the two
calls. Polls ride on FLARE's one worker thread with every other call, ``POLL_SECONDS``
apart. The stream is done once the job's status is final and then ``QUIET_POLLS`` polls in a
row found nothing new (FLARE's processes write their last lines after the status); a log
FLARE removed with the job's workspace is finished from FLARE's log store (``get_job_logs``),
once, placed after the overlap like any poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

from console.api import errors
from console.api.async_session import is_final
from console.backends.base import LogLines, LogStream
from console.backends.nvflare_commands import COMMANDS

if TYPE_CHECKING:
    from console.backends.nvflare import FlareBackend

#: Seconds between two polls of a followed log (each poll: one ``ls -l`` per target).
POLL_SECONDS = 1.0
#: Characters of the delivered log kept to find where new text starts.
OVERLAP = 2048
#: Characters of ``OVERLAP`` that must match for new text to be placed after them.
MIN_MATCH = 200
#: At most this many characters per poll and target (FLARE's replies are whole strings).
MAX_FETCH = 1 << 20
#: Seconds a follow goes on polling after the job's status turned final: FLARE marks a job done
#: before its processes write their last lines ("MPM: Good Bye!"), so the end of a log comes later.
FINAL_GRACE = 10.0
#: Polls in a row that found nothing new, after the final status, before the follow ends.
QUIET_POLLS = 2

_LS_SIZE = re.compile(r"^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s", re.MULTILINE)


class _TargetLog:
    def __init__(self, target: str, path: str) -> None:
        self.target = target
        self.path = path
        self.size = -1  # unknown yet: the first poll delivers the backlog
        self.seen = ""  # the end of what was delivered (OVERLAP characters)
        self.partial = ""
        self.done = False  # finished from FLARE's log store: nothing more will come

    def take(self, text: str, final: bool = False) -> list[str]:
        """New complete lines of ``text`` (the log's end) past what was seen."""
        new, missed = (text, False) if not (self.seen and text) else _after(self.seen, text)
        if missed:  # the unfinished line before the gap ends there
            self.partial += "\n[... some log lines were missed: the log grew faster than it was polled ...]\n"
        if not new and not final:
            return []
        self.seen = (self.seen + new)[-OVERLAP:]
        data = self.partial + new
        cut = data.rfind("\n") + 1
        self.partial = data[cut:]
        lines = data[:cut].splitlines()
        if final and self.partial:
            lines.append(self.partial)
            self.partial = ""
        return lines


def _after(seen: str, text: str) -> tuple[str, bool]:
    """What ``text`` (the end of the log now) has past ``seen`` (the end of what was delivered).

    The window may start before the end of ``seen`` (it contains all of it) or, when the log
    grew between the size check and the fetch, inside it (it starts with a tail of it)."""
    at = text.rfind(seen)
    if at >= 0:
        return text[at + len(seen):], False
    for start in range(1, len(seen) - MIN_MATCH + 1):
        if text.startswith(seen[start:]):
            return text[len(seen) - start:], False
    return text, True


async def _size(backend: FlareBackend, log: _TargetLog) -> int | None:
    try:
        listing = await backend.call(lambda s, a: s.ls_target(a["target"], "-l", a["path"]),
                                     {"target": log.target, "path": log.path})
    except (errors.NoConnection, errors.SessionClosed):
        raise
    except Exception:  # no log there (yet): the job has not started on that target
        return None
    match = _LS_SIZE.search(listing or "")
    return int(match.group(1)) if match else None


async def _poll(backend: FlareBackend, log: _TargetLog, lines: int, on_lines: LogLines, final: bool) -> bool:
    """Deliver what is new in one target's log; whether anything was (a grown log counts)."""
    if log.done:
        return False
    size = await _size(backend, log)
    if size is None and final and log.size >= 0:
        # FLARE removes a job's workspace when it ends: the rest of the log is in its log store,
        # read once (get_job_logs) and placed after what was delivered.
        with contextlib.suppress(errors.JobNotFound, errors.InvalidArgumentError, errors.InternalError):
            stored = await backend.call(COMMANDS["get_job_logs"], {"job_id": log.path.split("/")[0],
                                                                    "target": log.target})
            text = (stored.get("logs") or {}).get(log.target) if isinstance(stored, dict) else None
            if isinstance(text, str) and text:
                log.done = True
                new = log.take(text[-MAX_FETCH:], final=True)
                if new:
                    on_lines(log.target, new)
                return bool(new)
    if size is None or size == log.size:
        return False
    if log.size < 0 and lines <= 0:  # the first look, nothing wanted from before: only mark the end
        log.size = size
        log.seen = await backend.call(lambda s, a: s.tail_target(a["target"], f"-c {OVERLAP}", a["path"]),
                                      {"target": log.target, "path": log.path}) or ""
        return True
    if log.size < 0:  # the first look: the last ``lines`` lines
        fetch = f"-n {lines}"
    else:
        grown = size - log.size if size > log.size else size  # a shrunk log was rewritten: read it anew
        fetch = f"-c {min(grown + len(log.seen.encode()), MAX_FETCH)}"
    log.size = size
    text = await backend.call(lambda s, a: s.tail_target(a["target"], a["fetch"], a["path"]),
                              {"target": log.target, "path": log.path, "fetch": fetch})
    new = log.take(text or "", final)
    if new:
        on_lines(log.target, new)
    return True


async def _drain(backend: FlareBackend, logs: list[_TargetLog], lines: int, on_lines: LogLines) -> None:
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
        if log.partial:
            on_lines(log.target, log.take("", final=True))


async def follow_log(backend: FlareBackend, job_id: str, target: str, lines: int,
                     on_lines: LogLines) -> LogStream:
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
    logs = [_TargetLog(t, f"{full}/log.txt") for t in targets]
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
    task = asyncio.create_task(run())
    task.add_done_callback(lambda _t: backend.poll.unwatch(full, watch))
    return stream


async def _job_sites(backend: FlareBackend, meta: dict[str, Any]) -> list[str]:
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
