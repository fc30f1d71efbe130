"""Writes ``docs/reliability.md``: each attack or fault the test suite tries, how many times,
and the outcome, from a real run of those tests (junit XML), not by hand.

Run: ``make reliability`` (``FUZZ_EXAMPLES=2000 make reliability`` for a long fuzz campaign).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUZZ = int(os.environ.get("FUZZ_EXAMPLES", "40"))
#: Floods in the report are this many times the suite's (tests/attacks.py): 2,000 half-open handshakes.
FLOOD_SCALE = float(os.environ.get("FLOOD_SCALE", "5"))

# (attack or fault, test node ids (prefix match on "file::name"), times tried per test run)
ROWS: list[tuple[str, list[str], int]] = [
    ("random bytes and truncated TLS streams at the admin and site ports",
     ["test_fuzz.py::test_random_bytes_and_truncated_streams"], FUZZ),
    ("well-framed nonsense: random JSON, wrong types, unknown kinds and commands",
     ["test_fuzz.py::test_well_framed_nonsense"], FUZZ),
    ("frames announcing lengths up to 4 GiB", ["test_fuzz.py::test_lying_lengths"], FUZZ),
    ("malformed frames while a healthy session keeps working",
     ["test_wire.py::test_bad_frames_are_refused", "test_wire.py::test_server_drops_bad_frames_and_keeps_serving"], 1),
    ("requests before login, unknown commands, unknown arguments",
     ["test_wire.py::test_requests_before_login_and_unknown_commands"], 1),
    ("a frame begun and never finished", ["test_hardening.py::test_a_stalled_frame_is_dropped"], 1),
    ("certificate from another project's CA", ["test_auth_and_crash.py::test_kit_from_another_project"], 1),
    ("expired certificate", ["test_auth_and_crash.py::test_expired_certificate"], 1),
    ("not-yet-valid certificate", ["test_auth_and_crash.py::test_not_yet_valid"], 1),
    ("username that is not the certificate's CN", ["test_auth_and_crash.py::test_username_must_be"], 1),
    ("a CA certificate used as a participant's", ["test_auth_and_crash.py::test_ca_certificate_as_a_leaf"], 1),
    ("site certificate on the admin port, admin certificate on the site port",
     ["test_federation.py::test_wrong_certificates_on_each_port"], 1),
    ("commands beyond the role's rights (member, lead, org_admin; other org's jobs and sites)",
     ["test_authorization.py::test_member", "test_authorization.py::test_lead", "test_authorization.py::test_org"], 1),
    ("file commands of a scoped view: only the folders of jobs it may view, on the server and sites",
     ["test_view_scope.py::test_file_commands"], 1),
    ("custom code refused by a site's own policy", ["test_authorization.py::test_a_site_can_forbid"], 1),
    ("a broken authorization policy at start", ["test_authorization.py::test_broken_policy"], 1),
    ("job archive altered in transit, on the server's disk, or signed by someone else",
     ["test_job_signing.py::"], 1),
    ("zip-slip: '..', absolute paths, drive letters, links, bombs with lying sizes, corrupt zips",
     ["test_jobdef.py::test_hostile_entries", "test_jobdef.py::test_a_lying_size",
      "test_jobdef.py::test_corrupt_archives", "test_jobdef.py::test_links_out"], 1),
    ("target paths out of the participant's folder ('..', absolute, symlinks)",
     ["test_site_admin.py::test_target_commands_are_confined", "test_target_commands.py::"], 1),
    ("job upload over the configured size limit", ["test_hardening.py::test_job_size_limit"], 1),
    ("no pickle, marshal, eval or exec in the code", ["test_hardening.py::test_no_pickle"], 1),
    ("kill -9 of the server while jobs wait, run and are done",
     ["test_auth_and_crash.py::test_jobs_survive_kill_9"], 1),
    ("kill -9 of the server mid-job: a download at once waits for the archive; sites' workspaces come as they return",
     ["test_abandoned_jobs.py::"], 1),
    ("a site killed mid-work: its temporary files cleared at restart; a second process on its folder touches none",
     ["test_site_leftovers.py::"], 1),
    ("kill -9 of the server during a 150 MB submit", ["test_load_and_faults.py::test_kill_9_during_a_submit"], 1),
    ("kill -9 of the server during a 120 MB download", ["test_load_and_faults.py::test_kill_9_during_a_download"], 1),
    ("a site killed mid-job (min_clients broken, and still held)",
     ["test_federation.py::test_site_killed", "test_federation.py::test_remaining_sites"], 1),
    ("sites reconnecting after a server restart", ["test_federation.py::test_sites_reconnect"], 1),
    ("a site's connection cut mid-job, then back (its stale client app stopped)",
     ["test_federation.py::test_a_cut_site_link"], 1),
    ("a silent site (frozen, like a pulled cable) dropped by its heartbeat, then back",
     ["test_federation.py::test_a_silent_site"], 1),
    ("a server frozen mid-job past its sites' silence limit: the sites come back, the job completes",
     ["test_server_freeze_job.py::test_a_job_outlives"], 1),
    ("a site killed (kill -9) or shut down mid-task: lost at once, not after the 60 s reconnect grace; its "
     "workspace collected when it is back", ["test_site_gone.py::test_a_site_shut_down_or_killed"], 1),
    ("a site frozen mid-job past its silence limit: it says it comes back (bye), gets the grace, the job completes",
     ["test_site_gone.py::test_a_site_frozen"], 1),
    ("disk full during a job upload (8 MB tmpfs store, 12 MB job)",
     ["test_load_and_faults.py::test_disk_full"], 1),
    ("50 sessions of mixed commands for 2 s with 10 concurrent submits",
     ["test_load_and_faults.py::test_many_sessions"], 1),
    # Issue 12: nobody gets more than the policy grants, nobody can exhaust the server.
    ("code outside custom/ (top level, nested, .so, named in configs) without the byoc right",
     ["test_policy_limits.py::test_job_code", "test_policy_limits.py::test_job_processes",
      "test_policy_limits.py::test_code_outside"], 1),
    ("keys and kit internals (startup/, local/, store/) by name or by link; get_job_logs paths",
     ["test_policy_limits.py::test_no_command", "test_policy_limits.py::test_links_and_log"], 1),
    ("requests sent without reading the replies", ["test_exhaustion.py::test_unread_replies"], 1),
    ("requests marked as streams that never stream", ["test_exhaustion.py::test_requests_marked"], 1),
    ("half-open TLS handshakes", ["test_exhaustion.py::test_half_open"], 1),
    ("connections of one identity past its cap (the flood's kit sets 6)",
     ["test_exhaustion.py::test_connections_per_identity"], 1),
    ("a silent peer (no byte sent) on the admin and site ports",
     ["test_admission.py::test_a_silent_peer"], 1),
    ("320 idle and half-open sockets from two addresses (one the clients' own), then an admin login and a site",
     ["test_admission.py::test_idle_and_half_open"], 1),
    ("a full admin port (default per-identity cap, 16, then other kits), then a site",
     ["test_admission.py::test_a_full_admin_port"], 1),
    ("unbounded fields: 2 MB names, control characters, 70 KB meta.json, long archive names",
     ["test_policy_limits.py::test_job_fields", "test_policy_limits.py::test_archive_names",
      "test_policy_limits.py::test_an_oversized"], 1),
    ("terminal injection through tables, records, errors, toolbar and file contents",
     ["test_policy_limits.py::test_hostile"], 1),
    ("disk amplification: zip bombs, oversized workspaces, copies left after delete_job",
     ["test_policy_limits.py::test_expansion", "test_policy_limits.py::test_collected"], 1),
    ("head-of-line blocking: 250 older jobs for a site that never connects",
     ["test_exhaustion.py::test_jobs_that_cannot_start"], 1),
    ("a submit retried after a lost reply (server killed), token reuse, deleted jobs",
     ["test_policy_limits.py::test_submit_token", "test_policy_limits.py::test_a_retry"], 1),
    ("removed or demoted admins with their old kits (revocation list)",
     ["test_policy_limits.py::test_removed_and_demoted"], 1),
    # Issue 16: large answers and grep children are bounded.
    ("unread get_job_logs of a 6 MB site log from many connections, while a 2-site job runs",
     ["test_reply_budget.py::test_unread_log_floods", "test_reply_budget.py::test_the_budget"], 1),
    ("pathological grep patterns ('(a+)+$') sent many at once",
     ["test_reply_budget.py::test_pathological_greps"], 1),
]

#: Figures the flood tests record (tests/attacks.py ``record``), shown beside their row.
FIGURES: dict[str, str] = {
    "requests sent without reading the replies": "unread replies",
    "requests marked as streams that never stream": "stream-marked requests",
    "half-open TLS handshakes": "half-open TLS handshakes",
    "connections of one identity past its cap (the flood's kit sets 6)": "connections of one identity",
    "a silent peer (no byte sent) on the admin and site ports": "silent sockets",
    "320 idle and half-open sockets from two addresses (one the clients' own), then an admin login and a site":
        "idle and half-open sockets",
    "a full admin port (default per-identity cap, 16, then other kits), then a site": "full admin port",
    "head-of-line blocking: 250 older jobs for a site that never connects": "head-of-line blocking",
    "unread get_job_logs of a 6 MB site log from many connections, while a 2-site job runs":
        "unread get_job_logs",
    "pathological grep patterns ('(a+)+$') sent many at once": "16 pathological greps",
}


def _figure(kind: str | None, figures: list[dict]) -> str:
    found = [f for f in figures if kind is not None and f.get("kind", "").startswith(kind)]
    if not found:
        return ""
    return "; ".join(", ".join(f"{k} {v}" for k, v in f.items() if k != "kind") for f in found)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        figures_file = Path(tmp) / "figures.jsonl"
        files = sorted({node.split("::")[0] for _, nodes, _ in ROWS for node in nodes})
        started = time.time()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        "-o", f"timeout={max(120, FUZZ)}",
                        *(f"tests/{f}" for f in files)], cwd=REPO,
                       env={**os.environ, "FUZZ_EXAMPLES": str(FUZZ), "FLOOD_SCALE": str(FLOOD_SCALE),
                            "RELIABILITY_FIGURES": str(figures_file)},
                       check=False)
        figures = [json.loads(line) for line in figures_file.read_text().splitlines()] if figures_file.exists() \
            else []
        cases = []
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}.py::{case.get('name')}"
            failed = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            cases.append((name, failed, skipped))
    lines = [
        "# Reliability report",
        "",
        f"Generated by `benchmarks/reliability.py` from a run of the test suite on "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} (fuzz examples per test: {FUZZ}, "
        f"floods {FLOOD_SCALE:g}x the suite's).",
        "Every row is real traffic against a real server (and sites) on loopback. Figures: the server's RSS "
        "before and during a flood (MiB), and the best of three round trips of another admin's list_jobs "
        "while the attacker is still connected (s).",
        "",
        "| attack or fault | tests | tries | outcome | figure |",
        "|---|---|---|---|---|",
    ]
    worst = 0
    for title, nodes, per_test in ROWS:
        matched = [c for c in cases if any(c[0].startswith(n) for n in nodes)]
        failed = [c for c in matched if c[1]]
        ran = [c for c in matched if not c[2]]
        outcome = "held" if ran and not failed else ("FAILED: " + ", ".join(c[0] for c in failed) if failed
                                                     else "not run")
        worst |= bool(failed) or not ran
        lines.append(f"| {title} | {len(matched)} | {len(ran) * per_test} | {outcome} | "
                     f"{_figure(FIGURES.get(title), figures)} |")
    lines.append("")
    (REPO / "docs" / "reliability.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
