"""Console figures: start to first prompt (TLS login included), keystroke to completion menu
drawn over 100,000 jobs (p50, p99), and status change to a printed monitor line.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_shell.py``). Prints medians.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pexpect
from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
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


def _hundred_thousand_jobs(count: int = 100_000) -> CompletionData:
    now = time.time()
    return CompletionData.from_rows(
        {"job_id": str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)), "job_name": f"bulk-{i % 97}",
         "status": "FINISHED:COMPLETED", "submit_time": now - count + i}
        for i in range(count)
    )


def bench_completion(data: CompletionData, repeat: int = 200) -> list[float]:
    """The completer alone (no drawing): one keystroke's worth of job-ID matching."""
    completer = ShellCompleter(lambda: data)
    ids = sorted(data.jobs)
    words = [f"get_job_meta {ids[i][:4]}" for i in range(0, len(ids), len(ids) // repeat)]

    def keystroke(text: str) -> None:
        list(completer.get_completions(Document(text, len(text)), CompleteEvent()))

    samples = []
    for text in words:
        samples += timed(lambda t=text: keystroke(t), 1)
    samples += timed(lambda: keystroke("get_job_meta bulk-42"), 20)
    return samples


def bench_keystroke_to_menu(data: CompletionData, jobs: int = 60) -> tuple[list[float], list[float]]:
    """A key typed -> the completion menu for the new text drawn, in the shell's own prompt (completion
    while typing, highlighting, auto-suggestion, a real VT100 renderer into /dev/null, 40x160).

    Types job-ID prefixes (5 keys) and a name prefix of jobs picked at random, as a person would.
    Returns wall-clock seconds and this process's CPU seconds per keystroke: on a shared machine
    the CPU time is the work itself, the wall time includes waiting for a core.
    """
    from prompt_toolkit.data_structures import Size
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output.vt100 import Vt100_Output

    from console.shell.app import InteractiveShell  # noqa: F401  (the shell's modules, as loaded in use)
    from console.shell.keys import build_key_bindings
    from console.shell.lexer import CommandLexer

    ids = random.Random(7).sample(sorted(data.jobs), jobs)
    samples: list[float] = []
    cpu: list[float] = []

    async def run() -> None:
        sink = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the session)
        with create_pipe_input() as pipe:
            session = PromptSession(
                input=pipe, output=Vt100_Output(sink, lambda: Size(rows=40, columns=160), term="xterm-256color"),
                completer=ShellCompleter(lambda: data), complete_while_typing=True, lexer=CommandLexer(),
                auto_suggest=AutoSuggestFromHistory(), key_bindings=build_key_bindings(),
                bottom_toolbar="toolbar")
            drawn = asyncio.Event()
            session.app.after_render += lambda app: drawn.set()

            async def until_menu(text: str) -> None:
                buffer = session.default_buffer
                while True:
                    await drawn.wait()
                    drawn.clear()
                    state = buffer.complete_state
                    if buffer.text == text and state is not None and state.original_document.text == text:
                        return

            prompt = asyncio.create_task(session.prompt_async("admin@example.com on server> "))
            await asyncio.sleep(0.2)
            for job_id in ids:
                text = "get_job_meta "
                pipe.send_text(text)
                await asyncio.sleep(0.05)
                for key in [*job_id[:5]]:
                    text += key
                    started, started_cpu = time.perf_counter(), time.process_time()
                    pipe.send_text(key)
                    await until_menu(text)
                    samples.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
                pipe.send_text("\x15")  # Ctrl-U: clear the line for the next job
                await asyncio.sleep(0.02)
            for word in ("bulk-4", "bulk-96"):
                text = "abort_job "
                pipe.send_text(text)
                await asyncio.sleep(0.05)
                for key in word:
                    text += key
                    started, started_cpu = time.perf_counter(), time.process_time()
                    pipe.send_text(key)
                    await until_menu(text)
                    samples.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
                pipe.send_text("\x15")
                await asyncio.sleep(0.02)
            prompt.cancel()
            await asyncio.gather(prompt, return_exceptions=True)

    asyncio.run(run())
    return samples, cpu


def percentile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


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
    data = _hundred_thousand_jobs()
    menu, cpu = bench_keystroke_to_menu(data)
    rows.append(("keystroke -> completion menu drawn, 100,000 jobs: p50", f"{percentile_ms(menu, 0.5):.2f} ms",
                 "", str(len(menu))))
    rows.append(("  p99", f"{percentile_ms(menu, 0.99):.2f} ms", "<= 10 ms", str(len(menu))))
    rows.append(("  CPU time per keystroke: p50", f"{percentile_ms(cpu, 0.5):.2f} ms", "", "(the work alone,"))
    rows.append(("  CPU time per keystroke: p99", f"{percentile_ms(cpu, 0.99):.2f} ms", "<= 10 ms", "no waiting)"))
    completion = bench_completion(data)
    rows.append(("job-ID matching alone, 100,000 jobs, per keystroke", f"{median_ms(completion):.3f} ms", "",
                 f"p99 {percentile_ms(completion, 0.99):.3f} ms"))
    print_table("flare-console shell (loopback, medians)", rows)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
