"""list_jobs (no -d) over a store of many jobs, with and without jobs whose recorded metrics are
fat (security finding 7: ``round_metrics`` of 500 rounds x 60 KB made one job's meta ~22 MB, and
every list_jobs read and parsed it: 2-6 ms became 1.2-1.6 s for everyone).

A real server on loopback, its store filled before it starts: ``--jobs`` finished jobs of a real
meta's shape, then ``--fat`` jobs whose ``round_metrics`` are the tester's fat-meta job's (written
with ``JobStore.update_meta``, as the runner writes them; today's runner keeps a job's recorded
metrics far smaller, so this is the worst a store written by an older server holds). Medians of
``--repeat`` calls as the project admin; the server's RSS after.

    python benchmarks/bench_list_jobs.py [--jobs 2000] [--fat 3] [--repeat 7] [--no-bounded]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from pathlib import Path

from console.flare_api import new_secure_session
from console.server.store import JobStore

from common import ADMIN, make_project, median_ms, print_table, running_server, scratch, timed


def fill(server_kit: Path, count: int) -> None:
    """``count`` finished jobs, metas as a real server writes them (a few hundred bytes each)."""
    JobStore(server_kit / "store").close()  # the schema, as the server would make it
    db = sqlite3.connect(server_kit / "store" / "jobs.db")
    start = time.time() - count
    rows = []
    for i in range(count):
        job_id = str(uuid.uuid4())
        meta = {"name": f"bulk-{i % 97}", "deploy_map": {"app": ["server", "site-1", "site-2"]}, "min_clients": 2,
                "mandatory_clients": [], "resource_spec": {}, "job_id": job_id, "status": "FINISHED:COMPLETED",
                "submit_time": start + i, "submit_time_iso": "2026-11-29T10:00:00+00:00",
                "start_time": "2026-11-29T10:00:01+00:00", "duration": "0:00:03.2", "job_folder_name": "job",
                "submitter_name": ADMIN, "submitter_org": "bench", "submitter_role": "project_admin",
                "study": "default", "data_storage_format": 2,
                "round_metrics": [{"round": r, "aggregated": {"loss": 1 / r}, "sites": {"site-1": {"loss": 1 / r}}}
                                  for r in range(1, 4)]}
        rows.append((job_id, meta["name"], meta["status"], meta["submit_time"], ADMIN, json.dumps(meta)))
    db.executemany("INSERT INTO jobs(job_id, name, status, submit_time, submitter_name, meta) VALUES (?,?,?,?,?,?)",
                   rows)
    db.commit()
    db.close()


def fatten(server_kit: Path, count: int, bounded: bool = False) -> tuple[list[str], int]:
    """``count`` of the jobs get the tester's fat-meta rounds (``bounded``: what the runner keeps
    of them now); their IDs, and one's bytes of JSON."""
    rounds = [{"round": r, "aggregated": {"loss": 1.0 / r},
               "sites": {"site-x": {f"m{i:04d}": float(i + r) for i in range(2600)}}} for r in range(1, 501)]
    if bounded:
        from console.server.round_metrics import RoundMetrics

        book = RoundMetrics()
        for entry in rounds:
            book.add({"round": entry["round"], "metrics": entry["sites"], "aggregated": entry["aggregated"]})
        rounds = book.entries
    store = JobStore(server_kit / "store")
    try:
        ids = [row["job_id"] for row in store.list_jobs(limit=count)]
        for job_id in ids:
            store.update_meta(job_id, round_metrics=rounds)
    finally:
        store.close()
    return ids, len(json.dumps(rounds))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(prod: Path, repeat: int, fat_id: str | None) -> list[tuple[str, float]]:
    with running_server(prod) as procs, new_secure_session(ADMIN, str(prod / ADMIN), timeout=120) as sess:
        figures = [("list_jobs", median_ms(timed(lambda: sess.list_jobs(), repeat))),
                   ("list_jobs -m 50", median_ms(timed(lambda: sess.list_jobs(limit=50), repeat)))]
        if fat_id is not None:
            figures.append(("get_job_meta (fat job)", median_ms(timed(lambda: sess.get_job_meta(fat_id), 3))))
        figures.append(("server RSS after (MiB)", rss_mib(procs[0].pid)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--fat", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-bounded", dest="bounded", action="store_false",
                        help="skip the rows of what today's runner records (for a run on an older checkout)")
    args = parser.parse_args()
    rows = []
    with scratch() as tmp:
        prod = make_project(tmp)
        fill(prod / "server", args.jobs)
        for name, value in measure(prod, args.repeat, None):
            rows.append((f"{name}, {args.jobs} jobs", f"{value:.1f}", "", str(args.repeat)))
        if args.fat:
            ids, size = fatten(prod / "server", args.fat)
            for name, value in measure(prod, args.repeat, ids[0]):
                rows.append((f"{name}, {args.jobs} jobs of which {args.fat} fat ({size / 1e6:.0f} MB of metrics)",
                             f"{value:.1f}", "", str(args.repeat)))
            if args.bounded:  # what today's runner records of the same job
                ids, size = fatten(prod / "server", args.fat, bounded=True)
                for name, value in measure(prod, args.repeat, ids[0]):
                    rows.append((f"{name}, the same jobs as recorded now ({size / 1e3:.0f} KB of metrics)",
                                 f"{value:.1f}", "", str(args.repeat)))
    print_table("list_jobs over a store with fat job metas (loopback, medians; ms unless said)", rows)


if __name__ == "__main__":
    main()
