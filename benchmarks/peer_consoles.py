"""FLARE's own admin console (``fl_admin.sh``) and ours, both in a pty, both on the same FLARE POC.

    python benchmarks/peer_consoles.py [--quick]     # prints the table (``make bench-peer`` writes it)

What a user waits for at a terminal: start to the first prompt (login included), a command's
round trip (Enter to the answer and the next prompt; the line is typed first, as a person
does, so per-keystroke work is not counted as waiting; both consoles open side by side, their
runs interleaved in pairs and compared by the median paired difference, ``paired.py``), and a job's final status written by
FLARE's server to the line showing it. FLARE's console has no monitor: its figure is
``list_jobs`` re-entered with no pause (a script, not a person: about a hundred requests a
second), the fastest that console can show a change; ours is ``monitor_job`` in the background
while the prompt stays free, with its default (adaptive) poll. FLARE's own monitoring facility,
FLARE API's ``Session.monitor_job`` at its default poll_interval (``peer_monitor.py``), is a
reference row. While each one follows the job, the requests FLARE's server gets are counted in
its ``audit.log`` (every admin command is a line there): the load the watching puts on it.
Our console runs from this checkout in FLARE's venv (FLARE backend), as a FLARE operator runs
it. pexpect's default 50 ms pause before each send is switched off.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pexpect
from nvflare_peer import NVFLARE_VERSION, PeerPoc, running_poc
from paired import paired
from peer_jobs import sag_job
from timing import finish_time

from console.poc.venv import core_requirements, ensure_flare_venv

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
DONE = "FINISHED:COMPLETED"
TYPED = 0.3  # seconds between typing a line and pressing Enter: the console has handled the keys
# The round-trip rows' pause: well past the 30 ms after the last key at which ours reads the line
# ahead (read_ahead.py), short enough for 100 paired runs per command in under a minute.
ROUND_TRIP_TYPED = 0.1
WARM_UP = 2  # pairs per command run first and not counted


@dataclass
class Console:
    """One console under test: how to start it and what its prompt looks like."""

    label: str
    command: str
    args: list[str]
    env: dict[str, str]
    prompt: re.Pattern[str]
    job_ref: Callable[[Path], str]  # how this console names a job folder in ``submit_job``

    def spawn(self) -> pexpect.spawn:
        child = pexpect.spawn(self.command, self.args, env=self.env, encoding="utf-8", timeout=120,
                              dimensions=(50, 220))
        child.delaybeforesend = None  # else every send waits 50 ms first
        return child

    def started(self) -> pexpect.spawn:
        child = self.spawn()
        child.expect(self.prompt)
        return child

    def run(self, child: pexpect.spawn, line: str, answer: str, typed: float = TYPED) -> float:
        """Seconds from Enter to the next prompt, with ``answer`` printed in between; Enter comes
        ``typed`` seconds after the line."""
        child.send(line)
        time.sleep(typed)
        start = time.perf_counter()
        child.send("\r")
        child.expect(answer)
        child.expect(self.prompt)
        return time.perf_counter() - start

    def leave(self, child: pexpect.spawn) -> None:
        child.sendline("bye")
        child.expect(pexpect.EOF, timeout=60)
        child.close()


def flare_console(poc: PeerPoc) -> Console:
    return Console(f"NVFlare {NVFLARE_VERSION} fl_admin.sh", "bash",
                   [str(poc.admin_kit / "startup" / "fl_admin.sh")], dict(poc.env), re.compile(r"\n> "),
                   lambda job: job.name)  # FLARE's console takes jobs from the kit's transfer folder


def our_console(poc: PeerPoc, python: Path, home: Path) -> Console:
    env = {k: v for k, v in poc.env.items() if k not in ("FLARE_KIT", "PAGER")}
    env.update(PYTHONPATH=str(REPO), NO_COLOR="1", TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1",
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))
    prompt = re.compile(re.escape(poc.admin) + ANSI + "(?: on |@)" + ANSI + r"\S+?" + ANSI + "> ")
    return Console("flare-console", str(python), ["-m", "console", "--kit", str(poc.admin_kit)], env, prompt,
                   str)


def first_prompt(console: Console) -> float:
    start = time.perf_counter()
    child = console.started()
    took = time.perf_counter() - start
    console.leave(child)
    return took


def submit(console: Console, child: pexpect.spawn, job: Path) -> str:
    child.sendline(f"submit_job {console.job_ref(job)}")
    child.expect(r"Submitted job: ")
    child.expect(JOB_ID)
    job_id = child.after
    child.expect(console.prompt)
    return job_id


def stored_meta(poc: PeerPoc, job_id: str) -> dict:
    return json.loads((poc.root / "poc" / "jobs-storage" / job_id / "meta").read_text())


def requests_per_second(poc: PeerPoc, began: float, ended: float) -> float:
    """Admin commands FLARE's server got per second from ``began`` to ``ended`` (its audit.log)."""
    count = 0
    for line in (poc.admin_kit.parent / "server" / "audit.log").read_text().splitlines():
        found = re.search(r"\[T:([0-9-]+ [0-9:.]+)\]", line)
        if found and began <= datetime.fromisoformat(found.group(1)).timestamp() <= ended:
            count += 1
    return count / (ended - began)


def status_latency(console: Console, poc: PeerPoc, job: Path, ours: bool) -> tuple[float, float]:
    """Seconds from the server writing the job's final status to this console printing it, and the
    requests per second FLARE's server got while the console followed the job."""
    child = console.started()
    try:
        job_id = submit(console, child, job)
        began = time.time()
        if ours:  # in the background: the prompt is back at once
            child.sendline(f"monitor_job {job_id}")
            child.expect(f"{job_id[:8]}.*?{DONE}", timeout=300)
            seen = time.time()
        else:
            deadline = time.monotonic() + 300
            while True:
                child.sendline("list_jobs")
                child.expect(console.prompt)
                if re.search(f"{job_id}[^\n]*{DONE}", child.before):
                    seen = time.time()  # the table holding it is printed; its prompt just followed
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{job_id} did not finish within 300 s")
        console.leave(child)
    finally:
        if child.isalive():
            child.terminate(force=True)
    return seen - finish_time(stored_meta(poc, job_id)), requests_per_second(poc, began, seen)


def flare_monitor(poc: PeerPoc, job: Path) -> tuple[float, float, float]:
    """FLARE API's ``Session.monitor_job`` at its default poll_interval: (latency, requests/s, poll_interval)."""
    done = subprocess.run([str(poc.python), str(HERE / "peer_monitor.py"), "--user", poc.admin, "--kit",
                           str(poc.admin_kit), "--job", str(job)], env={**poc.env, "PYTHONPATH": str(HERE)},
                          capture_output=True, text=True, timeout=400, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"FLARE's monitor_job run failed:\n{done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return got["latency"], requests_per_second(poc, got["began"], got["seen"]), got["poll_interval"]


#: (label, key, unit): unit "ms" for samples in seconds, "req/s" for rates.
ROWS = [
    ("start to first prompt (TLS login included)", "first_prompt", "ms"),
    ("`check_status server`, Enter to next prompt", "check_status", "ms"),
    ("`list_jobs`, Enter to next prompt", "list_jobs", "ms"),
    ("final status written -> line printed (FLARE: `list_jobs` re-entered, no pause; ours: monitor_job)",
     "status_latency", "ms"),
    ("  FLARE server requests per second meanwhile", "status_load", "req/s"),
    ("  the same, a job name never run before (no earlier run to expect its end from)", "first_latency", "ms"),
    ("  FLARE server requests per second meanwhile", "first_load", "req/s"),
    ("final status written -> seen (FLARE: FLARE API `Session.monitor_job`, default poll_interval; ours: "
     "monitor_job)", "monitor_latency", "ms"),
    ("  FLARE server requests per second meanwhile", "monitor_load", "req/s"),
]


def console_figures(repeats: dict[str, int], log=print) -> dict[str, dict[str, list[float]]]:
    """Samples (seconds) per console label and row key, both consoles on one FLARE POC."""
    python = ensure_flare_venv(core_requirements(), log=log)
    scratch = Path(tempfile.mkdtemp(prefix="bench-consoles-"))
    try:
        with running_poc(log=log) as poc:
            theirs, ours = flare_console(poc), our_console(poc, python, scratch)
            job = sag_job(poc.admin_kit / "transfer" / "hello-numpy-sag", 1, 0.0, name="hello-numpy-sag")
            figures: dict[str, dict[str, list[float]]] = {theirs.label: {}, ours.label: {}}
            for _ in range(repeats["starts"]):  # alternated: both see the same machine load
                for console in (theirs, ours):
                    figures[console.label].setdefault("first_prompt", []).append(first_prompt(console))
            # Both open at once, both jobs submitted before the first round trip (each list_jobs lists the
            # same jobs): both see the same server. Then per command A, B, B, A, ...: pair i is two runs
            # back to back, whose difference cancels most of what the machine's load does to both.
            began = time.monotonic()
            children = [(console, console.started()) for console in (theirs, ours)]
            job_ids = [submit(console, child, job) for console, child in children]
            for key, line, answers in (("check_status", "check_status server", ("site-2", "site-2")),
                                       ("list_jobs", "list_jobs", tuple(job_id[:8] for job_id in job_ids))):
                for run in range(-WARM_UP, repeats["round_trips"]):
                    order = list(zip(children, answers, strict=True))
                    for (console, child), answer in order if run % 2 == 0 else order[::-1]:
                        took = console.run(child, line, answer, typed=ROUND_TRIP_TYPED)
                        if run >= 0:  # the first runs warm both up (caches, a completion fetch at start)
                            figures[console.label].setdefault(key, []).append(took)
            for console, child in children:
                console.leave(child)
            log(f"round trips: {repeats['round_trips']} pairs per command in {time.monotonic() - began:.0f} s")
            for run in range(repeats["jobs"]):
                for console, key in ((theirs, False), (ours, True)):
                    latency, load = status_latency(console, poc, job, ours=key)
                    figures[console.label].setdefault("status_latency", []).append(latency)
                    figures[console.label].setdefault("status_load", []).append(load)
                    name = f"first-{'ours' if key else 'flare'}-{run}-{os.getpid()}"  # never run before
                    first = sag_job(poc.admin_kit / "transfer" / name, 1, 0.0, name=name)
                    latency, load = status_latency(console, poc, first, ours=key)
                    figures[console.label].setdefault("first_latency", []).append(latency)
                    figures[console.label].setdefault("first_load", []).append(load)
                latency, load, interval = flare_monitor(poc, job)
                figures[theirs.label].setdefault("monitor_latency", []).append(latency)
                figures[theirs.label].setdefault("monitor_load", []).append(load)
                figures[theirs.label]["poll_interval"] = [interval]
            # Ours follows a job one way: its monitor rows are the same runs.
            figures[ours.label]["monitor_latency"] = figures[ours.label]["status_latency"]
            figures[ours.label]["monitor_load"] = figures[ours.label]["status_load"]
            return figures
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


PAIRED = ("check_status", "list_jobs")  # rows run interleaved in pairs: medians at 0.1 ms, a paired verdict


def console_table(figures: dict[str, dict[str, list[float]]]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The table's header and rows; the paired rows' ratio column says "equal within the noise" when
    the 95% interval of the median paired difference (ours - theirs) holds 0, "ahead"/"behind" otherwise."""
    theirs, ours = list(figures)
    short = theirs.split()[0]
    header = ("measure", theirs, ours, f"{short} / ours", f"ours - {short}, median of paired runs (95% interval)",
              "runs")
    rows = []
    for label, key, unit in ROWS:
        a, b = statistics.median(figures[theirs][key]), statistics.median(figures[ours][key])
        if unit == "ms":
            a, b = a * 1000, b * 1000
        if key == "monitor_latency":
            label = label.replace("default poll_interval", f"default poll_interval {figures[theirs]['poll_interval'][0]:g} s")
        runs = str(max(len(figures[theirs][key]), len(figures[ours][key])))
        ratio = f"{a / b:.1f}x" if b else ""
        digits, difference = 0 if unit == "ms" else 1, ""
        if key in PAIRED:
            digits, runs = 1, f"{runs} each, interleaved"
            both = paired([x * 1000 for x in figures[theirs][key]], [x * 1000 for x in figures[ours][key]])
            ratio = f"{a / b:.2f}x: {both.verdict}"
            difference = f"{both.median:+.2f} ms ({both.low:+.2f} .. {both.high:+.2f})"
        rows.append((label, f"{a:.{digits}f} {unit}", f"{b:.{digits}f} {unit}", ratio, difference, runs))
    return header, rows


def print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))


REPEATS = {"starts": 5, "round_trips": 100, "jobs": 5}  # where between two checks a status lands is chance: 3 runs made a noisy median
QUICK = {"starts": 2, "round_trips": 10, "jobs": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    os.environ.pop("FLARE_KIT", None)
    header, rows = console_table(console_figures(QUICK if args.quick else REPEATS))
    print_rows(header, rows)


if __name__ == "__main__":
    main()
