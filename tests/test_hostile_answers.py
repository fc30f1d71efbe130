"""What the admin side does with a hostile server's answers that name paths, streams and sizes
(tests/hostile_server.py): nothing outside the destination is touched, nothing past what was
announced is taken, and the admin reads who sent what."""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hostile_server import hostile_server, login_answer, serving

from console.flare_api import new_secure_session
from console.wire.requesting import MalformedAnswer

JOB = "abc12345-0000-4000-8000-000000000000"


def result_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("meta.json", "{}")
        z.writestr("job/hello.txt", "written by the server")
    return buf.getvalue()


def download_answer(head: object, body: bytes, size: object = None) -> list[tuple[dict, bytes]]:
    """A download's frames: its head (announcing ``size``, by default the body's), the body, end."""
    return [({"k": "res", "ok": True, "stream": True, "size": len(body) if size is None else size, "data": head},
             b""), ({"k": "data"}, body), ({"k": "end"}, b"")]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.timeout(120)
def test_a_download_answer_naming_a_path_or_another_job_is_refused(project, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    dest = tmp_path / "dest"
    dest.mkdir()
    answers: dict[str, list] = {}
    hostile = {
        "an absolute path": str(victim),
        "a parent": "../victim",
        "a job ID then a way out": f"{JOB}/../../victim",
        "a number": 5,
        "nothing": None,
        "another job": "def12345-0000-4000-8000-000000000000",
        "the job in upper case": JOB.upper(),
    }
    with hostile_server(project.server_kit, login_answer(), answers=answers):
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=20)
        try:
            for what, job_id in hostile.items():
                answers["download_job"] = download_answer({"job_id": job_id}, result_zip())
                with pytest.raises(MalformedAnswer) as refused:
                    session.download_job_result("abc", str(dest))
                message = str(refused.value)
                assert "the server answered download_job of job 'abc'" in message, (what, message)
                assert str(job_id)[:30] in message and "nothing was written" in message, (what, message)
                # Refused at its head, before the archive: nothing more of it is read.
                assert message.endswith("; the connection to the server was dropped"), (what, message)
                assert tree(victim) == ["precious.txt"], what
                assert tree(dest) == [], (what, tree(dest))
            answers["download_job"] = download_answer([JOB], result_zip())  # a head that is no object
            with pytest.raises(MalformedAnswer, match=r"with job_id \["):
                session.download_job_result("abc", str(dest))
            # The job asked for, by its prefix: downloaded where it should be.
            answers["download_job"] = download_answer({"job_id": JOB}, result_zip())
            path = session.download_job_result("ABC", str(dest))
        finally:
            session.close()
    assert path == str(dest / JOB)
    assert (dest / JOB / "job" / "hello.txt").read_text() == "written by the server"
    assert tree(victim) == ["precious.txt"]
    assert json.loads((dest / JOB / "meta.json").read_text()) == {}


@pytest.mark.timeout(120)
def test_a_download_of_the_wrong_shape_or_size_is_refused_naming_the_server(project, tmp_path: Path) -> None:
    """A JSON result where the archive was to come, 4 MiB sent for 10 bytes announced, an end short of
    what was announced, more than MAX_DOWNLOAD_BYTES announced: each refused as soon as it shows,
    naming the server; nothing kept, and the session serves on (a refused answer drops its connection:
    the next call opens a new one)."""
    from console.api.async_session import MAX_DOWNLOAD_BYTES
    from console.wire.requesting import AnswerTooLarge

    head = {"job_id": JOB}
    flood = [({"k": "res", "ok": True, "stream": True, "size": 10, "data": head}, b"")]
    flood += [({"k": "data"}, b"\0" * (512 << 10))] * 8 + [({"k": "end"}, b"")]
    body = json.dumps([{"job_id": JOB}, 7]).encode()
    cases = [
        ([({"k": "res", "ok": True, "stream": True, "json": True, "size": len(body)}, b""), ({"k": "data"}, body),
          ({"k": "end"}, b"")], MalformedAnswer,
         "the answer of the server to download_job is a JSON result, not the data stream of a download"),
        (flood, MalformedAnswer, "the answer of the server to download_job sent more than the 10 bytes it announced"),
        (download_answer(head, b"0123456789", size=1000), MalformedAnswer,
         "the answer of the server to download_job ended after 10 of the 1000 bytes it announced"),
        (download_answer(head, b"", size=MAX_DOWNLOAD_BYTES + 1), AnswerTooLarge,
         f"download_job: the answer of the server announces {MAX_DOWNLOAD_BYTES + 1} bytes, over the limit of "
         f"{MAX_DOWNLOAD_BYTES} bytes"),
    ]
    answers: dict[str, list] = {}
    dest = tmp_path / "dest"
    dest.mkdir()
    with hostile_server(project.server_kit, login_answer(), answers=answers):
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=20)
        try:
            for frames, error, said in cases:
                answers["download_job"] = frames
                with pytest.raises(error) as refused:
                    session.download_job_result(JOB, str(dest))
                assert said in str(refused.value)
                assert tree(dest) == []
            assert session.list_jobs() == []  # on a new connection
        finally:
            session.close()


#: A server's text that would print as a line of the shell's own, time stamp and all, if its line
#: break were kept (finding 7 of the fourth attack).
FORGED = "ok\n12:00:00  delete_job went on after Ctrl-C: all jobs deleted\x1b]0;pwned\x07"


@pytest.mark.timeout(120)
def test_a_late_outcome_prints_as_one_line_whatever_the_server_wrote(project, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after abort_job / delete_job reached the server: their outcome prints above the prompt
    when it comes, the server's text in it on that one line (line breaks and escapes shown)."""
    from test_shell_inprocess import _run_shell, _until, _until_sent

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    answers = {"abort_job": [1.0, ({"k": "res", "ok": True, "data": FORGED}, b"")],
               "delete_job": [1.0, ({"k": "res", "ok": False, "error": {"type": "JobNotFound", "message": FORGED}},
                                    b"")]}
    escaped = "ok\\x0a12:00:00  delete_job went on after Ctrl-C: all jobs deleted\\x1b]0;pwned\\x07"

    async def script(shell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        client = shell.backend.session.client
        for line, outcome in [(f"abort_job {JOB} --yes", f"abort_job went on after Ctrl-C: {escaped}"),
                              (f"delete_job {JOB} --yes",
                               f"delete_job went on after Ctrl-C and failed: JobNotFound: {escaped}")]:
            earlier = max(client._pending, default=0)
            pipe.send_text(line + "\r")
            await _until_sent(client, earlier, line.split()[0])
            shell.interrupts._on_sigint()  # what Ctrl-C's SIGINT runs
            await _until(lambda: " ".join(outcome.split()) in out_text(shell), f"the outcome of {line}", 20)  # noqa: B023
        pipe.send_text("bye\r")

    def out_text(shell) -> str:  # blanks and line ends as single blanks: a long message is wrapped
        return " ".join(shell.prompt.app.output.stdout.getvalue().split())

    with hostile_server(project.server_kit, login_answer(), answers=answers):
        code, output, _ = _run_shell(project, tmp_path, script)
    assert code == 0
    # A message wider than the screen (80 here) goes on in lines indented by two blanks: read as one line.
    lines = re.sub(r"\r?\n  (?=\S)", " ", output.replace("\r\n", "\n")).splitlines()
    forged = [line for line in lines if "all jobs deleted" in line]
    assert len(forged) == 2, forged  # one line each: the time stamp is the shell's, the rest the server's
    assert all(re.match(r"\s*\d\d:\d\d:\d\d  (abort|delete)_job went on after Ctrl-C", line) for line in forged), forged
    assert not any(line.lstrip().startswith("12:00:00  delete_job") for line in lines), output
    assert "\x1b]" not in output and "\x07" not in output


@pytest.mark.timeout(120)
def test_a_monitor_line_and_an_error_keep_the_servers_text_on_their_line(project, tmp_path: Path) -> None:
    """A job name and an error message holding a line break: shown escaped, on the line they belong to."""
    from shell_helpers import run_console

    meta = {"job_id": JOB, "name": FORGED, "status": "FINISHED:COMPLETED", "submit_time_iso": "2026-01-01T00:00:00"}
    answers = {"get_job_meta": [({"k": "res", "ok": True, "data": meta}, b"")],
               "list_jobs": [({"k": "res", "ok": False, "error": {"type": "InternalError", "message": FORGED}}, b"")]}
    with hostile_server(project.server_kit, login_answer(), answers=answers):
        done = run_console(tmp_path, "--kit", str(project.admin_kit), "--continue-on-error",
                           stdin=f"monitor_job {JOB}\nlist_jobs\n", timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    assert not [line for line in lines if line.startswith("12:00:00")], lines
    assert any(re.match(r"\d\d:\d\d:\d\d  abc12345  ok\\x0a12:00:00  delete_job .*FINISHED:COMPLETED$", line)
               for line in lines), lines
    assert any("list_jobs: InternalError: ok\\x0a12:00:00  delete_job" in line for line in lines), lines
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(120)
def test_a_download_refused_part_way_is_read_no_further_and_drops_the_connection(project, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    """The server announces 10 bytes, then sends 1 MiB frames (64 of them; a hostile one would go on for
    ever): the session reads no frame after the one that passed the 10 bytes, drops the connection, and
    a request waiting on it meanwhile fails naming the server and what it did. The next call reconnects;
    the shell says it all in one line."""
    import threading

    from shell_helpers import run_console

    from console.wire import incoming, requesting
    from console.wire.exceptions import NoConnection

    bodies: list[tuple[str, int]] = []  # (kind, body bytes) of each frame the session read, in order
    refused_after: list[int] = []  # how many frames had been read when the transfer was refused
    real_read, real_refuse = incoming.read_frame, requesting.Requester.refuse

    async def counting_read(reader, *args, **kwargs):
        frame = await real_read(reader, *args, **kwargs)
        if frame is not None:
            bodies.append((frame.kind, len(frame.body)))
        return frame

    def noting_refuse(self, error, pending=None):
        refused_after.append(len(bodies))
        real_refuse(self, error, pending)

    monkeypatch.setattr(incoming, "read_frame", counting_read)
    monkeypatch.setattr(requesting.Requester, "refuse", noting_refuse)
    flood = [({"k": "res", "ok": True, "stream": True, "size": 10, "data": {"job_id": JOB}}, b"")]
    flood += [({"k": "data"}, b"\0" * (1 << 20))] * 64 + [({"k": "end"}, b"")]
    answers = {"download_job": flood, "get_job_meta": [30.0, ({"k": "res", "ok": True, "data": {}}, b"")]}
    said = "the answer of the server to download_job sent more than the 10 bytes it announced; refused"
    dest = tmp_path / "dest"
    with hostile_server(project.server_kit, login_answer(), answers=answers, concurrent=True):
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=20)
        try:
            waiting: list[BaseException] = []

            def ask() -> None:
                try:
                    session.get_job_meta(JOB)
                except BaseException as exc:  # noqa: BLE001 - what the waiting request ends with, checked below
                    waiting.append(exc)

            asker = threading.Thread(target=ask)
            asker.start()
            client = session.client
            deadline = time.monotonic() + 20
            while not client._pending and time.monotonic() < deadline:  # until get_job_meta is sent
                time.sleep(0.01)
            with pytest.raises(MalformedAnswer) as refused:
                session.download_job_result(JOB, str(dest))
            asker.join(20)
            assert f"{said}; the connection to the server was dropped" in str(refused.value)
            [frames_then] = refused_after
            assert len(bodies) == frames_then, bodies[frames_then:]  # not one frame read after the refusal
            data = sum(size for kind, size in bodies if kind == "data")
            assert data <= 10 + (1 << 20), data  # the one frame that passed the 10 bytes
            [lost] = waiting
            assert isinstance(lost, NoConnection), lost
            assert f"the connection to the server was dropped: {said}" in str(lost)
            assert session.list_jobs() == []  # a new connection
        finally:
            session.close()
        assert not dest.exists() or tree(dest) == []
        done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"download_job {JOB} {dest}", timeout=60)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if said in line]
    assert len(lines) == 1 and "the connection to the server was dropped" in lines[0], done
    assert "Traceback" not in done.stderr and done.returncode == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["evil\x1b]0;PWN\x07.txt", "two\nlines.txt", "gpj.\u202eexe", "ad\u200bmin.txt"])
def test_a_downloaded_part_with_an_entry_named_with_a_control_character_is_left_out_and_named(
        project, tmp_path: Path, name: str) -> None:
    """Finding 10 of the ninth attack: such a file name would act on the terminal (or hide text) when
    listed. The part holding it is refused whole and named (IncompleteDownload), the others delivered."""
    from console.flare_api import IncompleteDownload

    def part(entries: dict[str, str]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for entry, text in entries.items():
                z.writestr(entry, text)
        return buf.getvalue()

    meta, job, workspace = b"{}", part({"ok.txt": "fine", name: "x"}), part({"log.txt": "trained"})
    head = {"job_id": JOB, "parts": [{"name": "meta.json", "size": len(meta)}, {"name": "job.zip", "size": len(job)},
                                     {"name": "workspace.zip", "size": len(workspace)}]}
    answers = {"download_job": download_answer(head, meta + job + workspace)}
    with hostile_server(project.server_kit, login_answer(), answers=answers):
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=20)
        try:
            with pytest.raises(IncompleteDownload) as incomplete:
                session.download_job_result(JOB, str(tmp_path / "dest"))
        finally:
            session.close()
    said = str(incomplete.value)
    assert "job (the job's own archive) was refused and left out" in said and repr(name)[1:-1] in said, said
    assert "control or invisible character" in said
    assert tree(tmp_path / "dest" / JOB) == ["meta.json", "workspace", "workspace/log.txt"]


@pytest.mark.timeout(60)
def test_a_body_where_an_answer_has_none_is_refused_unread(project) -> None:
    """The requesting end judges bodies as the serving end does (security report 10, finding 5, the
    other way): a ``res`` or ``end`` with a body, or a data frame past a chunk, is a protocol error
    found at its header, the body unread; the request fails naming it, and the next one reconnects."""
    from console.flare_api import NoConnection

    announced = 8 << 20
    cases = {  # a body announced and never sent: a reader that waited for it would time out instead
        "list_jobs": ({"k": "res", "ok": True, "data": []}, "a 'res' frame with a body of 8388608 bytes: that kind "
                                                           "has none"),
        "get_job_meta": ({"k": "data"}, "a data frame of 8388608 bytes: a chunk is at most 1114112 bytes"),
    }

    async def serve(reader, writer) -> None:
        from console.wire.frames import encode_frame, read_frame
        while (frame := await read_frame(reader)) is not None:
            cmd, request_id = frame.header.get("cmd"), frame.header.get("id")
            if cmd == "login":
                writer.write(encode_frame({"k": "res", "id": request_id, "ok": True, "data": login_answer()}))
            elif cmd == "get_job_meta":  # a streamed JSON answer's head, then the oversized chunk
                writer.write(encode_frame({"k": "res", "id": request_id, "ok": True, "stream": True, "json": True,
                                           "size": 100}))
            if cmd in cases:
                raw = json.dumps({**cases[cmd][0], "id": request_id}).encode()
                writer.write(struct.pack(">II", len(raw), announced) + raw)
            await writer.drain()

    with serving(project.server_kit, serve):
        session = new_secure_session("admin@example.com", str(project.admin_kit), timeout=20)
        try:
            for cmd, (_, said) in cases.items():
                started = time.monotonic()
                with pytest.raises(NoConnection) as caught:
                    getattr(session, cmd)(*([JOB] if cmd == "get_job_meta" else []))
                assert f"the server sent {said}" in str(caught.value), (cmd, str(caught.value))
                assert time.monotonic() - started < 10
        finally:
            session.close()


@pytest.mark.timeout(60)
def test_a_json_answer_trickled_just_above_its_pace_ends_at_the_commands_deadline(project) -> None:
    """A list trickled at 160 KiB/s (above the 128 KiB/s pace floor, so the pace alone would wait up
    to 9 minutes for 64 MiB) is cut at the command's deadline, counted from the request, and the
    connection dropped; a list that comes whole within it is read as ever."""
    from console.api.client import AsyncClient
    from console.wire.exceptions import NoConnection
    from console.wire.kit import AdminKit

    blanks = b" " * (16 << 10)
    trickle = [({"k": "res", "ok": True, "stream": True, "json": True, "size": 64 << 20}, b""), ({"k": "data"}, b"[")]
    for _ in range(300):  # 30 s of it, well past the 2 s deadline
        trickle += [({"k": "data"}, blanks), 0.1]
    body = json.dumps([{"job_id": JOB}]).encode()
    whole = [({"k": "res", "ok": True, "stream": True, "json": True, "size": len(body)}, b""),
             ({"k": "data"}, body), ({"k": "end"}, b"")]

    async def go() -> tuple[object, str, float]:
        client = AsyncClient(AdminKit.load(project.admin_kit), "admin@example.com")
        await client.connect()
        try:
            listed = await client.request("list_jobs", {}, timeout=2)
            started = time.monotonic()
            with pytest.raises(NoConnection) as caught:
                await client.request("get_job_meta", {"job_id": JOB}, timeout=2)
            return listed, str(caught.value), time.monotonic() - started
        finally:
            await client.close()

    with hostile_server(project.server_kit, login_answer(), answers={"list_jobs": whole, "get_job_meta": trickle},
                        concurrent=True):
        listed, message, took = asyncio.run(go())
    assert listed == [{"job_id": JOB}]
    assert message.startswith("the answer to get_job_meta was not complete within its deadline: "), message
    assert "the connection was dropped" in message and took < 10, took
