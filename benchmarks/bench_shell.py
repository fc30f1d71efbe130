"""Console figures: start to first prompt (TLS login included), job-ID completion over
100,000 jobs per keystroke, and status change to a printed monitor line.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_shell.py``). Prints medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.flare_api import new_secure_session
from console.shell.completion import CompletionData, ShellCompleter

from common import (
    ADMIN,
    finish_time,
    make_project,
    median_ms,
    print_table,
    quick_job,
    running_server,
    scratch,
    timed,
)

CONSOLE = str(Path(sys.executable).parent / "flare-console")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(home / "c"), "XDG_DATA_HOME": str(home / "d"),
            "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}


def bench_start_to_prompt(admin_kit: Path, home: Path, repeat: int = 9) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        child = pexpect.spawn(CONSOLE, ["--kit", str(admin_kit)], env=_env(home), encoding="utf-8", timeout=30)
        child.expect_exact("> ")
        samples.append(time.perf_counter() - started)
        child.send("bye\r")
        child.expect(pexpect.EOF)
    return samples


def bench_completion(count: int = 100_000, repeat: int = 200) -> list[float]:
    data = CompletionData.from_rows(
        {"job_id": f"{i:08x}-1111-4222-8333-444455556666", "job_name": f"job-{i % 500}", "status": "SUBMITTED"}
        for i in range(count)
    )
    completer = ShellCompleter(lambda: data)
    words = [f"get_job_meta {i:05x}" for i in range(0, count, count // repeat)]

    def keystroke(text: str) -> None:
        list(completer.get_completions(Document(text, len(text)), CompleteEvent()))

    samples = []
    for text in words:
        samples += timed(lambda t=text: keystroke(t), 1)
    samples += timed(lambda: keystroke("get_job_meta job-42"), 20)
    return samples


def bench_monitor_line(admin_kit: Path, home: Path, quick: Path, repeat: int = 7) -> list[float]:
    """Server writes RUNNING → the batch console prints the line (JSON records carry print time)."""
    samples = []
    with new_secure_session(ADMIN, str(admin_kit)) as sess:
        for _ in range(repeat):
            job_id = sess.submit_job(str(quick))
            out = subprocess.run([CONSOLE, "--kit", str(admin_kit), "--format", "json", "-c",
                                  f"monitor_job {job_id} --interval 60"], capture_output=True, text=True,
                                 env=_env(home), timeout=60)
            meta = sess.get_job_meta(job_id)
            records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"event"')]
            finished = finish_time(meta)
            final = [r for r in records if r["status"].startswith("FINISHED:")]
            if final:
                samples.append(max(final[0]["time"] - finished, 0.0))
    return samples


def main() -> None:
    rows = []
    with scratch() as tmp:
        prod = make_project(tmp)
        admin_kit = prod / ADMIN
        quick = quick_job(tmp, 2, 0.3)
        with running_server(prod):
            start = bench_start_to_prompt(admin_kit, tmp)
            rows.append(("shell start to first prompt (TLS login incl.)", f"{median_ms(start):.0f} ms", "<= 300 ms",
                         str(len(start))))
            line = bench_monitor_line(admin_kit, tmp, quick)
            rows.append(("status change -> printed monitor line", f"{median_ms(line):.1f} ms", "<= 50 ms",
                         str(len(line))))
    completion = bench_completion()
    rows.append(("job-ID completion, 100,000 jobs, per keystroke", f"{median_ms(completion):.3f} ms", "<= 10 ms",
                 str(len(completion))))
    rows.append(("  worst keystroke of those", f"{max(completion) * 1000:.3f} ms", "",
                 f"p90 {statistics.quantiles(completion, n=10)[-1] * 1000:.3f} ms"))
    print_table("flare-console shell (loopback, medians)", rows)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
