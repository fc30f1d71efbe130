"""What a job's per-round store write costs the server's event loop: the write made on the loop
(``update_meta`` called directly, its fsync included, as before) against the write handed to
the store's writer thread (``JobStore.write``, what the runner does now). Median, 99th
percentile and worst of the time the calling thread is held, over the rounds of a job whose
``round_metrics`` grows each round (two sites, three metrics each).

    python benchmarks/bench_store.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from console.server.status import JobStatus
from console.server.store import JobStore, Submitter


def _job(store: JobStore, root: Path, job_id: str) -> None:
    archive = root / f"{job_id}.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    store.create_job(job_id, archive, {"name": "bench", "deploy_map": {}}, "bench", Submitter("a", "o", "r"))
    store.set_status(job_id, JobStatus.RUNNING)


def held(root: Path, rounds: int, handed_over: bool) -> list[float]:
    """Seconds the caller is held per round's write."""
    store = JobStore(root / ("handed" if handed_over else "direct"))
    _job(store, root, "job-1")
    metrics: list[dict] = []
    samples = []
    try:
        for k in range(1, rounds + 1):
            metrics = [*metrics, {"round": k, "aggregated": {"loss": 1 / k, "accuracy": 1 - 1 / k, "n": 100},
                                  "sites": {s: {"loss": 1 / k, "accuracy": 1 - 1 / k, "n": 50}
                                            for s in ("site-1", "site-2")}}]
            start = time.perf_counter()
            if handed_over:
                store.write(store.update_meta, "job-1", round_metrics=metrics)
            else:
                store.update_meta("job-1", round_metrics=metrics)
            samples.append(time.perf_counter() - start)
            time.sleep(0.002)  # rounds are apart; the writer keeps up between them
    finally:
        store.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(name, held(Path(tmp), args.rounds, handed)) for name, handed in
                (("on the loop (direct update_meta)", False), ("handed to the writer thread", True))]
    print(f"\nper-round metrics write, time the event loop is held ({args.rounds} rounds)\n")
    print(f"| {'write':34} | median ms | p99 ms | max ms |")
    print(f"|{'-' * 36}|-----------|--------|--------|")
    for name, samples in rows:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"| {name:34} | {statistics.median(samples) * 1e3:9.3f} | {p99 * 1e3:6.3f} | "
              f"{ordered[-1] * 1e3:6.3f} |")


if __name__ == "__main__":
    main()
