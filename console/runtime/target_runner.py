"""Runs a confined target command for an async host (the server, a site) without stalling it.

ls, cat, head, tail and pwd are bounded by the file system and run in a worker thread. grep runs
a pattern that came from the network, and Python's ``re`` has no time limit: a pathological
pattern (``\\(a\\+\\)\\+$``, or ``-E "(a+)+$"``) could hold a thread for hours and, a few at a time,
starve the host's thread pool. So grep runs in a child process (``python -m console.runtime.target_runner``) that
is killed after ``GREP_SECONDS`` (and cannot use more CPU than that: its own RLIMIT_CPU); the
user is told why. At most ``MAX_GREPS`` such children run at once in a process (the server, a
site), and at most ``MAX_GREPS_PER_USER`` of one user's (the admin's name: a site has it from the
server), so one user's pathological patterns keep every other admin's grep out no longer
(security tester, session 10, item 7): a further grep waits up to ``GREP_QUEUE_SECONDS`` for one
to end, then is refused, so 64 pathological patterns cannot take every core (issue 16).

It must not touch anything but the command: arguments go to the child as JSON on stdin, the
answer comes back as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import sys
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from console.answer_deadline import answer_budget, seconds_left
from console.runtime.adoption import spawn
from console.runtime.target_commands import KIT_FOLDERS, TargetCommandError, read_job_log, run_target_command
from console.within import within

GREP_SECONDS = 10.0
#: grep children running at once per process; the machines we run on may have two cores.
MAX_GREPS = 2
#: ... and of one user's at once, so that one user's greps never keep another's out (two users
#: can: the limit is per identity; docs/security.md).
MAX_GREPS_PER_USER = 1
#: How long a grep waits for a running one to end before it is refused.
GREP_QUEUE_SECONDS = 5.0


class _GrepSlots:
    """The process's grep slots, and each user's (a semaphore while someone holds or waits for it)."""

    def __init__(self) -> None:
        self.free = asyncio.Semaphore(MAX_GREPS)
        self.users: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}


#: One set of slots per event loop (a host has one; tests run several, one after another).
_slots_of: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _GrepSlots] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _grep_slot(user: str, queue_seconds: float = GREP_QUEUE_SECONDS) -> AsyncIterator[None]:
    """Holds one of ``user``'s slots and one of the process's for the block; TargetCommandError when
    none came free within ``queue_seconds``."""
    loop = asyncio.get_running_loop()
    slots = _slots_of.setdefault(loop, _GrepSlots())
    deadline = loop.time() + queue_seconds
    own, waiting = slots.users.setdefault(user, (asyncio.Semaphore(MAX_GREPS_PER_USER), [0]))
    waiting[0] += 1
    try:
        try:
            await within(own.acquire(), queue_seconds)
        except TimeoutError:
            raise TargetCommandError(f"grep: too many searches running for {user or 'you'} (limit "
                                     f"{MAX_GREPS_PER_USER} per user at once); wait for yours to end") from None
        try:
            try:  # what is left of the wait (never nothing: a free slot is taken at once)
                await within(slots.free.acquire(), max(0.1, deadline - loop.time()))
            except TimeoutError:
                raise TargetCommandError(f"grep: too many searches running (limit {MAX_GREPS} at once); "
                                         "try again in a moment") from None
            try:
                yield
            finally:
                slots.free.release()
        finally:
            own.release()
    finally:
        waiting[0] -= 1
        if not waiting[0]:
            del slots.users[user]


async def run_confined(root: Path, command: str, options: str | None, path: str | None,
                       pattern: str | None, grep_seconds: float = GREP_SECONDS,
                       protected: tuple[str, ...] = KIT_FOLDERS, user: str = "",
                       answer_within: float | None = None) -> str | None:
    """The command's output; TargetCommandError if refused or if grep ran past its time. ``user``:
    whose command it is (the admin's name), for grep's per-user slots. ``answer_within``: seconds the
    asker waits for the answer (the server's wait for a site); grep's queue and run then fit in
    ``console.answer_deadline.answer_budget`` of it, counted from the request's arrival (and never exceed ``GREP_QUEUE_SECONDS``, ``grep_seconds``).

    ``log`` is get_job_logs' reader (``options``: the tail line count, ``pattern``: plain text to
    find); it answers None when the log does not exist.
    """
    if command == "log":
        tail = options.strip() if options else ""
        if tail and not (tail.isascii() and tail.isdigit()):
            raise TargetCommandError(f"get_job_logs: tail_lines must be a whole number >= 0, not {tail!r}")
        return await asyncio.to_thread(read_job_log, root, path or "", int(tail) if tail else None, pattern,
                                       protected=protected)
    if command != "grep":
        return await asyncio.to_thread(run_target_command, root, command, options, path, pattern,
                                       protected=protected)
    loop = asyncio.get_running_loop()
    budget = grep_seconds + GREP_QUEUE_SECONDS if answer_within is None else answer_budget(answer_within)
    # What the request already spent waiting for its large-answer slot counts too (console.answer_deadline).
    budget = seconds_left(budget) if answer_within is not None else budget
    deadline = loop.time() + budget
    async with _grep_slot(user, min(GREP_QUEUE_SECONDS, budget / 2)):
        return await _grep_child(root, path, options, pattern, grep_seconds, deadline, protected)


async def _grep_child(root: Path, path: str | None, options: str | None, pattern: str | None,
                      grep_seconds: float, deadline: float, protected: tuple[str, ...]) -> str | None:
    """Runs the search for at most ``grep_seconds``, and stops it at ``deadline`` (the loop's time)
    if that comes first: counted after the child started, as starting one on a loaded machine takes
    a while too."""
    request = json.dumps({"root": str(root), "command": "grep", "options": options, "path": path,
                          "pattern": pattern, "protected": list(protected),
                          "cpu_seconds": math.ceil(grep_seconds) + 1}).encode()
    child = await spawn(
        sys.executable, "-m", "console.runtime.target_runner", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    grep_seconds = min(grep_seconds, max(0.1, deadline - asyncio.get_running_loop().time()))
    try:
        out, _ = await within(child.communicate(request), grep_seconds)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise TargetCommandError(f"grep: the pattern ran longer than {grep_seconds:.2g} s and was stopped; "
                                 "simplify it, or use -F to search for plain text") from None
    except BaseException:  # the request was cancelled (its connection closed): the search goes too
        if child.returncode is None:
            child.kill()
        raise
    try:
        answer = json.loads(out)
    except ValueError:
        raise TargetCommandError(f"grep: the search failed (exit code {child.returncode})") from None
    if "error" in answer:
        raise TargetCommandError(answer["error"])
    return answer["output"]


def main() -> int:
    args = json.loads(sys.stdin.buffer.read())
    if args.get("cpu_seconds"):  # past it the kernel ends the search, should the host's kill not come
        seconds, (_, hard) = int(args["cpu_seconds"]), resource.getrlimit(resource.RLIMIT_CPU)
        if hard == resource.RLIM_INFINITY or hard > seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1 if hard == resource.RLIM_INFINITY
                                                     else min(hard, seconds + 1)))
    try:
        output = run_target_command(Path(args["root"]), args["command"], args["options"], args["path"],
                                    args["pattern"], protected=tuple(args["protected"]))
    except TargetCommandError as exc:
        json.dump({"error": str(exc)}, sys.stdout)
    else:
        json.dump({"output": output}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
