"""Batch mode of the installed ``flare-console``: output and every exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from shell_helpers import CONSOLE, console_env, run_console

from conftest import EXAMPLES
from jobs import hello_server, waiting_for_sites


def test_commands_run_in_order_with_plain_output(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    job = hello_server(tmp_path, steps=2, step_seconds=0.1)
    result = run_console(tmp_path, "--kit", kit, "-c", f"submit_job {job}", "-c", "list_jobs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Submitted job: ")
    job_id = lines[0].split(": ")[1]
    assert lines[1].split() == ["job_id", "job_name", "status", "submit_time", "duration", "study"]
    assert lines[3].startswith(job_id)

    script = tmp_path / "script.txt"
    script.write_text(f"# follow the job to its end\n\nmonitor_job {job_id[:8]} --interval 0.2\n"
                      f"get_job_meta {job_id}\ncheck_status all\n")
    result = run_console(tmp_path, "--kit", kit, "-f", str(script))
    assert result.returncode == 0, result.stderr
    assert "FINISHED:COMPLETED" in result.stdout
    # all: the server's status and every site's (none connected here) in one record, as FLARE 2.9's
    assert re.search(r"^engine_status +stopped", result.stdout, re.M) and "client_status" in result.stdout
    assert f"{job_id[:8]}  hello-server" in result.stdout  # a status line
    assert re.search(r"^status +FINISHED:COMPLETED$", result.stdout, re.M)  # the meta as a record
    # top in a batch: one snapshot as text, as top -b -n 1 (was refused: "needs a terminal").
    result = run_console(tmp_path, "--kit", kit, "-c", "top")
    assert result.returncode == 0, result.stderr
    assert "flare-console top" in result.stdout and re.search(rf"^{job_id[:8]}\S*\s+hello-server\s+FINISHED",
                                                              result.stdout, re.M), result.stdout


def test_top_in_a_batch_writes_whole_rows_and_no_terminal_warning(server, project, tmp_path: Path) -> None:
    """Session 12, item 3: ``flare-console --kit KIT -c top </dev/null > f`` wrote prompt_toolkit's "Input is not
    a terminal" on stderr and cut rows to 80 columns ('…'). As ``top -b``: rows whole, wider than any terminal
    width the environment names, and nothing on stderr."""
    kit = str(project.admin_kit)
    name = "a-job-whose-name-is-longer-than-what-eighty-columns-leave-for-it-" + "x" * 20
    submitted = run_console(tmp_path, "--kit", kit, "-c", f"submit_job {hello_server(tmp_path, name=name, steps=1)}")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split("Submitted job: ")[1].split()[0]
    result = subprocess.run([CONSOLE, "--kit", kit, "-c", "top"], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60, env=console_env(tmp_path, COLUMNS="80"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(job_id[:8]))
    assert f"{job_id[:8]}  {name} " in row and "\u2026" not in row and len(row) > 80, result.stdout
    assert "flare-console top" in result.stdout.splitlines()[0]


def test_stdin_batch_and_json_format(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    result = run_console(tmp_path, "--kit", kit, "--format", "json",
                         stdin=f"submit_job {EXAMPLES / 'hello-server'}\nlist_jobs\n")
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split("\n", 1)
    submitted = json.loads(first)
    # The job ID is a field: a script reads it, never greps the sentence (which people still get).
    assert submitted == {"job_id": submitted["job_id"], "message": f"Submitted job: {submitted['job_id']}"}
    rows = json.loads(rest)
    assert rows[0]["job_name"] == "hello-server" and rows[0]["job_id"] == submitted["job_id"]

    cloned = run_console(tmp_path, "--kit", kit, "--format", "json", "-c", f"clone_job {submitted['job_id'][:8]}")
    assert cloned.returncode == 0, cloned.stderr
    clone = json.loads(cloned.stdout)
    assert clone["message"] == f"Cloned as job: {clone['job_id']}" and clone["job_id"] != submitted["job_id"]

    # raw: the engine's answer as its API returns it, the job ID alone (JOB=$(flare-console ... --format raw ...)).
    raw = run_console(tmp_path, "--kit", kit, "--format", "raw", "-c", f"clone_job {clone['job_id']}")
    assert raw.returncode == 0, raw.stderr
    assert re.fullmatch(r"[0-9a-f-]{36}\n", raw.stdout), raw.stdout


def test_failed_command_exits_1_and_stops(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    result = run_console(tmp_path, "--kit", kit, stdin="get_job_meta nope\nlist_jobs\n")
    assert result.returncode == 1
    assert "<stdin>:1: get_job_meta nope: JobNotFound: no such job: nope" in result.stderr
    assert result.stdout == ""  # stopped at the first failure
    result = run_console(tmp_path, "--kit", kit, "--continue-on-error", stdin="get_job_meta nope\nlist_jobs\n")
    assert result.returncode == 1 and "(none)" in result.stdout


def test_a_missing_file_or_a_bad_pattern_fails_the_batch(server, project, tmp_path: Path) -> None:
    """The tool's error line is the command's failure (exit 1), as on FLARE (test_nvflare_backend)."""
    result = run_console(tmp_path, "--kit", str(project.admin_kit), "--continue-on-error",
                         stdin="cat server nonexist.txt\nls server nonexist\ngrep server 'a[' log.txt\npwd server\n")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "<stdin>:1: cat server nonexist.txt: InvalidArgumentError: cat: nonexist.txt: No such file or " \
           "directory" in result.stderr
    assert "<stdin>:2: ls server nonexist: InvalidArgumentError: ls: cannot access 'nonexist'" in result.stderr
    assert "<stdin>:3: grep server 'a[' log.txt: InvalidArgumentError: grep: invalid pattern: " in result.stderr
    assert "<stdin>:4" not in result.stderr and result.stdout.strip(), result.stdout


def test_destructive_commands_need_yes(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    submitted = run_console(tmp_path, "--kit", kit, "-c", f"submit_job {waiting_for_sites(tmp_path)}")
    job_id = submitted.stdout.split(": ")[1].strip()
    result = run_console(tmp_path, "--kit", kit, "-c", f"abort_job {job_id}")
    assert result.returncode == 1 and "add --yes" in result.stderr
    result = run_console(tmp_path, "--kit", kit, "--yes", "-c", f"abort_job {job_id}", "-c", f"get_job_meta {job_id}")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^status +FINISHED:ABORTED$", result.stdout, re.M)
    result = run_console(tmp_path, "--kit", kit, "-c", f"delete_job {job_id} --yes")
    assert result.returncode == 0 and f"Deleted job {job_id}" in result.stdout


def test_bad_commands_fail_like_any_command(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    result = run_console(tmp_path, "--kit", kit, "-c", "lst_jobs", "-c", "list_jobs")
    assert result.returncode == 1 and "-c: unknown command 'lst_jobs'; did you mean list_jobs" in result.stderr
    assert result.stdout == ""  # stopped there
    result = run_console(tmp_path, "--kit", kit, "--continue-on-error",
                         stdin="get_job_meta\nlist_jobs -m 1; LIST_JOBS -x\nmonitors\n")
    assert result.returncode == 1
    assert "<stdin>:1: get_job_meta: JOB_ID is missing; usage: get_job_meta JOB_ID" in result.stderr
    assert "<stdin>:2: list_jobs: unknown option -x" in result.stderr
    assert "(none)" in result.stdout and "no monitors running" in result.stdout  # went past both
    # user10 #9: FLARE's list_job (list_job_components there) is list_jobs' typo here, not a FLARE command;
    # a '|' or '>' of the shell's says where pipes work, and how to pipe a batch.
    result = run_console(tmp_path, "--kit", kit, "--continue-on-error", stdin="list_job -m 1\n"
                         "get_job_meta nope | grep status\nlist_jobs > out.txt\nlist_jobs -n 'a|b'\n")
    assert result.returncode == 1
    assert "<stdin>:1: unknown command 'list_job'; did you mean list_jobs" in result.stderr, result.stderr
    assert "list_job_components" not in result.stderr
    console = f"(flare-console|{re.escape(CONSOLE)})"  # (as the PATH finds it, or the full path)
    assert re.search(re.escape("<stdin>:2: '|': pipes work in the interactive shell only; in a batch, pipe the "
                               "batch's own output: ") + console + re.escape(" ... -c 'get_job_meta nope' | grep status"),
                     result.stderr), result.stderr
    assert re.search(re.escape("<stdin>:3: '>': redirects work in the interactive shell only; in a batch, redirect "
                               "the batch's own output: ") + console + re.escape(" ... -c list_jobs > out.txt"),
                     result.stderr), result.stderr
    assert "(none)" in result.stdout and not (tmp_path / "out.txt").exists()  # a quoted '|' is a name's


def test_usage_connection_and_authentication_errors_exit_2(server, project, tmp_path: Path) -> None:
    kit = str(project.admin_kit)
    result = run_console(tmp_path, "--kit", kit, "--frobnicate", "-c", "list_jobs")
    assert result.returncode == 2 and "--frobnicate" in result.stderr
    result = run_console(tmp_path, "-c", "list_jobs")
    assert result.returncode == 2 and "no admin kit" in result.stderr
    result = run_console(tmp_path, "-c", "list_jobs", FLARE_KIT=str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "flare-console: $FLARE_KIT: " in result.stderr and "nowhere does not exist: a startup kit is the " \
        "participant folder that provisioning wrote" in result.stderr
    server.stop()
    result = run_console(tmp_path, "--kit", kit, "--timeout", "1", "-c", "list_jobs")
    assert result.returncode == 2 and "NoConnection" in result.stderr


def test_authentication_error_exits_2(server, project, tmp_path: Path) -> None:
    from conftest import make_project

    other = make_project(tmp_path / "other", name="other_project")
    config_path = other.admin_kit / "startup" / "fed_admin.json"
    config = json.loads(config_path.read_text())
    config["admin"]["port"] = json.loads((project.admin_kit / "startup" / "fed_admin.json")
                                         .read_text())["admin"]["port"]
    config_path.write_text(json.dumps(config))
    result = run_console(tmp_path, "--kit", str(other.admin_kit), "-c", "list_jobs")
    assert result.returncode == 2 and "AuthenticationError" in result.stderr


def test_a_command_whose_answer_never_comes_exits_1(server, project, tmp_path: Path) -> None:
    """The batch ran (exit 2 is for one that could not start): a command left without its answer
    (NoConnection: the server went away, a timeout) is a failed command, as the README says."""
    kit = str(project.admin_kit)
    big = hello_server(tmp_path, name="big")
    (big / "weights.bin").write_bytes(os.urandom(40 << 20))
    # Zipping 40 MB outlasts the 0.2 s the server waits before it stops: the upload finds it gone.
    result = run_console(tmp_path, "--kit", kit, "--timeout", "1", "--yes", "-c", "shutdown server",
                         "-c", f"submit_job {big}", "-c", "check_status server")
    assert result.returncode == 1, result.stderr
    assert f"-c: submit_job {big}: NoConnection" in result.stderr
    assert "check_status" not in result.stderr  # stopped at the failure, as any failed command stops it
    result = run_console(tmp_path, "--kit", kit, "--timeout", "1", "-c", "list_jobs")
    assert result.returncode == 2 and "NoConnection" in result.stderr  # it could not run at all


def test_monitor_job_fails_the_batch_unless_the_job_completed(server, project, session, tmp_path: Path) -> None:
    """CI reads the exit code: a job ending EXECUTION_EXCEPTION, or one not ended within --timeout, is a failure.
    While that one runs, list_jobs gives its duration so far, as FLARE 2.9's list_jobs does."""
    from conftest import wait_until

    kit = str(project.admin_kit)
    failing = hello_server(tmp_path, name="fails", steps=3, step_seconds=0.05, fail=True)
    running = hello_server(tmp_path, name="long", steps=100, step_seconds=0.1)
    submitted = run_console(tmp_path, "--kit", kit, "--format", "raw", "-c", f"submit_job {failing}",
                            "-c", f"submit_job {running}")
    assert submitted.returncode == 0, submitted.stderr
    failed_id, running_id = submitted.stdout.split()
    try:
        result = run_console(tmp_path, "--kit", kit, "-c", f"monitor_job {failed_id[:8]} --interval 0.2",
                             "-c", "list_jobs")
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(r"  fails  FINISHED:EXECUTION_EXCEPTION\b", result.stdout, re.M)  # its status lines
        assert (f"-c: monitor_job {failed_id[:8]} --interval 0.2: job {failed_id} (fails) ended "
                f"FINISHED:EXECUTION_EXCEPTION, not FINISHED:COMPLETED; get_job_logs {failed_id[:8]} shows why"
                in result.stderr), result.stderr
        assert "job_name" not in result.stdout  # the batch stopped there

        wait_until(lambda: session.get_job_meta(running_id)["status"] == "RUNNING", 30, "the job to run")
        result = run_console(tmp_path, "--kit", kit, "-c", f"monitor_job {running_id} --timeout 0.3 --interval 0.1",
                             "--continue-on-error", "-c", f"list_jobs {running_id[:8]}")
        assert result.returncode == 1
        assert f"job {running_id} (long) is still RUNNING after --timeout 0.3 s" in result.stderr
        # A running job's duration: FLARE's str(timedelta) so far, never N/A (both listings); the shell's H:MM:SS.
        assert re.search(rf"^{running_id[:8]}\S*\s+long\s+RUNNING\s+\S+ \S+\s+0:00:\d\d\s", result.stdout, re.M), \
            result.stdout
        for listed in (session.list_jobs(id_prefix=running_id)[0], session.list_jobs(detailed=True,
                                                                                      id_prefix=running_id)[0]):
            assert re.fullmatch(r"0:00:\d\d\.\d{6}", listed["duration"]), listed["duration"]
    finally:
        session.abort_job(running_id)


def test_monitor_jobs_timeout_holds_while_the_server_is_away(server, project, session, tmp_path: Path) -> None:
    """A batch's `monitor_job J --timeout T` ends (exit 1) within T even when the server goes away while it
    waits: it used to wait for the server to come back for ever."""
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))  # stays SUBMITTED: no site ever connects
    child = subprocess.Popen([CONSOLE, "--kit", str(project.admin_kit), "-c", f"monitor_job {job_id} --timeout 2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=console_env(tmp_path))
    try:
        assert child.stdout is not None
        assert "SUBMITTED" in child.stdout.readline()  # the monitor is waiting now
        server.kill()
        started = time.monotonic()
        out, err = child.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, (out, err)
    assert f"job {job_id} (needs-sites) is still SUBMITTED after --timeout 2 s" in err, err
    assert f"-c: monitor_job {job_id} --timeout 2: connection to the server lost; reconnecting..." in err, err
    assert took < 15, took
