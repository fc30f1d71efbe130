"""Who ends a job's escapee left under PID 1 while another workspace's daemons run: a trace, not a timing.

    python benchmarks/trace_leftover_sweeps.py [--tries N] [--order kill|stop] [--hold S]   # Linux, root, perf

Workspace B: a server and two sites running, as another test's federation. Workspace A, N times: a
server runs a job whose code starts an escapee (its own session, empty environment) that ends the server
and the job process with SIGKILL (``kill``: the server first, as a hostile job would; ``stop``: the job
process stopped first, as tests/test_job_confinement.py's escapee does), so it lives on under PID 1;
after ``--hold`` seconds (B's sweeps run every 2 s) a server of A starts again. Every SIGKILL on the
machine is traced (``perf``, ``signal:signal_generate``). Per try: the escapee's mark as
``/proc/PID/limits`` read it (message queue and real-time hard limits), A's tag, the owner the sweep
reads, and which process ended the escapee (A's job process, A's server started again, B's server or
a site, or another process of the machine). Session 11: with ``--order kill`` 5 of 40 escapees were
ended by their own job process (it saw its daemon gone between the two kills), none by B.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from escapee import escapee_job, server_on_trigger  # noqa: E402

from console.flare_api import new_secure_session  # noqa: E402
from console.runtime import job_mark  # noqa: E402

from conftest import ADMIN, ServerProcess, make_project, running_federation, wait_until  # noqa: E402


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(parent: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (_stat(int(e.name)) or ["", ""])[1] == str(parent)]


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"


def _mark(pid: int) -> str:
    """The escapee's mark as /proc/PID/limits shows it: hard message queue and real-time limits."""
    rows = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith(("Max msgqueue size", "Max realtime timeout")):
                rows[line.split()[1]] = line.split()[-2]
    return f"msgqueue {rows.get('msgqueue', '?')} rttime {rows.get('realtime', '?')}"


def one_try(root: Path, stop_first: bool, hold: float, who: dict[int, str]) -> dict[str, object]:
    pidfile, trigger = root / "escapee.pid", root / "start-again"
    folder = escapee_job(root, pidfile, stop_first=stop_first)
    project = make_project(root / "project")
    server, again = ServerProcess(project.server_kit), server_on_trigger(project.server_kit, trigger)
    row: dict[str, object] = {"tag": job_mark.workspace_tag(project.server_kit)}
    try:
        server.start()
        again.start(wait=False)
        who.update({server.process.pid: "A's server", again.process.pid: "A's server started again"})
        with contextlib.closing(new_secure_session(ADMIN, str(project.admin_kit), timeout=10)) as session:
            session.submit_job(str(folder))
            wait_until(pidfile.is_file, 30, "the escapee")
        escapee = int(pidfile.read_text())
        stat = _stat(escapee)
        if stat is not None:
            who[int(stat[1])] = "A's job process"
        row.update(escapee=escapee, mark=_mark(escapee))
        wait_until(lambda: server.process.poll() is not None and (_stat(escapee) or ["", "1"])[1] == "1", 30,
                   "the server and the job process ended")
        row["owner read"] = job_mark.owner(escapee) if _alive(escapee) else "(ended)"
        if _alive(escapee):
            time.sleep(hold)
        trigger.touch()
        wait_until(lambda: not _alive(escapee), 10, "the escapee ended")
        return row
    finally:
        trigger.touch()
        for part in (again, server):
            part.stop()
            part.kill()


def senders(trace: Path) -> dict[int, list[int]]:
    """target pid -> the pids that sent it SIGKILL, from the perf trace."""
    script = subprocess.run(["perf", "script", "-i", str(trace), "-F", "pid,trace"], capture_output=True,
                            text=True, check=True).stdout
    found: dict[int, list[int]] = {}
    for line in script.splitlines():
        fields = line.split()
        target = next((int(f[4:]) for f in fields if f.startswith("pid=")), None)
        if target is not None and fields and fields[0].isdigit():
            found.setdefault(target, []).append(int(fields[0]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--order", choices=["kill", "stop"], default="kill")
    parser.add_argument("--hold", type=float, default=2.5, help="seconds the escapee is left under PID 1")
    args = parser.parse_args()
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("perf"):
        print("needs Linux, root (perf traces every process's signals) and perf", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="trace-sweeps-"))
    trace = work / "signals.data"
    perf = subprocess.Popen(["perf", "record", "-q", "-o", str(trace), "-e", "signal:signal_generate",
                             "--filter", "sig == 9", "-a"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    who: dict[int, str] = {}
    rows = []
    try:
        time.sleep(1)  # perf attached
        with running_federation(make_project(work / "B")) as (b_server, _):
            who[b_server.process.pid] = "B's server"
            for pid in _children(os.getpid()):
                who.setdefault(pid, "B's site")
            for n in range(args.tries):
                rows.append(one_try(work / f"A{n}", args.order == "stop", args.hold, who))
    finally:
        perf.send_signal(2)
        perf.wait(60)
    killed_by = senders(trace)
    print(f"{'try':>3}  {'escapee':>7}  {'A tag':>6}  {'mark read':<40}  {'owner read':>10}  ended by")
    tally: dict[str, int] = {}
    for n, row in enumerate(rows):
        by = sorted({who.get(pid, f"pid {pid}, of neither workspace") for pid in killed_by.get(row["escapee"], [])})
        ended = ", ".join(by) or "?"
        tally[ended] = tally.get(ended, 0) + 1
        print(f"{n:>3}  {row['escapee']:>7}  {row['tag']:>6}  {row['mark']:<40}  {row['owner read']!s:>10}  {ended}")
    for ended, count in sorted(tally.items(), key=lambda item: -item[1]):
        print(f"{count:>3} of {len(rows)} ended by {ended}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
