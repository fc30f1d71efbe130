"""Batch output as scripts read it: a pipe that closes early, JSON Lines for every command, follow's --timeout.

The installed ``flare-console`` as a child process against a real server (no sites: server-only jobs run).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from shell_helpers import CONSOLE, console_env, run_console

from jobs import hello_server, waiting_for_sites


def _first_line_then_close(tmp_path: Path, *args: str) -> tuple[str, int, str, float]:
    """Run a batch, read its first line and close the pipe as ``| head -1`` does: (line, exit code, stderr,
    seconds from the close to its end)."""
    child = subprocess.Popen([CONSOLE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=console_env(tmp_path))
    try:
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.readline()
        child.stdout.close()
        closed = time.monotonic()
        err = child.stderr.read()
        code = child.wait(timeout=60)
        return first, code, err, time.monotonic() - closed
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.timeout(120)
def test_output_into_a_pipe_closed_early_ends_quietly(server, project, session, tmp_path: Path) -> None:
    """`-c list_jobs -c "follow J" | head -1`: no traceback, the batch stops at once, 141 (128 + SIGPIPE) as a
    shell reports for git; the same for a command's answer, a followed log's lines and JSON status events."""
    kit = str(project.admin_kit)
    job_id = session.submit_job(str(hello_server(tmp_path, name="long", steps=600, step_seconds=0.1)))
    try:
        for args in (["-c", "list_jobs", "-c", f"follow {job_id} -n 0"],  # log lines after the close
                     ["--format", "json", "-c", "list_jobs", "-c", f"monitor_job {job_id} --interval 0.1"],
                     ["-c", "list_jobs", "-c", f"list_jobs; get_job_meta {job_id}; follow {job_id}"]):
            first, code, err, took = _first_line_then_close(tmp_path, "--kit", kit, *args)
            assert first.strip(), args
            assert code == 141 and err == "", (args, code, err)
            assert took < 30, (args, took)  # it stopped: the job runs for a minute
    finally:
        session.abort_job(job_id)


@pytest.mark.timeout(120)
def test_json_batch_gives_one_document_per_line_for_every_command(server, project, session, tmp_path: Path) -> None:
    """`--format json -c "monitor_job J; follow J -n 2; get_job_meta J" | jq -c .`: status and log lines as
    events, monitor_job's and follow's ends as documents (never null), each on a line of its own."""
    kit = str(project.admin_kit)
    job_id = session.submit_job(str(hello_server(tmp_path, name="short", steps=3, step_seconds=0.05)))
    result = run_console(tmp_path, "--kit", kit, "--format", "json", "-c",
                         f"monitor_job {job_id[:8]} --interval 0.1; follow {job_id[:8]} -n 2; get_job_meta {job_id}")
    assert result.returncode == 0, result.stderr
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert None not in documents
    statuses = [d for d in documents if d.get("event") == "status"]
    assert statuses[-1]["status"] == "FINISHED:COMPLETED" and statuses[-1]["job_id"] == job_id
    logs = [d for d in documents if d.get("event") == "log"]
    assert len(logs) == 2 and all(d["job_id"] == job_id and d["target"] == "server" for d in logs), logs
    ends = [d for d in documents if "event" not in d and "message" in d]
    assert [e["status"] for e in ends] == ["FINISHED:COMPLETED"] * 2 and ends[0]["job_id"] == job_id
    assert documents[-1]["job_id"] == job_id and documents[-1]["status"] == "FINISHED:COMPLETED"  # the meta

    raw = run_console(tmp_path, "--kit", kit, "--format", "raw", "-c", f"monitor_job {job_id}; follow {job_id} -n 1")
    assert raw.returncode == 0 and "null" not in raw.stdout, raw.stdout
    assert raw.stdout.count(f"job {job_id} (short) ended FINISHED:COMPLETED") == 2, raw.stdout
    _set_changes_every_setting_it_lists(kit, tmp_path)  # the settings' listing, as JSON too


@pytest.mark.timeout(120)
def test_follow_timeout_ends_a_batch_as_monitor_jobs_does(server, project, session, tmp_path: Path) -> None:
    """A CI `follow JOB --timeout T` on a job that never ends fails (exit 1) after T, naming the status."""
    kit = str(project.admin_kit)
    job_id = session.submit_job(str(waiting_for_sites(tmp_path)))  # stays SUBMITTED: no site ever connects
    started = time.monotonic()
    result = run_console(tmp_path, "--kit", kit, "-c", f"follow {job_id[:8]} --timeout 1", "-c", "list_jobs")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"job {job_id} (needs-sites) is still SUBMITTED after --timeout 1 s" in result.stderr, result.stderr
    assert "job_name" not in result.stdout  # the batch stopped there
    assert time.monotonic() - started < 30
    result = run_console(tmp_path, "--kit", kit, "-c", f"follow {job_id} --timeout -1")
    assert result.returncode == 1 and "--timeout" in result.stderr
    # --format json: each ends with its closing document all the same, as README promises (it ended with a log
    # line or a "(monitor timed out)" message, the status only on stderr)
    result = run_console(tmp_path, "--kit", kit, "--format", "json", "--continue-on-error",
                         "-c", f"follow {job_id[:8]} --timeout 1", "-c", f"monitor_job {job_id[:8]} --timeout 1")
    assert result.returncode == 1, (result.stdout, result.stderr)
    ends = [d for d in map(json.loads, result.stdout.splitlines()) if "event" not in d]
    assert [(d["job_id"], d["name"], d["status"]) for d in ends] == [(job_id, "needs-sites", "SUBMITTED")] * 2, ends
    assert all(d["message"].endswith("is still SUBMITTED after --timeout 1 s") for d in ends), ends


@pytest.mark.timeout(120)
def test_continued_lines_and_local_path_errors_in_a_batch(server, project, session, tmp_path: Path) -> None:
    """stdin and -f read a trailing backslash and an open quote as the prompt does; a local path that cannot be
    used (-f file, download target, job folder) is named with what is wrong and what to do, never [Errno]."""
    kit = str(project.admin_kit)
    job_id = session.submit_job(str(hello_server(tmp_path, name="short", steps=1, step_seconds=0.01)))
    script = tmp_path / "script.txt"
    script.write_text(f"list_jobs -m 1 \\\n  -r\nget_job_meta '{job_id}\n'\n")
    result = run_console(tmp_path, "--kit", kit, stdin="list_jobs -m 1 \\\n -r\n")
    assert result.returncode == 0 and "job_name" in result.stdout, result.stderr
    # a line that is only "\\" continues into the next; a -f file may end in a backslash, no line end (as bash)
    result = run_console(tmp_path, "--kit", kit, stdin="\\\nlist_jobs -n short\n")
    assert result.returncode == 0 and "job_name" in result.stdout, result.stderr
    ending = tmp_path / "ending.txt"
    ending.write_text("list_jobs -n short \\")
    result = run_console(tmp_path, "--kit", kit, "-f", str(ending))
    assert result.returncode == 0 and "job_name" in result.stdout, result.stderr
    result = run_console(tmp_path, "--kit", kit, "-f", str(script))
    assert result.returncode == 1 and "job_name" in result.stdout, result.stderr
    assert "cannot read the line" not in result.stderr, result.stderr
    assert f"{script}:3: get_job_meta" in result.stderr  # the quoted line end is in the ID: that line named

    result = run_console(tmp_path, "--kit", kit, "-f", str(tmp_path / "nowhere.txt"))
    assert result.returncode == 2
    assert result.stderr == (f"flare-console: cannot use {tmp_path / 'nowhere.txt'} as the -f file: it does not exist; "
                             "give a text file of commands, one per line (- reads them from stdin)\n")
    taken = tmp_path / "a-file"
    taken.write_text("mine")
    result = run_console(tmp_path, "--kit", kit, "--continue-on-error", "-c", f"download_job {job_id} {taken}",
                         "-c", "submit_job examples/nope")
    assert result.returncode == 1 and "Errno" not in result.stderr, result.stderr
    assert f"cannot use {taken} as the download folder: it exists and is not a folder; give a folder" in result.stderr
    assert taken.read_text() == "mine"
    assert (f"job_definition_path 'examples/nope' is not a valid folder: {Path.cwd() / 'examples/nope'} does not exist; "
            f"{project.admin_kit / 'transfer' / 'examples/nope'} does not exist" in result.stderr), result.stderr


def _set_changes_every_setting_it_lists(kit: str, tmp_path: Path) -> None:
    """`set` lists format, expanded, editing, timing and theme, and `set NAME VALUE` takes each as its row says;
    psql's \\x switches expanded."""
    result = run_console(tmp_path, "--kit", kit, "--format", "json", "-c", "set")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["setting"] for r in rows] == ["format", "expanded", "editing", "timing", "theme"]
    # Each as its row says (format stays json: the rest of the batch is read as JSON).
    changes = [r["change with"].split("|")[0].replace("table", "json") for r in rows if r["setting"] != "theme"]
    result = run_console(tmp_path, "--kit", kit, "--format", "json", "-c", "; ".join([*changes, "\\x", "\\x", "set"]))
    assert result.returncode == 0, result.stderr
    *said, listing = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["message"] for s in said] == ["format: json", "expanded: auto", "editing: emacs", "timing on",
                                            "expanded: on", "expanded: off"]
    assert {r["setting"]: r["value"] for r in listing}["timing"] == "on"
    result = run_console(tmp_path, "--kit", kit, "-c", "set theme light")
    assert result.returncode == 1 and "themes apply to the interactive shell only" in result.stderr
