"""A process that hops (each generation: ``setsid``, ``fork``, exit, no sleep) does not outlive its job.

Security tester, session 11, item 3: the sweeps killed what one ``/proc`` snapshot showed, and a
hopper's next generation, born after the snapshot, outlived the pass (3 times of 3 under load). Every
sweep now stops what it finds and looks again until nothing new shows, then kills
(``console.runtime.stop_then_kill``).

Whether a hopper still lives is not told by a scan of ``/proc`` (it can miss the generation in
transit, as the sweeps did): the hopper's first generation takes a shared ``flock`` on a file and
every later one inherits it, so the lock is free only once the last generation is gone."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from console.runtime import children
from console.runtime.adoption import SWEEP_INTERVAL_SECONDS, SWEEP_SECONDS
from console.runtime.stop_then_kill import stop_then_kill

from conftest import Federation, wait_until
from jobs import numpy_job

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sweeps are Linux's")

# argv: the lock file, then a token (in every generation's command line, for the tests' count).
HOPPER = """
import fcntl, os, sys
held = open(sys.argv[1], "a")
fcntl.flock(held, fcntl.LOCK_SH)
open(sys.argv[1] + ".ready", "w").close()
stop = sys.argv[1] + ".stop"
while not os.path.exists(stop):
    if os.fork():
        os._exit(0)
    os.setsid()
"""

TRAINER = '''
import subprocess, sys, time
from console.runtime.contract import TaskResult

HOPPER = {hopper!r}


def train(model, ctx):
    lock = {folder!r} + "/" + ctx.site_name + ".lock"
    subprocess.Popen([sys.executable, "-c", HOPPER, lock, {token!r}], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not __import__("os").path.exists(lock + ".ready"):
        if time.monotonic() > deadline:
            raise RuntimeError("the hopper did not start")
        time.sleep(0.02)
    return TaskResult({{k: v + 1 for k, v in model.items()}})
'''


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _reapers() -> list[int]:
    """Where this test's orphans can go: PID 1 and every ancestor of the test (one may be a subreaper)."""
    found, pid = [1], os.getppid()
    while pid > 1:
        found.append(pid)
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        pid = int(stat[stat.rfind(b")") + 2:].split()[1])
    return found


def _hoppers(token: str, reapers: list[int]) -> Callable[[], list[int]]:
    """A look for the hopper's generations: the children of ``reapers`` (a hopper's generation is its
    reaper's child from the instant its parent exits) holding ``token``, with all below them. Read from
    the kernel's children lists, each other process's command line read once (a scan of every
    ``/proc/PID`` is too slow to see a generation)."""
    others: set[int] = set()

    def look() -> list[int]:
        found = []
        for reaper in reapers:
            for pid in children.children(reaper) or []:
                if pid in others:
                    continue
                text = _cmdline(pid)
                if token.encode() in text:
                    found += [pid, *(children.below(pid) or [])]
                elif text:  # not one that was gone before it was read
                    others.add(pid)
        return found

    return look


def _held(lock: Path) -> bool:
    """Whether a generation of the hopper that took ``lock`` still lives."""
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def _survivors(token: str, reapers: list[int]) -> int:
    """The test's own count of the hopper's processes: the most of 50 looks (a look may miss a
    generation in transit; 50 in a row do not)."""
    look = _hoppers(token, reapers)
    return max(len(look()) for _ in range(50))


def _end(token: str, reapers: list[int], locks: list[Path]) -> None:
    """Whatever the test's hopper left (a failed test) ends: each generation looks for its lock's
    ``.stop`` file before it forks, so a hopper the sweeps missed cannot outlive the test and load
    the rest of the run (one did, burning a core for the rest of a CI run); then stopped and killed
    as the sweeps do, for a generation stopped and not killed."""
    for lock in locks:
        Path(f"{lock}.stop").touch()
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not any(_held(lock) for lock in locks if lock.exists()), 10, "the hoppers to end")
    stop_then_kill(_hoppers(token, reapers), 10)


# A job process's end, alone: a subreaper (as every job process is) starts a hopper, then ends what
# is below it (console.runtime.child's end_now). argv: the lock file, the token.
ENDING = """
import os, subprocess, sys, time
from console.runtime.adoption import become_subreaper, end_descendants
assert become_subreaper()
subprocess.Popen([sys.executable, "-c", {hopper!r}, *sys.argv[1:]], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1] + ".ready"):
    assert time.monotonic() < deadline, "the hopper did not start"
    time.sleep(0.02)
time.sleep(0.2)  # hopping
print(end_descendants(5))
"""


@pytest.mark.timeout(60)
def test_a_job_process_ending_ends_a_hopper_below_it(tmp_path: Path) -> None:
    """The end of a job process (``end_descendants``), on a hopper below a subreaper of the test's own:
    one call ends every generation."""
    token, lock = uuid.uuid4().hex, tmp_path / "hop.lock"
    reapers = [*_reapers(), os.getpid()]
    try:
        ending = subprocess.run([sys.executable, "-c", ENDING.format(hopper=HOPPER), str(lock), token],
                                capture_output=True, text=True, timeout=40, cwd=Path(__file__).parents[1])
        assert ending.returncode == 0, ending.stderr
        assert int(ending.stdout) >= 1, ending.stdout
        wait_until(lambda: not _held(lock), 5, "the last generation to be gone")
        assert _survivors(token, reapers) == 0
    finally:
        _end(token, reapers, [lock])


@pytest.mark.timeout(90)
def test_a_hopper_job_code_started_does_not_outlive_the_job(fed: Federation, tmp_path: Path) -> None:
    """Each site's trainer starts a hopper and returns; the job completes. Within the usual bound
    (the end-of-job sweeps, then one periodic sweep) no generation is left: the locks are free and
    the test's count of processes with the token is 0."""
    token = uuid.uuid4().hex
    # The sites' daemons (this test's children) are their jobs' subreapers.
    reapers = [*_reapers(), os.getpid(), *(children.children(os.getpid()) or [])]
    folder = tmp_path / "locks"
    folder.mkdir()
    job = numpy_job(tmp_path, name="hopper", rounds=1)
    (job / "app" / "custom" / "trainer.py").write_text(TRAINER.format(hopper=HOPPER, folder=str(folder),
                                                                      token=token))
    try:
        job_id = fed.session.submit_job(str(job))
        meta = fed.session.wait_for_job(job_id, timeout=60, poll_interval=0.2)
        assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
        locks = sorted(folder.glob("*.lock"))
        assert [lock.name for lock in locks] == ["site-1.lock", "site-2.lock"]
        bound = SWEEP_SECONDS + SWEEP_INTERVAL_SECONDS + 4  # generous: CI is loaded
        deadline = time.monotonic() + bound
        while (alive := [lock.name for lock in locks if _held(lock)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"a hopper outlived its job by {bound:g} s: {alive}"
        assert _survivors(token, reapers) == 0
    finally:
        _end(token, reapers, [folder / "site-1.lock", folder / "site-2.lock"])
