"""What one identity's flood adds to the audit trail once its bursts are spent (security tester,
session 10, item 2), at the rates the tester's floods reached on loopback: reads, a changing
command that changes nothing (``enable_client`` of an enabled site, ~1,400 a second), and a lead's
``clone_job`` + ``delete_job`` loop (~24 cycles a second, every line a change). Drives
``console.server.audit.AuditLog`` in process with the server's default share; prints bytes a
second, MiB a day, and how long the 110 MiB trail then keeps every other identity's lines.

usage: python benchmarks/bench_audit_share.py [--seconds S]"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from console.server.audit import AUDIT_FILE, AUDIT_FOLDER, BACKUPS, MAX_BYTES, AuditLog

from common import print_table, scratch

WHO, PEER = ("lead@beta.org", "beta", "lead"), ("127.0.0.1", 40000)
SOURCE = "aa2d19e3-8781-4e6d-ac49-b946aa792890"


def _reads(audit: AuditLog) -> None:
    audit.command(WHO, PEER, "get_job_meta", {"job_id": SOURCE[:8]}, {"job_id": SOURCE}, None)


def _no_op(audit: AuditLog) -> None:
    audit.command(WHO, PEER, "enable_client", {"site": "site-b1"}, {"unchanged": "site-b1 was not disabled"},
                  None, changes=True)


def _clone_delete(audit: AuditLog) -> None:
    new = str(uuid.uuid4())
    audit.command(WHO, PEER, "clone_job", {"job_id": SOURCE}, {"job_id": SOURCE, "new_job_id": new}, None,
                  changes=True)
    audit.command(WHO, PEER, "delete_job", {"job_id": new}, {"job_id": new}, None, changes=True)


def _run(root: Path, step: Callable[[AuditLog], None], per_second: float, seconds: float) -> dict:
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    # The bursts (1 MiB, 64 KiB) spent: a bucket the size of a few lines, refilled at the default rates.
    audit = AuditLog(folder, burst_bytes=4096, change_burst_bytes=1024)
    end, steps = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        step(audit)
        steps += 1
        time.sleep(1 / per_second)
    path = folder / AUDIT_FOLDER / AUDIT_FILE
    # Written during the flood (each line is flushed), the bursts left out; then the summary still held.
    rate = (path.stat().st_size - 4096 - 1024) / seconds
    audit.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    named = sum(len(r.get("jobs", [])) for r in records if r["kind"] == "summary")
    return {"steps": steps, "rate": rate, "full": sum(r["kind"] == "command" and not r.get("compact") for r in records),
            "compact": sum(bool(r.get("compact")) for r in records), "named": named}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    a = parser.parse_args()
    trail = MAX_BYTES * (BACKUPS + 1)
    rows = []
    with scratch() as root:
        for label, step, per_second in (("reads (get_job_meta)", _reads, 1000.0),
                                        ("enable_client of an enabled site", _no_op, 1000.0),
                                        ("clone_job + delete_job loop", _clone_delete, 24.0)):
            got = _run(root, step, per_second, a.seconds)
            per_day = got["rate"] * 86400
            rows.append((f"{label}: bytes/s", f"{got['rate']:.0f}", "<= 496", "1"))
            rows.append(("  MiB a day; days the trail keeps others' lines", f"{per_day / 2**20:.1f}; "
                         f"{trail / per_day:.1f}", ">= 2.5 days", "1"))
            rows.append(("  steps; lines in full, compact; jobs named in summaries",
                         f"{got['steps']}; {got['full']}, {got['compact']}; {got['named']}", "-", "1"))
    print_table(f"One identity's audit share past its bursts, {a.seconds:g} s a flood (server defaults)", rows)


if __name__ == "__main__":
    main()
