"""Load: 200 concurrent admin sessions with mixed commands for a bounded time, plus 20
concurrent submit_job streams. Prints requests, failures, throughput and latencies.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_load.py``).
"""

from __future__ import annotations

import asyncio
import json
import resource

from console.api.load import run_load

from common import ADMIN, EXAMPLES, make_project, print_table, running_server, scratch

SESSIONS, SECONDS, SUBMITTERS = 200, 10.0, 20


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    with scratch() as tmp:
        prod = make_project(tmp)
        # All sessions share one admin kit: raise the per-identity cap (16 by default) for them.
        config_path = prod / "server" / "startup" / "fed_server.json"
        config = json.loads(config_path.read_text())
        config["servers"][0]["connection_limits"] = {"max_per_identity": SESSIONS + 8}
        config_path.write_text(json.dumps(config))
        with running_server(prod):
            report = asyncio.run(run_load(ADMIN, prod / ADMIN, sessions=SESSIONS, seconds=SECONDS,
                                          submitters=SUBMITTERS, job_folder=EXAMPLES / "hello-numpy"))
    rows = [
        ("sessions (one process, asyncio)", str(SESSIONS), "", ""),
        (f"requests in {SECONDS:.0f} s", str(report.requests), "", ""),
        ("throughput", f"{report.requests / SECONDS:.0f} req/s", "", ""),
        ("failed or lost requests", str(len(report.failures)), "0", ""),
        ("concurrent submit_job streams, accepted", f"{report.submits}/{SUBMITTERS}", f"{SUBMITTERS}", ""),
        ("latency p50", f"{report.median * 1000:.1f} ms", "", ""),
        ("latency p99", f"{report.quantile(0.99) * 1000:.1f} ms", "", ""),
    ]
    print_table("flare-console under load (loopback, 2 cores shared by client and server)", rows,
                header=("measure", "value", "target", ""))
    for failure in report.failures[:5]:
        print("failure:", failure)


if __name__ == "__main__":
    main()
