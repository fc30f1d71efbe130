"""Another admin's list_jobs round trip while one member floods the audit trail (security tester,
session 9, item 3): each flooding request carries ~1 MiB of nested non-ASCII arguments, which
made a 3.3 MB audit line before lines were bounded. Prints the other admin's median and worst
round trip alone and during the flood, and what the flood left in audit/audit.log.

With ``--small``, each flooding request carries ~8 KB instead (a line each, cut as a whole): the
server's cost of one request is then mostly its audit line, not parsing a megabyte.

usage: python benchmarks/bench_audit_flood.py [--seconds S] [--connections N] [--small]"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import yaml

from console.flare_api import new_secure_session
from console.ports import free_port
from console.provision.kits import provision

from common import print_table, running_server, scratch
from raw_admin import ask, tls_to, wide_args

ADMIN, MEMBER = "admin@example.com", "member@example.com"


def _project(root: Path) -> Path:
    project_file = root / "flood.yml"
    project_file.write_text(yaml.safe_dump({"name": "flood", "participants": [
        {"name": "server", "type": "server", "org": "bench", "host": "localhost",
         "fed_learn_port": free_port(), "admin_port": free_port()},
        {"name": ADMIN, "type": "admin", "org": "bench", "role": "project_admin"},
        {"name": MEMBER, "type": "admin", "org": "bench", "role": "member"},
    ]}))
    return Path(provision(project_file, root / "workspace"))


def _hostile_args() -> dict:
    """The tester's request: 20 x 20 x 20 keys of non-ASCII text, a header just under 1 MiB."""
    leaf = {"x": "\u00e9" * 42}
    level2 = {f"{i:02d}" + "\u00e9" * 14: leaf for i in range(20)}
    level1 = {f"{i:02d}" + "\u00e9" * 14: level2 for i in range(20)}
    return {f"{i:02d}" + "\u00e9" * 14: level1 for i in range(20)}


def _flood(kit: Path, until: float, sent: list[int], args: dict) -> None:
    with tls_to(kit, timeout=30) as s:
        ask(s, 0, "login", {"username": MEMBER})
        n = 0
        while time.monotonic() < until:
            n += 1
            ask(s, n, "list_jobs", args)
        sent.append(n)


def _probe(session, seconds: float) -> list[float]:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        session.list_jobs(limit=5)
        samples.append(time.perf_counter() - t0)
        time.sleep(0.05)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--small", action="store_true", help="~8 KB requests instead of ~1 MiB")
    a = parser.parse_args()
    with scratch() as root:
        prod = _project(root)
        with running_server(prod):
            session = new_secure_session(ADMIN, str(prod / ADMIN), timeout=60)
            try:
                alone = _probe(session, a.seconds / 2)
                until, sent = time.monotonic() + a.seconds, []
                args = wide_args() if a.small else _hostile_args()
                threads = [threading.Thread(target=_flood, args=(prod / MEMBER, until, sent, args), daemon=True)
                           for _ in range(a.connections)]
                for thread in threads:
                    thread.start()
                flooded = _probe(session, a.seconds)
                for thread in threads:
                    thread.join(60)
            finally:
                session.close()
        folder = prod / "server" / "audit"
        records = [json.loads(line) for f in sorted(folder.iterdir()) for line in f.read_text().splitlines()]
        size = sum(f.stat().st_size for f in folder.iterdir())
        longest = max(len(json.dumps(r)) for r in records)
        held = sum(r.get("lines", 0) for r in records if r["kind"] == "summary")

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:.1f} ms (worst {max(samples) * 1000:.0f})"

    print_table(f"Another admin's list_jobs while {a.connections} connections of one member flood the audit "
                f"trail for {a.seconds:g} s with {'~8 KB' if a.small else '~1 MiB'} requests", [
                    ("round trip, alone", ms(alone), "-", str(len(alone))),
                    ("round trip, during the flood", ms(flooded), "unaffected", str(len(flooded))),
                    ("  its second half (allowance spent)", ms(flooded[len(flooded) // 2:]), "unaffected",
                     str(len(flooded) - len(flooded) // 2)),
                    ("flooding requests answered", str(sum(sent)), "-", "-"),
                    ("audit bytes written (all lines)", f"{size / 1024:.0f} KiB", "<= 1 MiB + rate", "-"),
                    ("longest audit line", f"{longest} B", "<= 4096", "-"),
                    ("lines summarised", str(held), "-", "-"),
                ])


if __name__ == "__main__":
    main()
