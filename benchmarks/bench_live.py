"""Live-view figures: event to screen in ``top``, and the log lines per second ``follow`` carries
while typing stays quick.

Both run the installed console in a real pty and read what it draws through a terminal
emulator (pyte), as a user would see it:

- top: another admin session aborts a queued job; the time from that call to the job's
  row showing FINISHED:ABORTED on top's screen (the abort's round trip, the server's push,
  the redraw and the pty included). Target 100 ms or less.
- follow: the server's log of a running job grows at a set rate (lines appended to it);
  the console follows it (``follow JOB -n 0``) while a key is typed (and erased) every 50 ms. For
  each rate: the lines per second that reached the screen, and the median and p90 time
  from a keystroke to its echo on the prompt line.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_live.py``). Prints medians.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pexpect
import pyte

from console.flare_api import new_secure_session

from common import ADMIN, make_project, median_ms, print_table, quick_job, running_server, scratch

CONSOLE = str(Path(sys.executable).parent / "flare-console")
ROWS, COLS = 50, 200


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(home / "c"), "XDG_DATA_HOME": str(home / "d"),
            "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}


class Terminal:
    """The console in a pty, its output run through pyte."""

    def __init__(self, admin_kit: Path, home: Path) -> None:
        self.child = pexpect.spawn(CONSOLE, ["--kit", str(admin_kit)], env=_env(home), encoding="utf-8",
                                   timeout=30, dimensions=(ROWS, COLS))
        self.child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.fed: list[str] = []  # everything read, in chunks (for counting streamed lines)

    def pump(self, wait: float = 0.0, screen: bool = True) -> None:
        """Read what the console wrote; ``screen`` False skips the emulator (only ``fed`` grows):
        the follow figures must measure the console, not pyte parsing every line in Python."""
        while True:
            try:
                data = self.child.read_nonblocking(1 << 16, timeout=wait)
            except pexpect.TIMEOUT:
                return
            if screen:
                self.stream.feed(data)
            self.fed.append(data)
            wait = 0.0

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> float:
        """Seconds until ``pattern`` is on the screen (polled every millisecond)."""
        started = time.perf_counter()
        while not re.search(pattern, self.text()):
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"{pattern!r} not on the screen:\n{self.text()}")
            self.pump(0.001)
        return time.perf_counter() - started

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def queued_job(root: Path) -> Path:
    """A job for sites that never connect: it stays SUBMITTED until aborted."""
    folder = quick_job(root, 1, 0.1)
    (folder / "meta.json").write_text(json.dumps({"name": "queued", "deploy_map": {"app": ["server", "site-9"]},
                                                  "min_clients": 1}))
    (folder / "app" / "config" / "config_fed_client.json").write_text(json.dumps({"executor": "x:y"}))
    return folder


def bench_top(admin_kit: Path, home: Path, queued: Path, repeat: int = 15) -> list[float]:
    term = Terminal(admin_kit, home)
    samples = []
    try:
        term.wait_for(r"> ")
        term.child.send("top\r")
        term.wait_for(r"flare-console top")
        with new_secure_session(ADMIN, str(admin_kit)) as sess:
            for _ in range(repeat):
                job_id = sess.submit_job(str(queued))
                term.wait_for(rf"{job_id[:8]} +queued +SUBMITTED")
                started = time.perf_counter()
                sess.abort_job(job_id)
                term.wait_for(rf"{job_id[:8]} +queued +FINISHED:ABORTED")
                samples.append(time.perf_counter() - started)
        term.child.send("q")
        term.wait_for(r"(?m)on server> *$")
    finally:
        term.close()
    return samples


def _grow_log(path: Path, rate: int, seconds: float, stop: threading.Event) -> int:
    """Append ``rate`` lines a second to ``path`` for ``seconds``; how many were written."""
    written, started = 0, time.perf_counter()
    with open(path, "a", buffering=1 << 16) as f:
        while not stop.is_set():
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
            due = int(rate * elapsed) - written
            if due > 0:
                f.write("".join(f"bench line {written + i} {'x' * 60}\n" for i in range(due)))
                f.flush()
                written += due
            time.sleep(0.005)
    return written


def _record(result: list[int], path: Path, rate: int, seconds: float, stop: threading.Event) -> None:
    result.append(_grow_log(path, rate, seconds, stop))


def bench_follow(admin_kit: Path, server_dir: Path, home: Path, long_job: Path,
                 rates: tuple[int, ...] = (0, 1_000, 10_000, 50_000), seconds: float = 3.0) -> list[tuple[int, float,
                                                                                                       list[float]]]:
    """Per rate: (rate, lines per second on the screen, keystroke-to-echo samples)."""
    results = []
    with new_secure_session(ADMIN, str(admin_kit)) as sess:
        for rate in rates:
            job_id = sess.submit_job(str(long_job))
            deadline = time.monotonic() + 30
            while sess.get_job_meta(job_id)["status"] != "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.05)
            term = Terminal(admin_kit, home)
            try:
                term.child.expect_exact("> ")
                term.child.send(f"follow {job_id} -n 0\r")
                term.child.expect_exact("in the background")
                term.fed = []
                stop = threading.Event()
                result: list[int] = []
                writer = threading.Thread(target=_record, args=(result, server_dir / job_id / "log.txt", rate,
                                                                seconds, stop))
                began = time.perf_counter()
                writer.start()
                keys = []
                while writer.is_alive():
                    # One character on an empty line, then Backspace: any later 'q' (or 'z') in the output
                    # is this keystroke's echo, whether drawn alone or in a redrawn prompt.
                    key = "qz"[len(keys) % 2]
                    since, sent = len(term.fed), time.perf_counter()
                    term.child.send(key)
                    _wait_echo(term, key, since)
                    keys.append(time.perf_counter() - sent)
                    term.child.send("\x7f")
                    time.sleep(0.05)
                writer.join()
                last = result[0] - 1 if result and result[0] else -1
                if last >= 0:
                    tail_deadline = time.perf_counter() + 30
                    while time.perf_counter() < tail_deadline:
                        term.pump(0.05, screen=False)
                        if f"bench line {last} " in "".join(term.fed[-20:]):
                            break
                spent = time.perf_counter() - began
                carried = len(re.findall(r"\[server\] bench line \d+ ", "".join(term.fed)))
                results.append((rate, carried / spent if rate else 0.0, keys))
            finally:
                term.close()
                sess.abort_job(job_id)
    return results


def _wait_echo(term: Terminal, typed: str, since: int) -> None:
    """Until the typed character shows: the raw output after ``since`` holds it (neither the
    prompt, the log lines nor their prefix hold a 'q' or a 'z')."""
    deadline = time.perf_counter() + 60
    while typed not in "".join(term.fed[since:]):
        if time.perf_counter() > deadline:
            raise RuntimeError("the keystroke never showed")
        term.pump(0.001, screen=False)


def main() -> None:
    rows = []
    with scratch() as tmp:
        prod = make_project(tmp)
        admin_kit = prod / ADMIN
        with running_server(prod):
            top = bench_top(admin_kit, tmp, queued_job(tmp))
            rows.append(("top: status change -> row redrawn on screen", f"{median_ms(top):.1f} ms", "<= 100 ms",
                         str(len(top))))
            long_job = quick_job(tmp, 1, 120.0)
            for rate, carried, keys in bench_follow(admin_kit, prod / "server", tmp, long_job):
                p90 = statistics.quantiles(keys, n=10)[-1] * 1000 if len(keys) >= 2 else keys[0] * 1000
                what = f"follow at {rate:,} lines/s written" if rate else "typing, nothing followed streaming"
                rows.append((f"{what}: keystroke -> echo", f"{median_ms(keys):.1f} ms", f"p90 {p90:.1f} ms",
                             str(len(keys))))
                if rate:
                    rows.append((f"  lines/s on the screen (of {rate:,} written)", f"{carried:,.0f}", "",
                                 "1"))
    print_table("flare-console live views (loopback, pty, medians)", rows)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
