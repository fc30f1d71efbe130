"""Several admins at once on one FLARE POC: N batches started together, ours and FLARE's ``fl_admin.sh``.

    python benchmarks/peer_concurrent.py [--counts 1 2 4] [--repeats 3]

Each batch logs in, runs ``list_jobs -m 2`` and leaves: ours as ``python -m console --kit KIT -c ...``
(FLARE backend, from this checkout in FLARE's venv), FLARE's as ``fl_admin.sh`` with the same
command and ``bye`` on its stdin. N of one console are started at the same moment; a figure is
the wall time of one batch, start to exit (login included), median over every batch of every
repeat. Measured with the POC idle and again while a job runs (hello-numpy-sag, slow rounds),
where FLARE's server is busiest. Prints a table of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from nvflare_peer import NVFLARE_VERSION, PeerPoc, running_poc
from peer_jobs import sag_job

REPO = Path(__file__).resolve().parent.parent
COMMAND = "list_jobs -m 2"


def _ours(poc: PeerPoc, home: Path, checkout: Path = REPO) -> tuple[list[str], dict[str, str], str | None]:
    env = {k: v for k, v in poc.env.items() if k not in ("FLARE_KIT", "PAGER")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled once (the warm-up run), not at every start
    env.update(PYTHONPATH=str(checkout), NO_COLOR="1", HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"))
    return [str(poc.python), "-m", "console", "--kit", str(poc.admin_kit), "-c", COMMAND], env, None


def _flares(poc: PeerPoc, home: Path) -> tuple[list[str], dict[str, str], str | None]:
    return ["bash", str(poc.admin_kit / "startup" / "fl_admin.sh")], dict(poc.env), f"{COMMAND}\nbye\n"


def at_once(argv: list[str], env: dict[str, str], stdin: str | None, count: int) -> list[float]:
    """Wall seconds from the common start to each of ``count`` copies of ``argv`` ending (its own end);
    a batch that fails raises."""
    start = time.perf_counter()
    children = [subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
                for _ in range(count)]
    ends: dict[int, float] = {}
    try:
        for child in children:
            if stdin:
                child.stdin.write(stdin)  # type: ignore[union-attr]
                child.stdin.close()  # type: ignore[union-attr]
        deadline = start + 300
        while len(ends) < count and time.perf_counter() < deadline:
            for i, child in enumerate(children):
                if i not in ends and child.poll() is not None:
                    ends[i] = time.perf_counter() - start
                    if child.returncode != 0:
                        raise RuntimeError(f"{argv[-1]} exited {child.returncode}")
            time.sleep(0.01)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    if len(ends) < count:
        raise RuntimeError("a batch did not end within 300 s")
    return list(ends.values())


def measure(poc: PeerPoc, counts: list[int], repeats: int, log=print,
            others: tuple[Path, ...] = ()) -> list[tuple[str, ...]]:
    """The table's rows: per POC state and count, the median for ours, for FLARE's, then for ours from each
    of ``others`` (older source trees, to compare), all alternated under the same machine load."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="peer-concurrent-") as scratch:
        home = Path(scratch)
        consoles = {"flare-console": _ours(poc, home), f"NVFlare {NVFLARE_VERSION} fl_admin.sh": _flares(poc, home),
                    **{f"flare-console from {other}": _ours(poc, home, other) for other in others}}
        for argv, env, stdin in consoles.values():  # warm-up: caches filled, first-run work done
            at_once(argv, env, stdin, 1)
        for state in ("idle", "job running"):
            if state == "job running":
                job = sag_job(home / "job", rounds=200, sleep=1.0, name="busy")
                argv, env, _ = _ours(poc, home)
                subprocess.run([*argv[:-2], "-c", f"submit_job {job}"], env=env, check=True, capture_output=True,
                               timeout=120)
            for count in counts:
                row = [state, str(count)]
                for label, (argv, env, stdin) in consoles.items():
                    walls: list[float] = []
                    for _ in range(repeats):
                        walls += at_once(argv, env, stdin, count)
                    log(f"{state}, {count} at once, {label}: {[round(w, 2) for w in walls]}")
                    row.append(f"{statistics.median(walls):.2f}")
                rows.append(tuple(row))
    return rows


CONCURRENT_TITLE = "Several admins at once: N batches started together on one FLARE POC"


def concurrent_intro(seconds: float, quick: bool) -> list[str]:
    return [
        f"Written by `make bench-peer` / `make bench-consoles` (`benchmarks/peer_concurrent.py`) on "
        f"{time.strftime('%Y-%m-%d')}, {seconds / 60:.0f} min{' (--quick: one repeat)' if quick else ''}; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[1]:.1f} over the last 5 min.",
        "",
        f"N copies of one console started at the same moment, each logging in, running `{COMMAND}` and leaving:",
        "ours as `python -m console --kit KIT -c ...` (FLARE backend), FLARE's as `fl_admin.sh` with the command",
        "and `bye` on its stdin. A figure is the wall time of one batch (login included), median over every batch",
        "of every repeat, with the POC idle and while a job runs. On 2 shared cores the batches compete for CPU:",
        "a FLARE login is CPU work on both sides (FLARE 2.9 parses the admin key four times per login, 0.14 s",
        "each; ours parses it once: `console/backends/nvflare_login.py`).",
    ]


def concurrent_table(rows: list[tuple[str, ...]]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return ("POC", "batches at once", "flare-console (s)", f"fl_admin.sh {NVFLARE_VERSION} (s)"), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="also run our console from these source trees (an older commit's), as more columns")
    args = parser.parse_args()
    with running_poc(log=lambda m: print(m, flush=True)) as poc:
        rows = measure(poc, args.counts, args.repeats, log=lambda m: print(m, flush=True),
                       others=tuple(p.resolve() for p in args.compare))
    header, rows = concurrent_table(rows)
    header += tuple(f"ours from {p} (s)" for p in args.compare)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
