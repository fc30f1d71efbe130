"""One admin's clone_job + abort_job + delete_job loop on our server with a site connected (session 10's
"not done", session 11 item 2): what log.txt of the server and of the site gain per cycle, how many of
the server's "deleted by" lines are written one by one, that every delete is on record in the store
(``deleted_jobs``), and delete_job's round trip.

Before the store kept a record of deletes, the server wrote one "deleted by" line per delete, never
summed up (~190 bytes a cycle with the job's status lines); now they are summed up per deleter past
10 a period like every line a peer repeats at will.

usage: python benchmarks/bench_delete_flood.py [--cycles N]"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from pathlib import Path

from console.flare_api import new_secure_session

from common import ADMIN, make_project, print_table, quick_job, running_server, scratch


def _waiting_job(root: Path) -> Path:
    """A job that stays SUBMITTED: its deploy_map names site-2, which never connects here."""
    folder = quick_job(root, steps=1, step_seconds=0.0)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(deploy_map={"app": ["server", "site-1", "site-2"]}, min_clients=2)
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "app" / "config" / "config_fed_client.json").write_text(json.dumps({"executor": "x:y"}))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=100)
    cycles = parser.parse_args().cycles
    with scratch() as root:
        prod = make_project(root)
        logs = [prod / "server" / "log.txt", prod / "site-1" / "log.txt"]
        with running_server(prod, ("site-1",)):
            with new_secure_session(ADMIN, str(prod / ADMIN), timeout=10) as session:
                first = session.submit_job(str(_waiting_job(root)))
                session.abort_job(first)
                time.sleep(0.5)  # its lines written
                before = [log.stat().st_size for log in logs]
                deletes: list[float] = []
                started = time.monotonic()
                for _ in range(cycles):
                    clone = session.clone_job(first)
                    session.abort_job(clone)
                    t0 = time.perf_counter()
                    session.delete_job(clone)
                    deletes.append(time.perf_counter() - t0)
                took = time.monotonic() - started
        # Stopped: what each held back is summed up in its log by now.
        grown = [log.stat().st_size - b for log, b in zip(logs, before, strict=True)]
        server_text = logs[0].read_text()
        written = sum(" deleted by " in line and "more line(s)" not in line for line in server_text.splitlines())
        with sqlite3.connect(prod / "server" / "store" / "jobs.db") as db:
            kept = db.execute("SELECT COUNT(*) FROM deleted_jobs").fetchone()[0]
    print_table(f"{cycles} cycles of clone_job + abort_job + delete_job by one admin ({took:.1f} s)", [
        ("server log.txt, bytes a cycle", f"{grown[0] / cycles:.0f}", "summed up past 10 a period", "1"),
        ("site log.txt, bytes a cycle", f"{grown[1] / cycles:.0f}", "summed up past 10 a period", "1"),
        ("'deleted by' lines written one by one", str(written), f"<= 10 a period (of {cycles})", "1"),
        ("deletes on record (deleted_jobs)", str(kept), f"{cycles}: every one", "1"),
        ("delete_job round trip", f"{statistics.median(deletes) * 1000:.1f} ms", "-", str(cycles)),
    ])


if __name__ == "__main__":
    main()
