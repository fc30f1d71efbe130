"""Timed FLARE API operations, written once, run in either system's interpreter by ``bench_peer.py``.

    python peer_measure.py --api nvflare|console --user U --kit KIT --phase main|list ... --out f.json

Like ``conformance_scenario.py`` it needs only the standard library and the API under test. It
prints nothing; it writes the raw samples (seconds) as JSON for the driver to take medians of.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from conformance_scenario import load_api
from timing import finish_time, timed

TERMINAL = "FINISHED:"


def submit_and_delete(sess: Any, job: str) -> float:
    """Submit time of a job that cannot be scheduled (min_clients above the sites), then delete it."""
    start = time.perf_counter()
    job_id = sess.submit_job(job)
    took = time.perf_counter() - start
    sess.delete_job(job_id)
    return took


def run_job(sess: Any, job: str, poll_interval: float) -> tuple[float, float]:
    """(submit -> monitor_job returns, final status written -> callback saw it), both in seconds."""
    seen: list[float] = []

    def cb(session: Any, job_id: str, meta: dict[str, Any]) -> bool:
        if meta["status"].startswith(TERMINAL) and not seen:
            seen.append(time.time())
        return True

    start = time.perf_counter()
    job_id = sess.submit_job(job)
    sess.monitor_job(job_id, 300, poll_interval, cb)
    took = time.perf_counter() - start
    meta = sess.get_job_meta(job_id)
    if meta["status"] != "FINISHED:COMPLETED":
        raise RuntimeError(f"job {job_id} ended {meta['status']}")
    return took, max(seen[0] - finish_time(meta), 0.0)


def phase_main(api: Any, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["login"] = timed(lambda: api.new_secure_session(args.user, args.kit, timeout=30).close(), args.logins)
    sess = api.new_secure_session(args.user, args.kit, timeout=30)
    try:
        e2e, latency = [], []
        for _ in range(args.jobs):
            took, seen = run_job(sess, args.job, args.poll_interval)
            e2e.append(took)
            latency.append(seen)
        out["hello_numpy"], out["monitor_latency"] = e2e, latency
        job_id = sess.list_jobs(limit=1)[0]["job_id"]
        out["list_jobs"] = timed(sess.list_jobs, args.round_trips)
        out["get_job_meta"] = timed(lambda: sess.get_job_meta(job_id), args.round_trips)
        out["submit_small"] = [submit_and_delete(sess, args.idle_job) for _ in range(args.submits)]
        out["submit_big"] = [submit_and_delete(sess, args.big_job) for _ in range(args.big_submits)]
    finally:
        sess.close()
    return out


def phase_list(api: Any, args: argparse.Namespace) -> dict[str, Any]:
    sess = api.new_secure_session(args.user, args.kit, timeout=30)
    try:
        sess.set_timeout(600.0)  # FLARE's default command timeout is shorter than its biggest listings
        stored = len(sess.list_jobs())
        return {"stored": stored,
                "list_jobs_all": timed(sess.list_jobs, args.round_trips),
                "list_jobs_50": timed(lambda: sess.list_jobs(limit=50), args.round_trips)}
    finally:
        sess.close()


def phase_fedavg(api: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One FedAvg job with a big model: its ID (the driver reads the round times from the server's
    log) and submit -> finished, in seconds."""
    sess = api.new_secure_session(args.user, args.kit, timeout=30)
    try:
        sess.set_timeout(600.0)
        start = time.perf_counter()
        job_id = sess.submit_job(args.job)
        sess.monitor_job(job_id, 3600, args.poll_interval)
        took = time.perf_counter() - start
        status = sess.get_job_meta(job_id)["status"]
        return {"job_id": job_id, "seconds": took, "status": status}
    finally:
        sess.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=("nvflare", "console"), required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--kit", required=True)
    parser.add_argument("--phase", choices=("main", "list", "fedavg"), required=True)
    parser.add_argument("--job", help="hello-numpy-sag")
    parser.add_argument("--idle-job", help="a small job that cannot be scheduled")
    parser.add_argument("--big-job", help="a 100 MB job that cannot be scheduled")
    parser.add_argument("--logins", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=100)
    parser.add_argument("--submits", type=int, default=5)
    parser.add_argument("--big-submits", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    api, _ = load_api(args.api)
    import_seconds = time.perf_counter() - start
    phases = {"main": phase_main, "list": phase_list, "fedavg": phase_fedavg}
    result = phases[args.phase](api, args)
    result["import"] = [import_seconds]
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
