"""What scripts read from the console, piece by piece: machine fields of a command's outcome."""

from __future__ import annotations

import json

from console.shell.client_side import Outcome
from console.shell.output import Format

JOB = "0a1b2c3d-0000-4000-8000-000000000001"


def test_a_new_jobs_id_is_a_field_in_json_and_the_answer_in_raw() -> None:
    outcome = Outcome(message=f"Submitted job: {JOB}", fields={"job_id": JOB}, answer=JOB)
    assert json.loads(outcome.message_as(Format.JSON)) == {"job_id": JOB, "message": f"Submitted job: {JOB}"}
    assert outcome.message_as(Format.RAW) == JOB
    assert outcome.message_as(Format.TABLE) == f"Submitted job: {JOB}"  # people keep the sentence


def test_a_message_without_fields_stays_a_message() -> None:
    outcome = Outcome(message="no monitors running")
    assert json.loads(outcome.message_as(Format.JSON)) == {"message": "no monitors running"}
    assert outcome.message_as(Format.RAW) == "no monitors running"
    # An answer with control characters is shown visibly, as any server text.
    assert "\x1b" not in Outcome(message="x", answer="id\x1b[2J").message_as(Format.RAW)


def test_running_duration_as_flares_list_jobs() -> None:
    from datetime import UTC, datetime

    from console.server.job_queries import running_duration

    now = datetime(2026, 1, 1, 12, 0, 5, 500000, tzinfo=UTC)
    assert running_duration("RUNNING", "2026-01-01T12:00:00+00:00", now) == "0:00:05.500000"
    assert running_duration("RUNNING", "2026-01-01T13:00:00+01:00", now) == "0:00:05.500000"
    assert running_duration("FINISHED:COMPLETED", "2026-01-01T12:00:00+00:00", now) is None  # its stored one stays
    assert running_duration("RUNNING", None, now) is None and running_duration("RUNNING", "yesterday", now) is None


def test_progress_sizes_and_line() -> None:
    from console.shell.progress import progress_text, size_text

    assert [size_text(n) for n in (812, 45_200_000, 1_500_000_000, 5_300)] == ["812 B", "45.2 MB", "1.50 GB",
                                                                              "5.30 kB"]
    assert progress_text("download_job 3f2a1b2c", 45_200_000, 6_100_000, 12.4) == \
        "download_job 3f2a1b2c: 45.2 MB received, 6.10 MB/s, 12 s"


def test_a_spool_probe_counts_new_spools_only_and_never_goes_down(tmp_path) -> None:
    import os
    import time
    import uuid

    from console.backends.spools import UUID_GLOB, spool_probe

    old = tmp_path / ".flare-download-old"
    old.mkdir()
    (old / "result.zip").write_bytes(b"x" * 500)
    os.utime(old / "result.zip", (time.time() - 60, time.time() - 60))  # another, earlier download's
    probe = spool_probe((tmp_path, ".flare-download-*/result.zip"), (tmp_path, UUID_GLOB))
    assert probe() == 0
    spool = tmp_path / ".flare-download-new"
    spool.mkdir()
    (spool / "result.zip").write_bytes(b"x" * 1000)
    (spool / "unpacked.bin").write_bytes(b"x" * 9999)  # not a spool file
    (tmp_path / str(uuid.uuid4())).write_bytes(b"x" * 24)  # FLARE's, in the temporary folder
    (tmp_path / "not-a-uuid").write_bytes(b"x" * 7)
    assert probe() == 1024
    (spool / "result.zip").unlink()  # unpacked and removed: the line keeps what was received
    assert probe() == 1024


async def _no_progress_in_a_batch() -> None:
    import asyncio
    import io

    from console.shell.batch import BatchFrontend
    from console.shell.output import Format
    from console.shell.progress import progress_line

    out = io.StringIO()
    async with progress_line(BatchFrontend(Format.TABLE, out), lambda: 10**6, "download_job x"):
        await asyncio.sleep(0.2)
    assert out.getvalue() == ""


def test_a_batch_shows_no_progress_line(monkeypatch) -> None:
    import asyncio

    from console.shell import progress

    monkeypatch.setattr(progress, "FIRST_AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.01)
    asyncio.run(_no_progress_in_a_batch())


def test_a_batch_reads_continued_lines_as_the_prompt_does() -> None:
    """One reader for the prompt and a batch (stdin, -f): a trailing backslash or an open quote continues the
    line; each line is numbered where it starts; commands parse as typed at the prompt."""
    from console.commands import Engine
    from console.shell.batch import lines_of
    from console.shell.parse import parse_command, split_commands

    lines = lines_of("<stdin>", "list_jobs -m 1 \\\n -r\r\nlist_jobs \"a\nb\"; monitors\n\n# done\nlist_jobs 'open\n")
    assert [(line.number, line.text) for line in lines] == [
        (1, "list_jobs -m 1 \\\n -r"), (3, 'list_jobs "a\nb"; monitors'), (5, ""), (6, "# done"),
        (7, "list_jobs 'open\n")]
    parsed = parse_command(split_commands(lines[0].text)[0], Engine.OURS)
    assert parsed is not None and parsed.values["limit"] == 1 and parsed.values["reverse"] is True
    assert split_commands(lines[1].text) == ['list_jobs "a\nb"', "monitors"]
    # A backslash at the very end of a -f file or stdin (no line end after it) continues into nothing, as
    # bash reads a script ("No escaped character (close the quote)" though there was no quote).
    for text in ("list_jobs -n hello-numpy \\", "list_jobs -n hello-numpy \\\n", "\\\nlist_jobs -n hello-numpy \\"):
        last = [line for line in lines_of("f.txt", text) if line.text.strip()][-1]
        parsed = parse_command(split_commands(last.text)[0], Engine.OURS)
        assert parsed is not None and parsed.values["name_prefix"] == "hello-numpy", text
    assert lines_of("f.txt", "list_jobs -n 'a\\")[-1].text == "list_jobs -n 'a\\"  # quoted: kept, fails as open
    assert lines_of("f.txt", "list_jobs -n a\\\\")[-1].text == "list_jobs -n a\\\\"  # an escaped backslash: kept


def test_local_path_errors_name_the_path_what_is_wrong_and_what_to_do(tmp_path) -> None:
    """Never Python's "[Errno 17] File exists: '/etc/passwd'": the path, the reason in words, what to do."""
    import pytest

    from console.local_paths import is_local_path_error, missing_job_folder, path_problem
    from console.shell.failures import explain
    from console.shell.parse import parse_command

    file = tmp_path / "a-file"
    file.write_text("x")
    for make, words in ((lambda: file.mkdir(), "it exists and is not a folder"),
                        (lambda: (file / "sub").mkdir(parents=True), "a part of it is a file, not a folder"),
                        (lambda: (tmp_path / "none").read_text(), "it does not exist"),
                        (lambda: tmp_path.read_text(), "it is a folder, not a file")):
        with pytest.raises(OSError) as caught:
            make()
        assert is_local_path_error(caught.value)
        said = explain(caught.value, parse_command(f"download_job 0a1b2c3d {caught.value.filename}"))
        assert said.startswith(f"cannot use {caught.value.filename} as the download folder: {words}; give a folder")
        assert "Errno" not in said and "Error" not in said
    assert path_problem(FileNotFoundError(2, "No such file or directory", "/x")) == "cannot use /x: it does not exist"
    assert not is_local_path_error(ConnectionRefusedError(111, "refused"))
    said = missing_job_folder("jobs/a", [tmp_path / "jobs/a", file])
    assert said == (f"job_definition_path 'jobs/a' is not a valid folder: {tmp_path / 'jobs/a'} does not exist; {file} "
                    "is a file; give the path of a job folder (one holding meta.json), or the name of one in the kit's "
                    "upload folder")


def test_provision_and_demo_name_a_path_they_cannot_use(tmp_path, capsys, monkeypatch) -> None:
    """`provision -o` and `demo --workspace` under a file: the path, why, what to do; never a traceback or [Errno]."""
    from console.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    file = tmp_path / "a-file"
    file.write_text("x")
    project = tmp_path / "project.yml"
    project.write_text("name: p\nparticipants:\n  - {name: server, type: server, org: o, fed_learn_port: 8002, "
                       "admin_port: 8003}\n  - {name: admin@o.com, type: admin, org: o, role: project_admin}\n")
    assert main(["provision", str(project), "-o", str(file / "ws")]) == 2
    said = capsys.readouterr().err
    assert f"cannot use {file / 'ws'}" in said and "a part of it is a file, not a folder; give -o a folder" in said
    assert "Errno" not in said
    assert main(["demo", "--workspace", str(file / "demo")]) == 2
    said = capsys.readouterr().err
    assert said == (f"flare-console demo: cannot use {file / 'demo'}: a part of it is a file, not a folder; give "
                    "--workspace a folder you can write to\n")


def test_a_batch_monitor_or_follow_of_an_abandoned_job_ends_with_its_closing_document() -> None:
    """flare10 item 6: ``--format json monitor_job`` of a job FLARE lists RUNNING but no longer runs (its server
    restarted) printed no document, as it found out at once or while it watched. Every way a batch's
    monitor_job or follow ends after the job was found gives ``{job_id, name, status, message}`` on stdout,
    the message on stderr too, exit 1. FLARE's side stands in as ``FlareBackend`` answers here: its monitor
    raises JobNotRunning for such a job (``nvflare_monitor``), its follow's stream stops with an error."""
    import asyncio
    import io
    import json
    from types import SimpleNamespace

    from console.api.errors import JobNotRunning
    from console.backends.base import LogStream
    from console.commands import Engine
    from console.shell.batch import lines_of, run_batch
    from console.shell.output import Format

    job = "e91df1f8-0c1a-4b5e-9a43-3c4b0d6a7e21"
    meta = {"job_id": job, "name": "longjob", "status": "RUNNING"}

    async def monitor_job(job_id: str, timeout: float, interval: float, cb: object) -> object:
        raise JobNotRunning(f"monitor_job: job {job_id} is listed RUNNING, but FLARE's server does not run it")

    async def follow_log(job_id: str, target: str, lines: int, on_lines: object, resume: object = None) -> LogStream:
        async def closer() -> None:
            pass

        stream = LogStream(job_id, "longjob", [target], closer)
        stream.error = JobNotRunning("the job's server process is gone")
        stream.done.set()
        return stream

    async def get_job_meta(job_id: str) -> dict[str, str]:
        return meta

    backend = SimpleNamespace(engine=Engine.NVFLARE, connected=True, closed=False, shut_down_by_you=False,
                              user="admin@nvidia.com", right_condition=lambda right: None, monitor_job=monitor_job,
                              get_job_meta=get_job_meta, follow_log=follow_log, add_state_listener=lambda _l: list,
                              add_event_listener=lambda _l: list,
                              pushes=False)
    for command in ("monitor_job e91d", "follow e91d server --timeout 5"):
        out, err = io.StringIO(), io.StringIO()
        code = asyncio.run(run_batch(backend, lines_of("-c", command), fmt=Format.JSON, yes=True,  # type: ignore[arg-type]
                                     continue_on_error=False, out=out, err=err))
        assert code == 1, (command, out.getvalue(), err.getvalue())
        closing = json.loads(out.getvalue().strip().splitlines()[-1])
        assert {k: closing[k] for k in ("job_id", "name")} == {"job_id": job, "name": "longjob"}, closing
        assert closing["status"].startswith("RUNNING (not running on the server"), closing
        assert closing["message"] and closing["message"] in err.getvalue(), (closing, err.getvalue())


def test_a_silent_server_s_deadline_names_the_command_the_user_ran() -> None:
    """monitor_job and follow ask get_job_meta: their NoAnswer names them, never the inner request;
    a batch's ends without "the session goes on" (fuser10 #8)."""
    import asyncio

    from console.api.client import AsyncClient
    from console.wire.requesting import USER_COMMAND

    client = AsyncClient(None, "admin@example.com")
    assert "did not answer get_job_meta within 60 s" in str(client.no_answer("get_job_meta", 60.0))
    doing = USER_COMMAND.set("monitor_job")
    try:
        said = str(client.no_answer("get_job_meta", 60.0))
    finally:
        USER_COMMAND.reset(doing)
    assert "did not answer monitor_job within 60 s" in said and "get_job_meta" not in said, said
    assert "the session goes on" in said  # an interactive console's and a script's session

    async def shell_command() -> str:  # the shell sets it for each command it runs (execute.Executor.run)
        USER_COMMAND.set("follow")
        return str(client.no_answer("get_job_meta", 60.0))

    assert "did not answer follow within" in asyncio.run(shell_command())
    assert USER_COMMAND.get() is None  # a task's setting stays in its task
