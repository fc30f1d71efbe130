"""Runs a confined target command for an async host (the server, a site) without stalling it.

ls, cat, head, tail and pwd are bounded by the file system and run in a worker thread. grep runs
a pattern that came from the network, and Python's ``re`` has no time limit: a pathological
pattern (``(a+)+$``) could hold a thread for hours and, a few at a time, starve the host's
thread pool. So grep runs in a child process (``python -m console.runtime.target_runner``) that
is killed after ``GREP_SECONDS``; the user is told why. At most ``MAX_GREPS`` such children run
at once in a process (the server, a site): a further grep waits up to ``GREP_QUEUE_SECONDS`` for
one to end, then is refused, so 64 pathological patterns cannot take every core (issue 16).

It must not touch anything but the command: arguments go to the child as JSON on stdin, the
answer comes back as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from console.runtime.adoption import spawn
from console.runtime.target_commands import KIT_FOLDERS, TargetCommandError, read_job_log, run_target_command

GREP_SECONDS = 10.0
#: grep children running at once per process; the machines we run on may have two cores.
MAX_GREPS = 2
#: How long a grep waits for a running one to end before it is refused.
GREP_QUEUE_SECONDS = 5.0

_grep_slots: asyncio.Semaphore | None = None


def _slots() -> asyncio.Semaphore:
    global _grep_slots
    if _grep_slots is None:
        _grep_slots = asyncio.Semaphore(MAX_GREPS)
    return _grep_slots


async def run_confined(root: Path, command: str, options: str | None, path: str | None,
                       pattern: str | None, grep_seconds: float = GREP_SECONDS,
                       protected: tuple[str, ...] = KIT_FOLDERS) -> str | None:
    """The command's output; TargetCommandError if refused or if grep ran past its time.

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
    slots = _slots()
    try:
        await asyncio.wait_for(slots.acquire(), GREP_QUEUE_SECONDS)
    except TimeoutError:
        raise TargetCommandError(f"grep: too many searches running (limit {MAX_GREPS} at once); "
                                 "try again in a moment") from None
    try:
        return await _grep_child(root, path, options, pattern, grep_seconds, protected)
    finally:
        slots.release()


async def _grep_child(root: Path, path: str | None, options: str | None, pattern: str | None,
                      grep_seconds: float, protected: tuple[str, ...]) -> str | None:
    request = json.dumps({"root": str(root), "command": "grep", "options": options, "path": path,
                          "pattern": pattern, "protected": list(protected)}).encode()
    child = await spawn(
        sys.executable, "-m", "console.runtime.target_runner", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(child.communicate(request), grep_seconds)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise TargetCommandError(f"grep: the pattern ran longer than {grep_seconds:g} s and was stopped; "
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
