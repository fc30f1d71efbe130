"""``make bench-peer``: the same FLARE API operations against NVIDIA FLARE 2.9 and flare-console, one run.

Both systems run on this machine in turn (server + 2 sites on loopback), driven by the same
script (``peer_measure.py``) in each one's own interpreter, with the same job folder (FLARE's
hello-numpy-sag). Prints a table with both columns and the ratio and writes ``docs/benchmarks.md``;
then the two consoles, FLARE's ``fl_admin.sh`` and ours on FLARE's POC, in a pty
(``peer_consoles.py``), a second table in the same file; then the conformance comparison
(``conformance.py``), which writes ``docs/compatibility.md``.

Memory is the resident set (RSS) of every process of the system under test: server, sites and the
job processes they start, found by a marker in their environment. ``--quick`` runs fewer repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench_models import write_section
from nvflare_peer import MARKER_VAR, NVFLARE_VERSION, PeerPoc, marked_pids, running_poc
from peer_concurrent import CONCURRENT_TITLE, concurrent_intro, concurrent_table
from peer_concurrent import measure as concurrent_figures
from peer_consoles import QUICK, REPEATS, console_figures, console_table, print_rows
from peer_jobs import add_payload, sag_job

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "peer_measure.py"
REPORT = HERE.parent / "docs" / "benchmarks.md"
NVFLARE_BIG_LISTING = 10_000  # 100,000 stored jobs takes FLARE's file store too long to fill and list


@dataclass
class Row:
    label: str
    key: str
    unit: str  # "ms", "s" or "MiB"
    target: str = ""


ROWS = [
    Row("import the FLARE API module", "import", "ms"),
    Row("login (new_secure_session, TLS + login)", "login", "ms", "<= 300 ms"),
    Row("list_jobs round trip", "list_jobs", "ms", "<= 1 ms"),
    Row("get_job_meta round trip", "get_job_meta", "ms", "<= 1 ms"),
    Row("submit_job, small job (hello-numpy-sag, 4 KB)", "submit_small", "ms"),
    Row("submit_job, 100 MB job", "submit_big", "ms"),
    Row("final status written -> monitor_job callback", "monitor_latency", "ms", "<= 50 ms"),
    Row("hello-numpy-sag (2 sites, 3 rounds) submit -> monitor_job returns", "hello_numpy", "s", "<= 5 s"),
    Row("list_jobs(), 1,000 stored jobs", "list_1k_all", "ms"),
    Row("list_jobs(limit=50), 1,000 stored jobs", "list_1k_50", "ms"),
    Row("list_jobs(), 10,000 stored jobs", "list_10k_all", "ms"),
    Row("list_jobs(limit=50), 10,000 stored jobs", "list_10k_50", "ms"),
    Row("list_jobs(), 100,000 stored jobs", "list_100k_all", "ms"),
    Row("list_jobs(limit=50), 100,000 stored jobs", "list_100k_50", "ms"),
    Row("memory, idle (server + 2 sites)", "memory_idle", "MiB"),
    Row("memory, peak while the jobs above ran", "memory_peak", "MiB"),
]


def rss_mib(pids: list[int]) -> float:
    total_kib = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


@contextmanager
def peak_memory(marker: str) -> Iterator[list[float]]:
    """Samples the marked processes' total RSS every 0.2 s; the list holds the peak when the block ends."""
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mib(marked_pids(marker)))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


@dataclass
class Target:
    """One system under test, as the measuring script reaches it."""

    api: str
    python: str
    user: str
    kit: Path
    marker: str
    env: dict[str, str]


def measure(target: Target, phase: str, out: Path, extra: list[str]) -> dict[str, list[float]]:
    done = subprocess.run([target.python, str(MEASURE), "--api", target.api, "--user", target.user, "--kit",
                           str(target.kit), "--phase", phase, "--out", str(out), *extra], env=target.env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {target.api} ({phase}) failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def run_system(target: Target, jobs: dict[str, Path], scratch: Path, repeats: dict[str, int], fill,
               listings: list[int]) -> dict[str, object]:
    figures: dict[str, object] = {"memory_idle": [rss_mib(marked_pids(target.marker))]}
    args = ["--job", str(jobs["sag"]), "--idle-job", str(jobs["idle"]), "--big-job", str(jobs["big"]),
            *[f"--{k}={v}" for k, v in repeats.items()]]
    with peak_memory(target.marker) as peak:
        figures.update(measure(target, "main", scratch / f"{target.api}-main.json", args))
    figures["memory_peak"] = [peak[0]]
    for count in listings:
        fill(count)
        listed = measure(target, "list", scratch / f"{target.api}-list-{count}.json",
                         [f"--round-trips={repeats['round-trips'] // 10 or 3}"])
        tag = {1_000: "1k", 10_000: "10k", 100_000: "100k"}[count]
        figures[f"list_{tag}_all"] = listed["list_jobs_all"]
        figures[f"list_{tag}_50"] = listed["list_jobs_50"]
    return figures


def fill_nvflare_store(poc: PeerPoc, total: int) -> None:
    """Copy a finished job in FLARE's file job store until it holds ``total`` jobs (as a long-lived server)."""
    storage = poc.root / "poc" / "jobs-storage"
    jobs = [d for d in storage.iterdir() if (d / "meta").is_file()]
    source = next(d for d in jobs if json.loads((d / "meta").read_text()).get("status") == "FINISHED:COMPLETED")
    meta = json.loads((source / "meta").read_text())
    for i in range(total - len(jobs)):
        job_id = str(uuid.uuid4())
        folder = storage / job_id
        folder.mkdir()
        for part in source.iterdir():
            if part.name != "meta":
                os.link(part, folder / part.name)
        (folder / "meta").write_text(json.dumps({**meta, "job_id": job_id, "name": f"bulk-{i % 97}"}))


def nvflare_figures(jobs: dict[str, Path], scratch: Path, repeats: dict[str, int]) -> dict[str, object]:
    with running_poc() as poc:
        target = Target("nvflare", str(poc.python), poc.admin, poc.admin_kit, poc.marker,
                        {k: v for k, v in poc.env.items() if k != MARKER_VAR})
        return run_system(target, jobs, scratch, repeats, lambda n: fill_nvflare_store(poc, n),
                          [1_000, NVFLARE_BIG_LISTING])


def ours_figures(jobs: dict[str, Path], scratch: Path, repeats: dict[str, int]) -> dict[str, object]:
    from bench_api import fill_store

    from common import ADMIN, make_project, running_server

    marker = uuid.uuid4().hex
    prod = make_project(scratch)
    os.environ[MARKER_VAR] = marker  # inherited by the server, the sites and their job processes
    try:
        with running_server(prod, ("site-1", "site-2")):
            env = {k: v for k, v in os.environ.items() if k != MARKER_VAR}
            target = Target("console", sys.executable, ADMIN, prod / ADMIN, marker, env)

            def fill(total: int) -> None:
                with sqlite3.connect(prod / "server" / "store" / "jobs.db") as db:
                    stored = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
                fill_store(prod / "server", total - stored)

            return run_system(target, jobs, scratch, repeats, fill, [1_000, 10_000, 100_000])
    finally:
        os.environ.pop(MARKER_VAR, None)


def _median(samples: object, unit: str) -> float | None:
    if not samples:
        return None
    value = statistics.median(samples)  # type: ignore[arg-type]
    return value * 1000 if unit == "ms" else value


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not run"
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def table(theirs: dict[str, object], ours: dict[str, object]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for row in ROWS:
        their, mine = _median(theirs.get(row.key), row.unit), _median(ours.get(row.key), row.unit)
        ratio = f"{their / mine:.0f}x" if their and mine and their / mine >= 10 else \
            f"{their / mine:.1f}x" if their and mine else ""
        runs = max(len(theirs.get(row.key) or []), len(ours.get(row.key) or []))  # type: ignore[arg-type]
        rows.append((row.label, _fmt(their, row.unit), _fmt(mine, row.unit), ratio, row.target, str(runs)))
    return rows


HEADER = ("measure", f"NVFlare {NVFLARE_VERSION}", "flare-console", "NVFlare / ours", "target (ours)", "runs")


def print_table(rows: list[tuple[str, ...]]) -> None:
    print_rows(HEADER, rows)


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *["| " + " | ".join(r) + " |" for r in rows]]


def write_report(rows: list[tuple[str, ...]], seconds: float, quick: bool) -> None:
    lines = [
        f"# flare-console and NVIDIA FLARE {NVFLARE_VERSION}, side by side",
        "",
        "Generated by `make bench-peer` (`benchmarks/bench_peer.py`): do not edit by hand.",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}; run on {time.strftime('%Y-%m-%d')}, {seconds / 60:.0f} min in all"
        f"{' (--quick: fewer repeats)' if quick else ''}.",
        "",
        "Each system runs a server and 2 sites on loopback (NVFlare: its POC mode, started by",
        "`benchmarks/nvflare_peer.py`), one after the other, and the same script",
        "(`benchmarks/peer_measure.py`) drives it through its own FLARE API with the same job folder",
        "(FLARE's hello-numpy-sag, `examples/hello-numpy-sag`). Figures are medians of the runs shown.",
        "",
        "- Round trips are timed on one open session; login opens and closes a new one each time.",
        "- `submit_job` sends a job whose `min_clients` (3) exceeds the sites, so it waits; it is then",
        "  deleted. The 100 MB job carries 100 MB of random bytes in `app/custom/`.",
        "- Monitor latency: from the final status the server wrote (its `start_time` + `duration`) to",
        "  the `monitor_job` callback seeing it, with `poll_interval=0.5`. FLARE polls; ours is pushed.",
        "- Stored jobs are copies of a finished job put straight into each store (FLARE's file store,",
        "  our SQLite). NVFlare is listed up to 10,000 jobs: filling and listing 100,000 in its file",
        "  store takes longer than this benchmark allows.",
        "- Memory: resident set of every process of the system (server, sites, job processes).",
        "",
        *markdown_table(HEADER, rows),
    ]
    # Sections other benchmarks put after this table (bench_models.py, the consoles) stay.
    old = REPORT.read_text() if REPORT.is_file() else ""
    kept = old[old.index("<!-- bench_models"):] if "<!-- bench_models" in old else ""
    REPORT.write_text("\n".join(lines) + "\n" + (f"\n{kept}" if kept else ""))


CONSOLES_TITLE = "The consoles: FLARE's `fl_admin.sh` and flare-console on one FLARE POC"


def consoles_intro(seconds: float, quick: bool) -> list[str]:
    return [
        f"Written by `make bench-peer` (`benchmarks/peer_consoles.py`; `make bench-consoles` alone) on "
        f"{time.strftime('%Y-%m-%d')}, {seconds / 60:.0f} min{' (--quick: fewer repeats)' if quick else ''}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[1]:.1f} over the last 5 min (other work shares "
        "this machine).",
        "",
        "Both consoles in a pty (pexpect, no pause before sends), on the same NVFlare POC (server + 2 sites),",
        "ours run from this checkout in NVFlare's venv with its FLARE backend. Medians of the runs shown,",
        "the two consoles alternated so both see the same machine load.",
        "",
        "- Start to first prompt: process start, TLS, FLARE's login, the prompt drawn.",
        "- Round trips: the line is typed, 0.1 s later Enter, and the time from Enter to its answer and the",
        "  next prompt. Both consoles stay open side by side; per command the runs are interleaved in pairs",
        "  (FLARE's then ours, ours then FLARE's, ...; 2 pairs first as a warm-up, not counted), so the two",
        "  runs of a pair see the same machine load. Medians at 0.1 ms; the next column is the median of the",
        "  paired differences (ours - FLARE's) with a distribution-free 95% interval from order statistics",
        "  (the k-th smallest and k-th largest difference, k from the binomial(n, 1/2) tail,",
        "  `benchmarks/paired.py`; no resampling). The ratio column says \"equal within the noise\" when",
        "  that interval holds 0, \"ahead\" when it lies below 0 (ours takes less time), \"behind\" above.",
        "  The interval is one run's noise; between runs (fresh consoles, a new POC) the paired medians moved:",
        "  -0.19 to +0.19 ms in two runs at ordinary load, -0.9 and -1.8 ms in one during a load spike (load",
        "  average near 600, real-time priority notwithstanding), so a verdict by a few tenths of a ms is one run's.",
        "- Final status -> line: from the final status the server wrote (`start_time` + `duration`) to the",
        "  console printing it. FLARE's console has no monitor: its figure is `list_jobs` re-entered by a",
        "  script with no pause at all. Ours is `monitor_job` in the background while the prompt stays free:",
        "  one shared poll, paced per job (`console/backends/nvflare_pace.py`): every 0.05 s just after the",
        "  watch starts or the status changes, slowing to every 0.5 s; while the job runs every other check",
        "  reads FLARE's `show_stats JOB server`, every 0.2 s once the workflow is done; once the job's",
        "  process has ended, `get_job_meta` and `check_status client` alternate every 0.1 s, and once at",
        "  most one site still runs the job `get_job_meta` goes back to back until the final status. The",
        "  first-run row uses a job name never run before; the other rows repeat one name. The reference row",
        "  is FLARE's own monitoring facility, FLARE API's `Session.monitor_job` with its default poll_interval.",
        "- Requests per second: admin commands in FLARE's server `audit.log` while the job was followed",
        "  (ours includes its completion refresh every 10 s); FLARE's server spends about 5 ms of CPU on each",
        "  `get_job_meta`, `list_jobs` or `show_stats`.",
        "",
        "Where a round trip goes (timestamps on the console's threads and in the pexpect reader, FLARE 2.9",
        "POC, 2 cores shared): FLARE's call takes 6.5-8 ms in a bare script, most of it client CPU inside",
        "FLARE (signature checks, a thread per reply). Around it, on a machine where every thread waits for a",
        "core: Enter's own key handler sends the request (`console/shell/eager.py`: the request leaves 0.1 ms",
        "after the handler starts; prompt_toolkit's key look-up no longer walks the layout twice per key,",
        "`key_lookup.py`); the loop then waits, the GIL released, until FLARE's worker thread has started the",
        "call (it started 0.64 ms late while the loop put the prompt away, `nvflare_worker.py`); the answer is",
        "shown by that worker as it arrives, with the next prompt's line, in one write (`early.py`), rather",
        "than handed back to the loop first; and prompt_toolkit's drawing of the prompt (toolbar included,",
        "about 1 ms of CPU) waits 5 ms, so that the terminal, another process on the same cores, takes the",
        "answer first (`prompt_line.py`): the reader saw the answer up to 4 ms late while that drawing ran.",
        "",
        "What was done about the round trips (2026-11-30, second pass). Timestamps on both consoles' threads",
        "and in the pexpect reader, both consoles interleaved on one POC with every process at one real-time",
        "priority, showed where ours was behind: Enter to FLARE's call (0.64-0.70 ms against 0.37), FLARE's",
        "call itself (0.2 ms longer in ours: the prompt was erased and the line echoed, Python and a write",
        "waking the terminal, while the call was out) and printing. Now the line is read while it is typed",
        "(`read_ahead.py`: its command, its parse, the answer's Arrival and the echoed line are made 30 ms",
        "after the last key, used at Enter for that very text); FLARE's worker is our own thread woken",
        "through a SimpleQueue (hand-over 50-57 -> 25-29 us, `nvflare_worker.py`); the prompt's erasing and",
        "the echoed line wait in the output's buffer and go out with the answer in the worker's one write",
        "(`early.py`): FLARE's call is as long as in `fl_admin.sh` (6.95 vs 6.93 ms, 60 interleaved); the",
        "loop stays still 0.5 ms once the answer is written, so that the terminal reads it before",
        "prompt_toolkit handles Enter (written -> read 0.41-0.45 -> 0.12-0.16 ms); a table of 45 jobs",
        "renders in 140 us (was 600: cells and lines kept, `visible` no longer searching every multi-line",
        "answer, `human.py`, `safe_text.py`). Interleaved, 100 runs each, medians, main before this pass /",
        "this pass / `fl_admin.sh`: `check_status server` 8.46 / 8.02 / 8.05 ms, `list_jobs` of 45 jobs",
        "14.99 / 14.37 / 14.46 ms; of 3 jobs (80 runs) 8.84 / 8.36 / 7.85 ms, and 8.15 against 8.17 in another",
        "run (60, traced): within the runs' spread, not ahead. Still longer in ours: Enter to FLARE's call, 0.53-0.59 ms against 0.36",
        "(prompt_toolkit's key read and the wake-up of FLARE's worker thread, about 0.1 ms in the console);",
        "shorter: the answer and the next prompt reach the terminal in one write. The monitor's final line,",
        "20 jobs each, interleaved, on a loaded machine (load 7-17): ours 7.2 ms, `fl_admin.sh` re-entering",
        "`list_jobs` 12.8 ms, with a quarter of its requests (21 vs 74 a second); the 5-job rows below move",
        "by a few ms from run to run.",
        "",
        "Third pass (2026-11-30, `list_jobs` of 3 jobs). The loop is held from the hand-over to FLARE's worker",
        "and puts the prompt away only once FLARE's request is on its way (`Arrival.handed_over`, `ON_THE_WIRE`",
        "in `early.py`): woken as the worker started, it took the GIL back while FLARE's Python prepared the",
        "request. Timestamps, interleaved runs at one real-time priority: Enter to FLARE's request at its socket",
        "thread 2.05 -> 1.70 ms (60 runs), then 1.50 -> 1.41 (40 runs; `fl_admin.sh` 1.27). The same answer again",
        "is written as it was rendered (`shown_last.py`): FLARE's call returned -> answer written 0.36 -> 0.20 ms.",
        "End to end, Enter to the next prompt, three rounds of fresh consoles, 240 interleaved runs each at load",
        "13-22, medians, main / this pass / `fl_admin.sh`: `list_jobs` 9.73 / 9.73 / 9.71 ms, `check_status",
        "server` 8.30 / 8.29 / 8.26 (median paired differences to `fl_admin.sh` within +-0.2 ms); single rounds of",
        "300 gave this pass 0.23 ms ahead of `fl_admin.sh` in one and 0.22 behind in another: level, not ahead",
        "beyond what separates two runs. Still longer in ours: Enter to FLARE's call (0.55-0.75 ms against 0.37:",
        "prompt_toolkit's read of the key, our way to the hand-over and the worker's wake-up); shorter: the",
        "answer and the next prompt in one write.",
        *([] if not _real_time() else [
            "",
            "The run below was made with every process of the benchmark at one real-time priority",
            f"(`chrt -r {os.sched_getparam(0).sched_priority}`), so that other work on this shared machine does not decide.",
        ]),
    ]


def _real_time() -> bool:
    """Whether this benchmark runs at a real-time priority (its consoles and the POC inherit it)."""
    try:
        return os.sched_getscheduler(0) in (os.SCHED_RR, os.SCHED_FIFO)
    except (AttributeError, OSError):  # (not Linux)
        return False


def run_consoles(quick: bool) -> None:
    began = time.monotonic()
    header, rows = console_table(console_figures(QUICK if quick else REPEATS))
    print()
    print_rows(header, rows)
    write_section("consoles", CONSOLES_TITLE, consoles_intro(time.monotonic() - began, quick), header, rows)
    began = time.monotonic()
    with running_poc() as poc:
        header, rows = concurrent_table(concurrent_figures(poc, [1, 2, 4], 1 if quick else 3))
    print()
    print_rows(header, rows)
    write_section("concurrent", CONCURRENT_TITLE, concurrent_intro(time.monotonic() - began, quick), header, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--no-conformance", action="store_true", help="skip the conformance comparison")
    parser.add_argument("--consoles-only", action="store_true",
                        help="only the consoles' table (replaces that section of docs/benchmarks.md)")
    args = parser.parse_args()
    if args.consoles_only:
        run_consoles(args.quick)
        print(f"\nwritten: {REPORT}")
        return 0
    repeats = {"logins": 5, "jobs": 3, "round-trips": 100, "submits": 5, "big-submits": 3}
    if args.quick:
        repeats = {"logins": 2, "jobs": 1, "round-trips": 20, "submits": 2, "big-submits": 1}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        scratch = Path(tmp)
        jobs = {"sag": sag_job(scratch / "sag", 3, 0.0, name="hello-numpy-sag"),
                "idle": _unschedulable(sag_job(scratch / "idle", name="idle"))}
        jobs["big"] = add_payload(_unschedulable(sag_job(scratch / "big", name="big")), 100)
        (scratch / "ours").mkdir()
        (scratch / "nvflare").mkdir()
        ours = ours_figures(jobs, scratch / "ours", repeats)
        theirs = nvflare_figures(jobs, scratch / "nvflare", repeats)
    rows = table(theirs, ours)
    print_table(rows)
    write_report(rows, time.monotonic() - began, args.quick)
    run_consoles(args.quick)
    print(f"\nwritten: {REPORT}")
    if args.no_conformance:
        return 0
    return subprocess.call([sys.executable, str(HERE / "conformance.py")], cwd=HERE)


def _unschedulable(job: Path) -> Path:
    meta = json.loads((job / "meta.json").read_text())
    (job / "meta.json").write_text(json.dumps({**meta, "min_clients": 3}))
    return job


if __name__ == "__main__":
    sys.exit(main())
