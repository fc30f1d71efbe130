"""``flare-console demo`` end to end with piped stdin: provision once, federate, run the batch, stop."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
from pathlib import Path

import pexpect
import pytest
from shell_helpers import CONSOLE, PROMPT, console_env, run_console

from console.invocation import console_command

from jobs import hello_server


def test_demo_federates_runs_a_batch_and_reuses_its_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    first = run_console(tmp_path, "demo", "--workspace", str(workspace),
                        stdin="submit_job hello-numpy\ncheck_status client\n")
    assert first.returncode == 0, first.stderr
    assert "demo stopped: server and sites are down" in first.stdout
    job_id = next(line for line in first.stdout.splitlines() if line.startswith("Submitted job: ")).split()[-1]
    assert "site-1" in first.stdout and "site-2" in first.stdout  # both sites were connected

    second = run_console(tmp_path, "demo", "--workspace", str(workspace),
                         stdin=f"monitor_job {job_id} --interval 0.2\nlist_jobs\n")
    assert sorted(p.name for p in (workspace / "demo_project").glob("prod_*")) == ["prod_00"]
    # The job submitted by the first run was abandoned when it stopped, or finished first: monitor_job
    # fails the batch (exit 1) unless it completed.
    assert f"{job_id[:8]}  hello-numpy  FINISHED:" in second.stdout
    completed = f"{job_id[:8]}  hello-numpy  FINISHED:COMPLETED" in second.stdout
    assert second.returncode == (0 if completed else 1), second.stderr


@pytest.mark.timeout(180)
def test_one_demo_per_workspace_and_bye_asks_while_its_job_runs(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    # Through a shell, as from a terminal: killing the demo then leaves the terminal (and its parts) alive.
    demo = pexpect.spawn("/bin/sh", ["-c", f"'{CONSOLE}' demo --workspace '{workspace}'; echo demo-ended"],
                         env=console_env(tmp_path, NO_COLOR="1"), encoding="utf-8", timeout=60, dimensions=(40, 160))
    try:
        demo.expect_exact("are up")
        demo.expect(PROMPT)
        # A second demo in the same workspace starts nothing: it says where the first one is.
        second = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin="list_jobs\n")
        assert second.returncode == 2
        assert "a demo is already running in" in second.stderr and "flare-console --kit" in second.stderr
        assert "demo stopped" not in second.stdout  # it stopped nothing: it started nothing
        # --stop refuses while the demo's console is open: it names that process and how to leave it.
        owner = json.loads((workspace / "demo-running.json").read_text())["owner"]
        refused = run_console(tmp_path, "demo", "--stop", "--workspace", str(workspace))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"its console, flare-console process {owner} (started at" in refused.stderr
        assert "leave that console (bye, Ctrl-D)" in refused.stderr
        # Named as it runs here (a path when flare-console is not on PATH), the workspace quoted for a shell.
        assert f"{console_command()} demo --stop --force --workspace {shlex.quote(str(workspace))}" in refused.stderr
        demo.send("check_status client\r")  # the first demo's sites were never replaced, nor stopped
        demo.expect_exact("site-2")
        demo.expect(PROMPT)
        # bye while a job runs asks first, also one submitted from another console (a batch); no stays.
        kit = workspace / "demo_project" / "prod_00" / "admin@example.com"
        long_job = hello_server(tmp_path, name="long-job", steps=300, step_seconds=0.3)
        batch = run_console(tmp_path, "--kit", str(kit), "-c", f"submit_job {long_job}")
        assert batch.returncode == 0, batch.stderr
        job = next(line for line in batch.stdout.splitlines() if line.startswith("Submitted job: ")).split()[-1]
        demo.send("bye\r")
        demo.expect_exact(f"job {job[:8]} (long-job, ")
        # (queued for a moment before its sites take it: then said so, with its own fate)
        demo.expect(r"(still running|queued, not started): leaving stops the demo's server and sites")
        demo.send("n\r")
        demo.expect_exact("staying")
        demo.expect(PROMPT)
        # Its server killed from another terminal: said above the prompt, with what to do.
        parts = json.loads((workspace / "demo-running.json").read_text())["parts"]
        os.kill(parts["server"], signal.SIGKILL)
        demo.expect_exact(f"demo: the server (pid {parts['server']}) ended: killed by SIGKILL")
        demo.expect(r"start\s+the\s+demo\s+again")
        # Killed hard: its sites are left behind, and the next demo says so instead of attaching.
        os.kill(json.loads((workspace / "demo-running.json").read_text())["owner"], signal.SIGKILL)
        demo.expect_exact("demo-ended")
        third = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin="list_jobs\n")
        assert third.returncode == 2 and "its console is gone" in third.stderr and "demo --stop" in third.stderr
        stopped = run_console(tmp_path, "demo", "--stop", "--workspace", str(workspace))
        assert stopped.returncode == 0 and "stopped the demo's site-1, site-2" in stopped.stdout, stopped.stdout
        fourth = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin="check_status client\n")
        assert fourth.returncode == 0, fourth.stderr
        assert "demo stopped: server and sites are down" in fourth.stdout
    finally:
        demo.terminate(force=True)
        run_console(tmp_path, "demo", "--stop", "--workspace", str(workspace))


@pytest.mark.timeout(120)
def test_bye_with_a_server_that_does_not_answer_asks_within_seconds_and_ctrl_c_leaves(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    demo = pexpect.spawn(CONSOLE, ["demo", "--workspace", str(workspace)], env=console_env(tmp_path, NO_COLOR="1"),
                         encoding="utf-8", timeout=60, dimensions=(40, 160))
    server = 0
    try:
        demo.expect_exact("are up")
        demo.expect(PROMPT)
        demo.send("submit_job hello-numpy\r")
        demo.expect(r"Submitted job: ([0-9a-f]{8})")
        job = demo.match.group(1)
        demo.expect(PROMPT)
        # A site killed from another terminal: said above the prompt (which stays), with what to do.
        site = json.loads((workspace / "demo-running.json").read_text())["parts"]["site-2"]
        os.kill(site, signal.SIGKILL)
        demo.expect_exact(f"demo: site-2 (pid {site}) ended: killed by SIGKILL")
        demo.expect(r"start\s+the\s+demo\s+again")
        server = json.loads((workspace / "demo-running.json").read_text())["parts"]["server"]
        os.kill(server, signal.SIGSTOP)  # the server stops answering; its connections stay open
        # bye: the wait for the server's word is said, bounded, then asked about as unknown.
        demo.send("bye\r")
        demo.expect_exact("asking the server whether jobs still run (at most 3 s; "
                          "Ctrl-C leaves without asking)", timeout=10)
        demo.expect_exact(f"the server did not say within 3 s whether job {job} still runs: leaving stops the "
                          "demo's server and sites", timeout=15)
        demo.expect_exact("anyway? [y/N]")  # (the question wraps)
        demo.send("n\r")
        demo.expect_exact("staying")
        demo.expect(PROMPT)
        # bye again, and Ctrl-C while it waits: the console leaves without the server's word.
        demo.send("bye\r")
        demo.expect_exact("asking the server whether jobs", timeout=10)
        demo.sendintr()
        demo.expect_exact("leaving without the server's word on running jobs", timeout=10)
        # Its stop takes the stopped server too: well within SIGTERM's 15 s grace (it is continued to act on it).
        demo.expect_exact("demo stopped: server and sites are down", timeout=12)
        demo.expect(pexpect.EOF, timeout=30)
        demo.close()
        assert demo.exitstatus == 0
    finally:
        if server:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server, signal.SIGCONT)
        demo.terminate(force=True)
        run_console(tmp_path, "demo", "--stop", "--workspace", str(workspace))


def test_a_taken_port_is_named_with_what_to_do(tmp_path: Path) -> None:
    from console import demo_guard
    from console.demo import ensure_project

    workspace = tmp_path / "demo"
    prod = ensure_project(workspace)
    admin_port = demo_guard.server_ports(prod)["admin port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", admin_port))
        squatter.listen()
        result = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin="list_jobs\n")
    assert result.returncode == 2
    assert f"port {admin_port} (the demo server's admin port) is taken by another program" in result.stderr
    assert "flare-console demo --reset" in result.stderr
    assert "demo stopped" not in result.stdout
    reset = run_console(tmp_path, "demo", "--reset", "--workspace", str(workspace), stdin="check_status client\n")
    assert reset.returncode == 0, reset.stderr
    assert "provisioned afresh" in reset.stdout and "site-2" in reset.stdout


def test_stop_force_stops_the_parts_of_a_demo_whose_console_is_open(tmp_path: Path) -> None:
    """The record's parts and owner are stand-in processes (named like ours): --force stops the parts only."""
    import subprocess
    import sys

    from console import demo_guard

    def stand_in() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "console"])

    owner, site = stand_in(), stand_in()
    try:
        root = tmp_path / "demo"
        root.mkdir()
        (root / demo_guard.RECORD).write_text(json.dumps({"owner": owner.pid, "started": 0, "admin_kit": "",
                                                          "parts": {"site-1": site.pid}}))
        refused = run_console(tmp_path, "demo", "--stop", "--workspace", str(root))
        assert refused.returncode == 1 and f"flare-console process {owner.pid}" in refused.stderr
        assert site.poll() is None
        # Not a FLARE demo's record: the FLARE side neither claims nor removes it.
        assert demo_guard.flare_running(root) is None and (root / demo_guard.RECORD).exists()
        forced = run_console(tmp_path, "demo", "--stop", "--force", "--workspace", str(root))
        assert forced.returncode == 0 and "stopped the demo's site-1" in forced.stdout, forced.stderr
        assert site.wait(15) is not None and owner.poll() is None  # the console is the user's to leave
        assert not (root / demo_guard.RECORD).exists()
        alone = run_console(tmp_path, "demo", "--force")
        assert alone.returncode == 2 and "--force goes with --stop" in alone.stderr
    finally:
        for proc in (owner, site):
            proc.kill()
            proc.wait()


def test_leaving_the_demo_tells_each_job_state_what_becomes_of_it() -> None:
    """Session 12: bye with a queued (SUBMITTED) job said it would end FINISHED:ABANDONED, yet ours keeps it and
    runs it at the next start. Running ones end ABANDONED (FLARE: stopped); queued ones are told their own fate."""
    from console.commands import Engine
    from console.shell.leaving import fates, unfinished_jobs, unknown_fates

    rows = [{"job_id": "a" * 32, "name": "long-job", "status": "RUNNING"},
            {"job_id": "b" * 32, "job_name": "waits", "status": "SUBMITTED"},
            {"job_id": "c" * 32, "name": "sent", "status": "DISPATCHED"},
            {"job_id": "d" * 32, "name": "done", "status": "FINISHED:COMPLETED"}]
    jobs = unfinished_jobs(rows)
    assert jobs.running == ["aaaaaaaa (long-job, RUNNING)", "cccccccc (sent, DISPATCHED)"]
    assert jobs.queued == ["bbbbbbbb (waits, SUBMITTED)"]
    assert fates(unfinished_jobs(rows[1:2]), Engine.OURS) == (
        "job bbbbbbbb (waits, SUBMITTED) queued, not started: leaving stops the demo's server and sites, and it "
        "stays queued and runs when the demo starts again.")
    assert "ABANDONED" not in fates(unfinished_jobs(rows[1:2]), Engine.OURS)
    assert fates(jobs, Engine.OURS) == (
        "jobs aaaaaaaa (long-job, RUNNING), cccccccc (sent, DISPATCHED) still running; job bbbbbbbb (waits, "
        "SUBMITTED) queued, not started: leaving stops the demo's server and sites, and the running ones end "
        "FINISHED:ABANDONED; the queued one stays queued and runs when the demo starts again.")
    assert fates(unfinished_jobs(rows[:1]), Engine.NVFLARE) == (
        "job aaaaaaaa (long-job, RUNNING) still running: leaving stops the demo's server and sites, and it is "
        "stopped unfinished.")
    assert unknown_fates(["bbbbbbbb"], 3.0, Engine.OURS).endswith(
        "a running job ends FINISHED:ABANDONED, a queued one stays queued and runs when the demo starts again.")
