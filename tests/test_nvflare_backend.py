"""Our console on a live NVIDIA FLARE 2.9 POC (the ``flare_poc`` fixture): batches and the pty shell.

The console runs with FLARE's venv interpreter from this checkout, through FLARE's own
flare_api Session; the POC is shared by the session, so each test submits its own jobs.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import pexpect
import pytest
from nvflare_poc import LiveFlare

from conftest import EXAMPLES, wait_until

JOB = str(EXAMPLES / "hello-numpy-sag")
SUBMITTED = re.compile(r"Submitted job: ([0-9a-f-]{36})")
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")


def _ok(done, *want: str) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    for text in want:
        assert text in done.stdout, f"{text!r} not in:\n{done.stdout}"
    return done.stdout


def _submit(flare: LiveFlare, home: Path) -> str:
    """Submitted as a script would: the job ID is a field of the JSON answer, the sentence beside it."""
    answer = json.loads(_ok(flare.run_console(home, "--format", "json", "-c", f"submit_job {JOB}", timeout=120)))
    assert SUBMITTED.fullmatch(answer["message"]) and answer["message"].endswith(answer["job_id"]), answer
    return answer["job_id"]


@pytest.mark.timeout(300)
def test_a_batch_drives_flare_end_to_end(flare_poc: LiveFlare, tmp_path: Path) -> None:
    sites = flare_poc.sites
    status = _ok(flare_poc.run_console(tmp_path, stdin="# status first\ncheck_status server\n\ncheck_status client\n"),
                 "engine_status", *sites)
    assert "no_jobs" in status or "RUNNING" in status or "started" in status

    job = _submit(flare_poc, tmp_path)
    assert not list(Path(JOB).rglob(".__nvfl_*")), "FLARE signed a copy, not the user's folder"
    short = job[:8]  # a unique prefix is enough everywhere
    dest = tmp_path / "downloads"
    batch = "\n".join([
        f"monitor_job {short} --interval 0.2 --timeout 150",
        f"get_job_meta {short}",
        f"download_job {short} {dest}",
        f"get_job_logs {short} -n 20",
        f"get_job_logs {short} {sites[0]}",
        "pwd server",
        f"ls {sites[0]}",
        f"head {sites[0]} -n 1 {job}/log.txt",  # where follow's 'passed over' note says a site's whole log is
        "tail server -n 3 log.txt",
        "report_version all",
        "sys_info client",
        "list_jobs -r -m 2",
        "list_jobs -rm1 -nhello",  # as FLARE's own console (argparse) takes them: a bundle, attached values
        "list_jobs -m=1 -d",
    ])
    out = _ok(flare_poc.run_console(tmp_path, stdin=batch, timeout=200),
              f"Downloaded to {dest / job}", "== server ==", f"== {sites[0]}",  # its log, or FLARE saying why not
              "2.9.0", str(flare_poc.admin_kit.parent / "server"))
    lines = [line for line in out.splitlines() if re.match(rf"\d\d:\d\d:\d\d  {short}  hello-numpy-sag  ", line)]
    assert lines[-1].endswith("FINISHED:COMPLETED"), out
    assert len(lines) == len({line.split()[-1] for line in lines})  # a line only when the status changed
    assert re.search(rf"^job_id +{job}$", out, re.M)  # the meta as an aligned record
    assert re.search(r"^status +FINISHED:COMPLETED$", out, re.M)
    assert (dest / job).is_dir()
    # follow's 'passed over' note (monitors.whole_log): download_job has the server's whole log, and a site's
    # stays in its workspace as JOB_ID/log.txt, which head reads (its first line shown: no error in its place).
    assert any((dest / job).rglob("log.txt")), sorted(p.name for p in (dest / job).rglob("*"))
    assert not re.search(rf"{job}/log.txt: No such file", out), out
    # raw: FLARE's API answer as it came, the new job's ID alone.
    clone_id = _ok(flare_poc.run_console(tmp_path, "--format", "raw", "-c", f"clone_job {short}")).strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", clone_id) and clone_id != job, clone_id

    # The clone: abort (destructive: --yes in a batch), follow it to the end, delete it.
    # monitor_job fails a batch whose job ended other than COMPLETED, and so does follow (its log shown
    # first): --continue-on-error goes on to the delete.
    done = flare_poc.run_console(tmp_path, "--yes", "--format", "json", "--continue-on-error", stdin="\n".join([
        f"abort_job {clone_id[:8]}",
        f"monitor_job {clone_id[:8]} --interval 0.2 --timeout 90",
        f"follow {clone_id[:8]}",
        f"delete_job {clone_id[:8]}",
    ]), timeout=150)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"<stdin>:2: monitor_job {clone_id[:8]} --interval 0.2 --timeout 90: job {clone_id} " in done.stderr
    assert f"<stdin>:3: follow {clone_id[:8]}: job {clone_id} " in done.stderr
    assert done.stderr.count("ended FINISHED:ABORTED, not FINISHED:COMPLETED") == 2, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"event"')]
    assert events and events[-1]["job_id"] == clone_id and events[-1]["status"].startswith("FINISHED:")

    listed = json.loads(_ok(flare_poc.run_console(tmp_path, "--format", "json", "-c", "list_jobs")))
    assert job in {row["job_id"] for row in listed} and clone_id not in {row["job_id"] for row in listed}

    # Failures: an unknown job exits 1 and says so; without --yes a destructive command fails too.
    unknown = flare_poc.run_console(tmp_path, "-c", f"get_job_meta {clone_id}")
    assert unknown.returncode == 1 and "JobNotFound" in unknown.stderr
    refused = flare_poc.run_console(tmp_path, "-c", f"delete_job {job}")
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    flare_only = flare_poc.run_console(tmp_path, "-c", f"list_job_components {short}", "-c", "help")
    assert flare_only.returncode == 0 and "list_job_components" in flare_only.stdout


def _seen_all(shell: pexpect.spawn, seen: io.StringIO, pattern: re.Pattern[str], keys: set[str],
              timeout: float) -> dict[str, str]:
    """Read the shell's output until ``pattern`` matched once per key (group 1 -> group 2)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {m.group(1): m.group(2) for m in pattern.finditer(seen.getvalue())}
        if keys <= set(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no line for {keys - set(found)} within {timeout} s:\n{seen.getvalue()[-3000:]}")
        shell.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.5)  # reads (and logs) what arrived


@pytest.mark.timeout(480)
def test_the_shell_on_flare_completes_monitors_and_leaves(flare_poc: LiveFlare, tmp_path: Path) -> None:
    job = _submit(flare_poc, tmp_path)  # before the shell starts: completion must fetch it from FLARE
    scratch = tmp_path / "tmp"  # the console's temporary folders: FLARE's submit stages a copy here
    scratch.mkdir()
    shell = flare_poc.spawn_console(tmp_path, NO_COLOR="1", TMPDIR=str(scratch))
    seen = io.StringIO()
    shell.logfile_read = seen
    try:
        shell.expect(PROMPT, timeout=60)

        # Job-ID completion from FLARE's list_jobs (fetched in the background after login).
        for _ in range(50):
            shell.send(f"get_job_meta {job[:6]}\t")
            try:
                shell.expect_exact(job[-12:], timeout=0.5)
                break
            except pexpect.TIMEOUT:
                shell.sendcontrol("c")  # not fetched yet: clear the line, try again
        else:
            raise AssertionError("the job ID was never completed")
        shell.send("\r")
        shell.expect(rf"job_id +{job}")  # the meta as an aligned record
        shell.expect(PROMPT)

        # Two background monitors on one shared poll: a job just submitted here (its changes come
        # while we type) and the first one (maybe over already: its final line comes at once).
        shell.send(f"submit_job {JOB}\r")
        shell.expect(SUBMITTED)
        other = shell.match.group(1)
        shell.expect(PROMPT)
        for followed in (other, job):
            shell.send(f"monitor_job {followed[:8]}\r")
            shell.expect_exact("in the background")
            shell.expect(PROMPT)
        shell.send("check_stat")
        final = re.compile(rf"\d\d:\d\d:\d\d  ({job[:8]}|{other[:8]})  hello-numpy-sag  (FINISHED:\w+)")
        ended = _seen_all(shell, seen, final, {job[:8], other[:8]}, timeout=300)
        assert ended == {job[:8]: "FINISHED:COMPLETED", other[:8]: "FINISHED:COMPLETED"}
        shell.send("us server\r")  # the half-typed line survived the lines printed above it
        shell.expect_exact("engine_status")
        shell.expect(PROMPT)
        shell.send("monitors\r")
        shell.expect_exact("no monitors running")

        # A read-only answer is shown where it arrives (FLARE's worker thread, console/shell/early.py):
        # each exactly once, each before the next prompt, nothing printed late.
        before = seen.getvalue().count("engine_status")
        for _ in range(3):
            shell.send("check_status server\r")
            shell.expect_exact("engine_status")
            shell.expect(PROMPT)
        shell.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.5)  # reads what came after
        assert seen.getvalue().count("engine_status") == before + 3

        # Ctrl-C once FLARE's submit runs (on the backend's worker) cannot stop it: the shell says so at
        # once and gives the prompt back, never "cancelled"; the job's ID follows as a background line.
        big = tmp_path / "big-job"
        shutil.copytree(JOB, big)
        (big / "app" / "custom").mkdir()
        (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(40 << 20))
        shell.send(f"submit_job {big}\r")
        wait_until(lambda: list(scratch.glob("flare-console-submit-*")), 30, "FLARE's submit to start")
        shell.sendcontrol("c")
        shell.expect_exact("submit_job: Ctrl-C came after FLARE's submit had started, and FLARE cannot stop it: "
                           "it goes on; its outcome shows here when it ends", timeout=60)
        assert "cancelled" not in shell.before
        shell.expect(PROMPT)  # before the outcome: the prompt is back while FLARE's call goes on
        shell.expect(r"\d\d:\d\d:\d\d  submit_job went on after Ctrl-C: submitted as ([0-9a-f-]{36})", timeout=120)
        late = shell.match.group(1)
        shell.expect(PROMPT)  # drawn again below the line
        shell.send(f"abort_job {late[:8]} --yes\r")  # it would only slow the tests after this one
        shell.expect(PROMPT)

        # help shows FLARE's commands; Ctrl-C clears a line and the shell stays.
        shell.send("help list_job_components\r")
        shell.expect_exact("usage: list_job_components JOB_ID")
        shell.send(f"abort_job {job[:8]}")
        shell.sendcontrol("c")
        shell.send("pwd server\r")
        shell.expect_exact(str(flare_poc.admin_kit.parent / "server"))
        shell.expect(PROMPT)
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=30)
        shell.close()
        assert shell.exitstatus == 0
    finally:
        if shell.isalive():
            shell.terminate(force=True)


@pytest.mark.timeout(120)
def test_an_unreachable_flare_server_is_named_with_what_to_check(flare_poc: LiveFlare, tmp_path: Path) -> None:
    """As on our engine: the kit's host:port and what to check, not FLARE's bare 'cannot connect to server'."""
    from console.ports import free_port

    kit = tmp_path / "kit"
    shutil.copytree(flare_poc.admin_kit, kit)
    config_path = kit / "startup" / "fed_admin.json"
    config = json.loads(config_path.read_text())
    config["admin"]["port"] = port = free_port()  # nothing listens there
    config_path.write_text(json.dumps(config))
    done = flare_poc.run_console(tmp_path, "--kit", str(kit), "--timeout", "1", "-c", "list_jobs", kit=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (f"flare-console: NoConnection: cannot connect to the FLARE server at "
                                   f"{config['admin']['host']}:{port} within 1 s; is the server running and is "
                                   "the kit's host/port right?"), done.stderr
