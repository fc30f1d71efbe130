"""FLARE API figures against a real local server: login, round trips, submit, monitor, e2e.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_api.py``). Prints medians.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from console.flare_api import new_secure_session

from common import (
    ADMIN,
    EXAMPLES,
    finish_time,
    make_project,
    median_ms,
    print_table,
    quick_job,
    running_server,
    scratch,
    timed,
)


def bench_login(admin_kit: Path, repeat: int = 15) -> list[float]:
    def login() -> None:
        new_secure_session(ADMIN, str(admin_kit)).close()

    return timed(login, repeat)


def bench_monitor_latency(sess, job_folder: Path, repeat: int = 7) -> list[float]:
    """Time from the server's finishing write to the monitor callback seeing it."""
    samples = []
    for _ in range(repeat):
        job_id = sess.submit_job(str(job_folder))
        seen_at: list[float] = []

        def cb(session, jid, meta, seen: list[float]) -> bool:
            if meta["status"].startswith("FINISHED:"):
                seen.append(time.time())
            return True

        sess.monitor_job(job_id, 0, 60, cb, seen_at)
        meta = sess.get_job_meta(job_id)
        # The server logs the status line when it commits it; parse that from the job's event time instead:
        finished_epoch = finish_time(meta)
        samples.append(max(seen_at[0] - finished_epoch, 0.0))
    return samples


def bench_end_to_end(sess, job_folder: Path, repeat: int = 5) -> list[float]:
    def run() -> None:
        job_id = sess.submit_job(str(job_folder))
        sess.monitor_job(job_id, poll_interval=60)

    return timed(run, repeat)


def fill_store(server_kit: Path, count: int) -> None:
    """Insert ``count`` finished jobs straight into the store (as a long-lived server would have)."""
    db = sqlite3.connect(server_kit / "store" / "jobs.db")
    now = time.time() - count
    rows = []
    for i in range(count):
        job_id = str(uuid.uuid4())
        meta = {"job_id": job_id, "name": f"bulk-{i % 97}", "status": "FINISHED:COMPLETED",
                "submit_time": now + i, "submit_time_iso": "", "duration": "0:00:01", "deploy_map": {},
                "submitter_name": ADMIN, "study": "default"}
        rows.append((job_id, meta["name"], meta["status"], meta["submit_time"], ADMIN, json.dumps(meta)))
    db.executemany("INSERT INTO jobs(job_id, name, status, submit_time, submitter_name, meta) VALUES (?,?,?,?,?,?)",
                   rows)
    db.commit()
    db.close()


def main() -> None:
    rows = []
    with scratch() as tmp:
        prod = make_project(tmp)
        admin_kit = prod / ADMIN
        quick = quick_job(tmp, 1, 0.0)
        with running_server(prod, ("site-1", "site-2")):
            login = bench_login(admin_kit)
            rows.append(("login (new_secure_session, TLS + login)", f"{median_ms(login):.1f} ms", "<= 300 ms",
                         str(len(login))))
            with new_secure_session(ADMIN, str(admin_kit)) as sess:
                job_id = sess.submit_job(str(quick))
                sess.monitor_job(job_id, poll_interval=60)
                for name, fn in (("list_jobs round trip", lambda: sess.list_jobs()),
                                 ("get_job_meta round trip", lambda: sess.get_job_meta(job_id))):
                    samples = timed(fn, 300)
                    rows.append((name, f"{median_ms(samples):.2f} ms", "<= 1 ms", str(len(samples))))
                submit = timed(lambda: sess.submit_job(str(EXAMPLES / "hello-server")), 15)
                rows.append(("submit_job (hello-server, tiny)", f"{median_ms(submit):.1f} ms", "", str(len(submit))))
                latency = bench_monitor_latency(sess, quick)
                rows.append(("status change -> monitor callback", f"{median_ms(latency):.1f} ms", "<= 50 ms",
                             str(len(latency))))
                e2e = bench_end_to_end(sess, quick)
                rows.append(("server-only job submit -> FINISHED:COMPLETED", f"{median_ms(e2e):.0f} ms", "",
                             str(len(e2e))))
                _wait_for_sites(sess, 2)
                numpy_e2e = bench_end_to_end(sess, EXAMPLES / "hello-numpy")
                rows.append(("hello-numpy (2 sites, 3 rounds) submit -> COMPLETED", f"{median_ms(numpy_e2e):.0f} ms",
                             "<= 5000 ms (NVFlare POC: 15600 ms)", str(len(numpy_e2e))))
                parallel = _parallel_round_trips(sess)
                rows.append(("list_jobs -m 1, 8 threads on one session", f"{parallel:.0f} req/s", "", "2000"))
        fill_store(prod / "server", 100_000)
        with running_server(prod), new_secure_session(ADMIN, str(admin_kit)) as sess:
            for label, kwargs in (("list_jobs -m 50 over 100,000 jobs", {"limit": 50}),
                                  ("list_jobs -r -m 50 over 100,000 jobs", {"limit": 50, "reverse": True}),
                                  ("list_jobs -n bulk-5 -m 50 over 100,000", {"limit": 50, "name_prefix": "bulk-5"})):
                samples = timed(lambda kw=kwargs: sess.list_jobs(**kw), 50)
                rows.append((label, f"{median_ms(samples):.2f} ms", "<= 50 ms", str(len(samples))))
    print_table("flare-console FLARE API (loopback, medians)", rows)


def _wait_for_sites(sess, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(sess.get_connected_client_list()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the sites did not connect")
        time.sleep(0.05)


def _parallel_round_trips(sess, threads: int = 8, per_thread: int = 250) -> float:
    def worker() -> None:
        for _ in range(per_thread):
            sess.list_jobs(limit=1)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return threads * per_thread / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
