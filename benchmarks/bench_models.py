"""FedAvg with real-sized float32 models: seconds per round, MB/s of model traffic, peak RSS of every process.

Our server and 2 sites on loopback (mTLS), the built-in FedAvg, an executor adding 1 to every
weight. A round is timed from the controller's "round k/n: sending" log line to its "averaged"
line: writing the task's model file, streaming it to both sites, their training, streaming both
results back, and folding them into the average. Model traffic per round = model size x 2 sites
x 2 directions. Memory: the resident set (VmHWM, the kernel's own peak) of the server and site
daemons and of each job process (found by the job's process marker), sampled until the job ends.
Before the measured jobs, one unmeasured job (1 MiB, 2 rounds) warms the freshly started server
and sites up, as a long-running server is: a fresh daemon's first job pays for first use of its
code paths and buffers (its rounds 2-3 took 24-33 ms against 17-21 ms in the next job).

    python benchmarks/bench_models.py                 # 1, 64 and 512 MB (make bench)
    python benchmarks/bench_models.py --sizes 1024    # the 1 GB run, by hand
    python benchmarks/bench_models.py --peer          # side by side with NVIDIA FLARE's POC (make bench-peer)

``--peer`` runs the same FedAvg (2 sites, 3 rounds, a float32 model, every site adding 1) on
FLARE 2.9's POC: its hello-numpy-sag (ScatterAndGather, NPTrainer) starting from the model as a
checkpoint (NPModelPersistor's ``source_ckpt_file_full_name``); a round there is timed from
"Round k started." to "Round k finished." in its server log. It writes a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from console.flare_api import new_secure_session
from console.runtime.arrays import write_model
from console.runtime.procs import job_processes

from common import ADMIN, make_project, print_table, running_server, scratch

ROUNDS = {1: 5, 64: 3, 512: 2}
TARGET_MBPS = 200.0
PLUS_ONE = '''
from console.runtime.contract import TaskResult


def train(model, ctx):
    for array in model.values():
        array += 1  # in place: the site's job process holds one copy
    return TaskResult(model)
'''
_ROUND_LINE = re.compile(r"^(\S+ \S+) - ServerApp - INFO - round (\d+)/\d+: (sending|averaged)")


def model_job(root: Path, megabytes: int, rounds: int) -> Path:
    """A job with two apps: the server's holds the initial model, the sites' only the executor."""
    job = root / f"fedavg-{megabytes}mb"
    server_app, site_app = job / "app_server", job / "app_site"
    for folder in (server_app / "config", site_app / "config", site_app / "custom"):
        folder.mkdir(parents=True)
    (job / "meta.json").write_text(json.dumps({
        "name": f"fedavg-{megabytes}mb", "min_clients": 2,
        "deploy_map": {"app_server": ["server"], "app_site": ["site-1", "site-2"]}}))
    count = megabytes * (1 << 20) // 4
    rng = np.random.default_rng(megabytes)
    write_model({"weights": rng.random(count, dtype=np.float32)}, server_app / "initial.model")
    (server_app / "config" / "config_fed_server.json").write_text(json.dumps({
        "workflow": "fedavg", "args": {"num_rounds": rounds, "min_clients": 2, "initial_model": "initial.model"}}))
    (site_app / "config" / "config_fed_client.json").write_text(json.dumps({"executor": "bench_trainer:train"}))
    (site_app / "custom" / "bench_trainer.py").write_text(PLUS_ONE)
    return job


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Peak RSS (MiB) per process role while a job runs: daemons by pid, job processes by marker.

    Finding the job processes reads every process's environment in /proc (milliseconds on a busy
    machine): that scan runs every 0.1 s only until each participant's job process is known, then
    once a second, so the sampler takes next to no CPU from the job it measures. Known processes
    are read every 0.1 s (VmHWM, the kernel's own peak, so nothing between samples is missed)."""

    RESCAN_SECONDS = 1.0

    def __init__(self, daemons: dict[str, int], job_id: str, participants: int = 3) -> None:
        self.daemons, self.job_id, self.participants = daemons, job_id, participants
        self.peak: dict[str, float] = {}
        self._known: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _note(self, role: str, pid: int) -> None:
        kib = _status_kib(pid, "VmHWM:")
        if kib:  # 0: the process is gone (its last sample stands)
            self.peak[role] = max(self.peak.get(role, 0.0), kib / 1024)

    def _run(self) -> None:
        scanned = 0.0
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if len(set(self._known.values())) < self.participants or now - scanned >= self.RESCAN_SECONDS:
                self._known.update(job_processes(self.job_id))
                scanned = now
            for role, pid in self.daemons.items():
                self._note(role, pid)
            for pid, participant in self._known.items():
                self._note(f"{participant} job process", pid)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes and of their children they waited for (the job processes)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def round_seconds(log: str, line: re.Pattern[str] = _ROUND_LINE, begins: str = "sending") -> list[float]:
    """Seconds of each round in a server log: from the line whose third group is ``begins`` to the
    next line of the same round."""
    started: dict[int, datetime] = {}
    seconds = []
    for text in log.splitlines():
        match = line.match(text)
        if not match:
            continue
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        number = int(match.group(2))
        if match.group(3) == begins:
            started[number] = when
        elif number in started:
            seconds.append((when - started.pop(number)).total_seconds())
    return seconds


def _seconds(value: float) -> str:
    """A round's length: milliseconds show under a second (a 1 MiB round is about 0.02 s)."""
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


def warm_up(sess, root: Path) -> None:
    """One small FedAvg job, not measured: the daemons' first job pays for their warm-up."""
    job_id = sess.submit_job(str(model_job(root / "warm-up", 1, 2)))
    meta = sess.wait_for_job(job_id, timeout=600)
    if meta["status"] != "FINISHED:COMPLETED":
        raise RuntimeError(f"the warm-up job ended {meta['status']}: {meta.get('job_errors')}")
    sess.delete_job(job_id)


def run_size(sess, prod: Path, daemons: dict[str, int], root: Path, megabytes: int, rounds: int) -> dict:
    job = model_job(root, megabytes, rounds)
    idle = {role: _status_kib(pid, "VmRSS:") / 1024 for role, pid in daemons.items()}
    cpu_before = cpu_seconds(list(daemons.values()))
    load = os.getloadavg()[0]
    began = time.monotonic()
    job_id = sess.submit_job(str(job))
    with PeakMemory(daemons, job_id) as memory:
        meta = sess.wait_for_job(job_id, timeout=3600)
    total = time.monotonic() - began
    cpu = cpu_seconds(list(daemons.values())) - cpu_before
    if meta["status"] != "FINISHED:COMPLETED":
        raise RuntimeError(f"{megabytes} MB job ended {meta['status']}: {meta.get('job_errors')}")
    log = (prod / "server" / job_id / "log.txt").read_text()
    seconds = round_seconds(log)
    # The server keeps its workspace in the store once the job ends (the folder keeps only its log).
    workspace = zipfile.ZipFile(prod / "server" / "store" / "jobs" / job_id / "workspace.zip")
    with workspace, workspace.open("models/final_model.npz") as final, np.load(final) as saved:
        expected = np.random.default_rng(megabytes).random(megabytes * (1 << 20) // 4, dtype=np.float32)
        for _ in range(rounds):
            expected += 1
        exact = bool(np.array_equal(saved["weights"], expected))
    sess.delete_job(job_id)
    per_round = statistics.median(seconds)
    return {"megabytes": megabytes, "rounds": rounds, "round_seconds": seconds, "per_round": per_round,
            "mbps": 4 * megabytes * 1.048576 / per_round, "total": total, "exact": exact, "idle": idle,
            "peak": memory.peak, "cpu_seconds": cpu, "load": load,
            # Traffic per CPU-second of every process (daemons and job processes, the whole job):
            # what the machine would give with that many cores free, whatever else was running.
            "mb_per_cpu_second": 4 * megabytes * 1.048576 * rounds / cpu if cpu else 0.0}


PEER_SIZES = (1, 100)
PEER_ROUNDS = 3
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_FLARE_ROUND = re.compile(r"^(\S+ \S+) .*Round (\d+) (started|finished)\.")


def _flare_run(poc, root: Path, megabytes: int) -> dict:
    from nvflare_peer import MARKER_VAR as POC_MARKER
    from nvflare_peer import marked_pids
    from peer_jobs import sag_big_model_job

    start = root / f"start-{megabytes}.npy"
    np.save(start, np.random.default_rng(megabytes).random(megabytes * (1 << 20) // 4, dtype=np.float32))
    job = sag_big_model_job(root / f"sag-{megabytes}mb", start, PEER_ROUNDS, f"fedavg-{megabytes}mb")
    out = root / f"flare-{megabytes}.json"
    load = os.getloadavg()[0]
    peaks: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            for pid in marked_pids(poc.marker):
                peaks[pid] = max(peaks.get(pid, 0.0), _status_kib(pid, "VmHWM:") / 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        env = {k: v for k, v in poc.env.items() if k != POC_MARKER}
        done = subprocess.run([str(poc.python), str(Path(__file__).parent / "peer_measure.py"), "--api", "nvflare",
                               "--user", poc.admin, "--kit", str(poc.admin_kit), "--phase", "fedavg", "--job", str(job),
                               "--out", str(out)], env=env, capture_output=True, text=True, timeout=3600)
    finally:
        stop.set()
        sampler.join()
    if done.returncode != 0:
        raise RuntimeError(f"FLARE's FedAvg run failed:\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    # FLARE zips the server's run folder into its job store when the job ends.
    archive = poc.root / "poc" / "jobs-storage" / result["job_id"] / "workspace"
    with zipfile.ZipFile(archive) as workspace:
        seconds = round_seconds(workspace.read("log.txt").decode(errors="replace"), _FLARE_ROUND, "started")
    return {"megabytes": megabytes, "status": result["status"], "total": result["seconds"], "load": load,
            "per_round": statistics.median(seconds) if seconds else None,
            "largest": max(peaks.values(), default=0.0), "sum": sum(peaks.values())}


def peer_main() -> int:
    from nvflare_peer import NVFLARE_VERSION, running_poc

    ours, theirs = [], []
    with scratch() as root:
        prod = make_project(root)
        with running_server(prod, ("site-1", "site-2")) as procs:
            daemons = {"server daemon": procs[0].pid, "site-1 daemon": procs[1].pid, "site-2 daemon": procs[2].pid}
            with new_secure_session(ADMIN, str(prod / ADMIN), timeout=30) as sess:
                for megabytes in PEER_SIZES:
                    ours.append(run_size(sess, prod, daemons, root, megabytes, PEER_ROUNDS))
        with running_poc() as poc:
            for megabytes in PEER_SIZES:
                theirs.append(_flare_run(poc, root, megabytes))
    header = ("FedAvg, 2 sites, 3 rounds", f"NVFlare {NVFLARE_VERSION}", "flare-console", "NVFlare / ours")
    rows = []
    for mine, their in zip(ours, theirs, strict=True):
        size = f"{mine['megabytes']} MiB float32"
        ratio = f"{their['per_round'] / mine['per_round']:.1f}x" if their["per_round"] else ""
        rows.append((f"{size}: seconds per round", _seconds(their["per_round"] or 0), _seconds(mine["per_round"]),
                     ratio))
        rows.append((f"{size}: submit -> finished", f"{their['total']:.1f} s", f"{mine['total']:.1f} s",
                     f"{their['total'] / mine['total']:.1f}x"))
        mine_sum = sum(mine["peak"].values())
        rows.append((f"{size}: peak RSS, all processes (sum)", f"{their['sum']:.0f} MiB", f"{mine_sum:.0f} MiB",
                     f"{their['sum'] / mine_sum:.1f}x"))
        rows.append((f"{size}: peak RSS, largest process", f"{their['largest']:.0f} MiB",
                     f"{max(mine['peak'].values()):.0f} MiB", ""))
        if their["status"] != "FINISHED:COMPLETED":
            rows.append((f"{size}: NVFlare's job ended", their["status"], "", ""))
    print_table("FedAvg with big models, side by side", rows, header=header)
    write_section("--peer", "FedAvg with big models, side by side", [
        "Written by `benchmarks/bench_models.py --peer` (run by `make bench-peer`). Both systems run",
        "FedAvg over 2 sites for 3 rounds on a float32 model of random values, each site adding 1 to",
        "every weight: FLARE with its hello-numpy-sag (ScatterAndGather, NPTrainer) starting from the",
        "model as a checkpoint, ours with the built-in FedAvg and the model inside the job. A round is",
        "timed in each server's log (FLARE: \"Round k started.\" to \"Round k finished.\"; ours:",
        "\"round k/n: sending\" to \"averaged\"). Memory: the peak resident set (VmHWM) of each process.",
        f"Load average when each system started: ours {ours[0]['load']:.1f}, NVFlare {theirs[0]['load']:.1f} "
        f"({os.cpu_count()} cores, shared).",
    ], header, rows)
    return 0


def write_section(name: str, title: str, intro: list[str], header: tuple[str, ...],
                  rows: list[tuple[str, ...]]) -> None:
    """Put (or replace) the section ``name`` at the end of docs/benchmarks.md, between markers that
    bench_peer.py keeps when it rewrites the rest."""
    start, end = f"<!-- bench_models {name} -->", f"<!-- /bench_models {name} -->"
    section = [start, f"## {title}", "", *intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
               *["| " + " | ".join(row) + " |" for row in rows], end]
    text = REPORT.read_text() if REPORT.is_file() else ""
    if start in text and end in text:
        text = text[:text.index(start)] + text[text.index(end) + len(end):].lstrip("\n")
    REPORT.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 512], help="model sizes in MiB")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per size (default: 5, 3, 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--peer", action="store_true", help="side by side with NVIDIA FLARE's POC (100 MiB)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.peer:
        return peer_main()
    results = []
    with scratch() as root:
        prod = make_project(root)
        with running_server(prod, ("site-1", "site-2")) as procs:
            daemons = {"server daemon": procs[0].pid, "site-1 daemon": procs[1].pid, "site-2 daemon": procs[2].pid}
            with new_secure_session(ADMIN, str(prod / ADMIN), timeout=30) as sess:
                warm_up(sess, root)
                for megabytes in args.sizes:
                    rounds = args.rounds or ROUNDS.get(megabytes, 2)
                    results.append(run_size(sess, prod, daemons, root, megabytes, rounds))
                    print(f"{megabytes} MiB: {_seconds(results[-1]['per_round'])}/round", file=sys.stderr)
    rows = []
    for r in results:
        size = f"{r['megabytes']} MiB float32"
        rows.append((f"{size}: seconds per round", _seconds(r["per_round"]), "", str(r["rounds"])))
        rows.append((f"{size}: model traffic", f"{r['mbps']:.0f} MB/s", f">= {TARGET_MBPS:.0f} MB/s",
                     str(r["rounds"])))
        rows.append((f"{size}: model traffic per CPU-second (all processes)", f"{r['mb_per_cpu_second']:.0f} MB",
                     "", "1"))
        rows.append((f"{size}: final model exact", "yes" if r["exact"] else "NO", "yes", "1"))
        for role in sorted(r["peak"]):
            idle = r["idle"].get(role)
            note = f" (idle {idle:.0f})" if idle is not None else ""
            rows.append((f"{size}: peak RSS, {role}", f"{r['peak'][role]:.0f} MiB{note}", "", "1"))
    loads = ", ".join(f"{r['load']:.1f}" for r in results)
    print_table(f"FedAvg, 2 sites on loopback (mTLS), float32 models; {os.cpu_count()} cores, "
                f"load average at each start: {loads}", rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not args.no_docs:
        write_section(f"sizes {' '.join(map(str, args.sizes))}",
                      f"FedAvg model traffic, {' / '.join(f'{m} MiB' for m in args.sizes)}", [
                          "Written by `benchmarks/bench_models.py` (`make bench`; the 1 GB run by hand:",
                          "`--sizes 1024 --rounds 2`). Our server and 2 sites on loopback (mTLS), the built-in",
                          "FedAvg, each site adding 1 to every weight of a float32 model. Traffic = model size x 2",
                          "sites x 2 directions per round, after one unmeasured warm-up job (1 MiB, 2 rounds) on",
                          "the freshly started server and sites. RSS: each process's peak (VmHWM); daemons' idle RSS",
                          f"in brackets. {os.cpu_count()} cores shared with other work: load average at each start "
                          f"{loads}; per CPU-second counts every process of the job, setup and teardown included.",
                      ], ("measure", "median", "target", "runs"), rows)
    return 0 if all(r["exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
