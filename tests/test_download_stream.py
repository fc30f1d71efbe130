"""download_job streams a job's stored zips as they are (scale findings 2, 3, 6): nothing is built
in store/incoming, a requester that goes away (Ctrl-C, its timeout, a dropped connection) stops
the stream on the server, and a delete_job racing a download never yields a partial result.

The server is held mid-stream deterministically: the admin side stops reading its socket
(``pause_reading``) before or during the download, so the server cannot send more than the
buffers in between hold, far less than the result; it is seen to hold the job's files open
(``/proc/PID/fd``) before the test acts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from script_process import PRELUDE, Script, asleep_twice, unread

from console.api.async_session import AsyncSession
from console.api.errors import JobNotFound
from console.api.job_result import planned_parts
from console.flare_api import new_secure_session
from console.server.job_commands import open_result
from console.server.store import JobStore, Submitter
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import build_to_send
from console.wire.requesting import MalformedAnswer

from conftest import ADMIN, PartProcess, Project, ServerProcess, make_project, wait_until
from jobs import hello_server, waiting_for_sites

pytestmark = pytest.mark.timeout(120)

#: Bytes of incompressible data in the job: well past what the sockets and buffers between the
#: server and a paused reader hold (a few MB), so a paused download is always mid-stream.
BIG = 32 << 20


class Setup:
    def __init__(self, project: Project, server: PartProcess, job_folder: Path) -> None:
        self.project = project
        self.server = server
        self.job_folder = job_folder
        self.incoming = project.server_kit / "store" / "incoming"

    def finished_job(self) -> str:
        with new_secure_session(ADMIN, str(self.project.admin_kit)) as session:
            job_id = session.submit_job(str(self.job_folder))
            session.wait_for_job(job_id, timeout=60)
            assert session.get_job_status(job_id) == "FINISHED:COMPLETED"
        return job_id

    def open_job_files(self, job_id: str) -> list[str]:
        """The job's stored files the server process holds open now."""
        fd_dir = Path(f"/proc/{self.server.process.pid}/fd")
        found = []
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if job_id in target:
                found.append(target)
        return found

    def stopped_lines(self) -> list[str]:
        return [line for line in self.server.stderr.splitlines() if "(download_job)" in line and "stopped after" in line]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("download")
    project = make_project(root)
    job = hello_server(root, name="big-result", steps=1, step_seconds=0.05)
    (job / "weights.bin").write_bytes(os.urandom(BIG))  # in job.zip only: the server's app does not hold it
    server = ServerProcess(project.server_kit)
    try:
        yield Setup(project, server.start(), job)
    finally:
        server.stop()
        server.kill()


@pytest.fixture(scope="module")
def job_id(setup: Setup) -> str:
    return setup.finished_job()


async def _session(setup: Setup) -> AsyncSession:
    session = AsyncSession(ADMIN, setup.project.admin_kit)
    await session.connect()
    return session


def _pause(session: AsyncSession) -> None:
    session.client._writer.transport.pause_reading()  # noqa: SLF001 - the test holds the server mid-stream


def _resume(session: AsyncSession) -> None:
    writer = session.client._writer  # noqa: SLF001
    if writer is not None:  # (a closed session has none)
        writer.transport.resume_reading()


async def _poll(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


async def _held_mid_stream(setup: Setup, session: AsyncSession, job_id: str, dest: Path) -> asyncio.Task[str]:
    """A download the server has begun (the job's files open) but cannot finish: its reader is paused."""
    _pause(session)
    task = asyncio.create_task(session.download_job_result(job_id, str(dest)))
    await _poll(lambda: setup.open_job_files(job_id), 30, "the server to open the job's files")
    return task


def test_the_result_is_the_stored_zips_and_nothing_is_built(setup: Setup, job_id: str, tmp_path: Path) -> None:
    async def main() -> Path:
        session = await _session(setup)
        try:
            task = await _held_mid_stream(setup, session, job_id, tmp_path / "dl")
            assert list(setup.incoming.iterdir()) == []  # streamed from where the zips lie, never copied first
            _resume(session)
            return Path(await task)
        finally:
            await session.close()

    result = asyncio.run(main())
    assert json.loads((result / "meta.json").read_text())["job_id"] == job_id
    assert (result / "job" / "weights.bin").stat().st_size == BIG
    assert json.loads((result / "job" / "meta.json").read_text())["name"] == "big-result"
    assert "step 1" in (result / "workspace" / "log.txt").read_text()
    assert list(setup.incoming.iterdir()) == []
    wait_until(lambda: not setup.open_job_files(job_id), 10, "the server to close the job's files")


@pytest.mark.parametrize("how", ["ctrl-c", "timeout", "connection dropped"])
def test_a_requester_that_goes_away_stops_the_stream(setup: Setup, job_id: str, tmp_path: Path, how: str) -> None:
    before = len(setup.stopped_lines())

    async def main() -> None:
        session = await _session(setup)
        other = await _session(setup)
        try:
            dest = tmp_path / "dl"
            if how == "timeout":  # (the head is read long before: the session is paused only until the files open)
                session.client.request_timeout = 3.0
            task = await _held_mid_stream(setup, session, job_id, dest)
            if how == "ctrl-c":  # before its head is read: the cancel goes out while the answer waits
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            elif how == "timeout":  # mid-body: the rest stops coming for longer than the session waits
                _resume(session)
                await _poll(lambda: any(dest.rglob("result.zip")), 30, "the data to come")
                _pause(session)
                with pytest.raises((TimeoutError, OSError)):
                    await task
            else:
                await session.close()
                with pytest.raises(OSError):  # NoConnection / SessionClosed
                    await task
            _resume(session)
            assert not (dest / job_id).exists()
            assert not list(dest.rglob("result.zip"))  # nothing half-received left behind
            if how != "connection dropped":  # the session goes on (connecting again after a timeout's drop)
                assert (await session.get_job_meta(job_id))["job_id"] == job_id
            assert (await other.get_job_meta(job_id))["status"] == "FINISHED:COMPLETED"
        finally:
            await session.close()
            await other.close()

    asyncio.run(main())
    wait_until(lambda: len(setup.stopped_lines()) > before, 20, "the server to say the download stopped")
    line = setup.stopped_lines()[-1]
    sent, total = (int(word) for word in line.split("stopped after ")[1].split(" bytes")[0].split(" of "))
    assert sent < total and total > BIG, line
    # A stalled stream is cut off by dropping the connection (console.wire.incoming.refuse).
    # (a peer that closes with the server's data unread resets the connection: TCP's RST, at times first)
    expected = (("its requester gave up on it",) if how == "ctrl-c"
                else ("the connection closed", "the connection was lost: [Errno 104] Connection reset by peer"))
    assert line.endswith(expected), line
    wait_until(lambda: not setup.open_job_files(job_id), 10, "the server to close the job's files")
    assert list(setup.incoming.iterdir()) == []


def test_delete_during_a_download_delivers_the_whole_result(setup: Setup, tmp_path: Path) -> None:
    """Finding 6: the download holds the job's files from before its first byte; a delete meanwhile
    removes them from the store, and the download still delivers every part, whole."""
    doomed = setup.finished_job()
    jobs_dir = setup.project.server_kit / "store" / "jobs"

    async def main() -> Path:
        session = await _session(setup)
        other = await _session(setup)
        try:
            task = await _held_mid_stream(setup, session, doomed, tmp_path / "dl")
            await other.delete_job(doomed)
            assert not (jobs_dir / doomed).exists()
            with pytest.raises(JobNotFound):
                await other.get_job_meta(doomed)
            _resume(session)
            return Path(await task)
        finally:
            await session.close()
            await other.close()

    result = asyncio.run(main())
    assert (result / "job" / "weights.bin").stat().st_size == BIG
    assert (result / "workspace" / "log.txt").is_file()
    assert json.loads((result / "meta.json").read_text())["status"] == "FINISHED:COMPLETED"
    wait_until(lambda: not setup.open_job_files(doomed), 10, "the server to let go of the deleted job's files")


def test_a_delete_before_the_files_are_opened_is_named(tmp_path: Path) -> None:
    """Finding 6, the other order: the job's meta was read, then a delete came before its files were
    opened: JobNotFound naming the deletion, never the part of the result that is left."""
    store = JobStore(tmp_path / "store")
    try:
        archive = tmp_path / "job.zip"
        archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
        admin = Submitter(ADMIN, "example", "project_admin")
        meta = store.create_job("0f1e2d3c-0000-4000-8000-000000000001", archive, {"name": "x"}, "x", admin)
        store.delete_job(meta["job_id"], admin)
        with pytest.raises(RemoteError) as raised:
            open_result(store, meta)
        assert raised.value.error_type is ErrorType.JOB_NOT_FOUND
        assert f"job {meta['job_id']} was deleted while its download was being prepared" in str(raised.value)
    finally:
        store.close()


@pytest.mark.parametrize(("parts", "said"), [
    ([{"name": "../evil.zip", "size": 3}], "a part named '../evil.zip', which is no part of a job's result"),
    ([{"name": "sites/../../x.zip", "size": 3}], "which is no part of a job's result"),
    ([{"name": "/etc/x.zip", "size": 3}], "which is no part of a job's result"),
    ([{"name": "job.zip", "size": 1}, {"name": "job.zip", "size": 2}], "sends job twice"),
    ([{"name": "job.zip", "size": 2}], "lists parts of 2 bytes in all but sent 3"),
    ([{"name": "job.zip", "size": -3}], "a size of -3, not a number of bytes"),
    ("job.zip", "lists its parts as no list of objects"),
])
def test_parts_from_the_wire_are_confined(parts: object, said: str) -> None:
    with pytest.raises(MalformedAnswer) as raised:
        planned_parts(parts, 3)
    assert said in str(raised.value)


def test_known_parts_go_where_they_belong() -> None:
    plan = planned_parts([{"name": "meta.json", "size": 1}, {"name": "job.zip", "size": 1},
                          {"name": "workspace.zip", "size": 0}, {"name": "sites/site-1.zip", "size": 1}], 3)
    assert plan == [("meta.json", 1), ("job", 1), ("workspace", 0), ("sites/site-1", 1)]


_SCRIPT = PRELUDE + """
from console.flare_api import new_secure_session
admin, kit, job_id, out = sys.argv[1:5]
with new_secure_session(admin, kit) as session:
    reading = session.client._writer.transport  # the session's own loop holds its socket
    session._loop.call_soon_threadsafe(reading.pause_reading)  # the server is held mid-stream
    print("DOWNLOADING", flush=True)
    try:
        session.download_job_result(job_id, out)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    else:
        print("NOT INTERRUPTED", flush=True)
        sys.exit(3)
    session._loop.call_soon_threadsafe(reading.resume_reading)
    print("STATUS", session.get_job_status(job_id), flush=True)  # the session goes on
"""


def test_ctrl_c_in_a_script_stops_the_download_too(setup: Setup, job_id: str, tmp_path: Path) -> None:
    """The sync Session in a script of its own: a terminal's Ctrl-C (SIGINT to the process) while
    download_job_result waits stops the download on its loop and on the server, not only the wait.
    A process of its own: the signal goes where a script's would, whatever earlier tests left in this one."""
    before = len(setup.stopped_lines())
    out = tmp_path / "dl"
    script = Script(_SCRIPT, ADMIN, str(setup.project.admin_kit), job_id, str(out))
    try:
        script.expect("DOWNLOADING")
        wait_until(lambda: setup.open_job_files(job_id), 30, "the server to open the job's files")
        # Its request is out, so the script waits in the session's call.
        wait_until(lambda: asleep_twice(script.pid), 30, "the script to wait for the download")
        script.interrupt()
        script.expect("INTERRUPTED", 10)  # at once, not once something times out
        assert script.rest() == ["STATUS FINISHED:COMPLETED"]
    finally:
        script.stop()
    wait_until(lambda: len(setup.stopped_lines()) > before, 20, "the server to say the download stopped")
    assert setup.stopped_lines()[-1].endswith("its requester gave up on it")
    assert not (out / job_id).exists()


_NEIGHBOURS = PRELUDE + """
from console.flare_api import new_secure_session
admin, kit, finished, big, waiting = sys.argv[1:6]


def held(case, call):
    print("READY", case, flush=True)
    sys.stdin.readline()  # the test holds the server first where the case needs it
    print("CALLING", case, flush=True)
    try:
        call()
    except KeyboardInterrupt:
        print("INTERRUPTED", case, flush=True)
    else:
        print("NOT INTERRUPTED", case, flush=True)
        sys.exit(3)
    sys.stdin.readline()  # the server goes on


def ctrl_c_here():  # a thread of the script's own, which leaves SIGINT unblocked as threads do
    state = lambda: open(f"/proc/self/task/{main}/stat").read().rsplit(")", 1)[1].split()[0]
    while not (state() == "S" and (time.sleep(0.05) or state() == "S")):  # the main thread waits
        time.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)


main = threading.get_native_id()
with new_secure_session(admin, kit) as session:
    jobs = len(session.list_jobs())
    pending = session.submit_job(waiting)  # stays SUBMITTED: its sites never connect
    held("monitor_job", lambda: session.monitor_job(pending, poll_interval=60))
    held("a request the server holds", session.list_jobs)
    held("an upload the server holds", lambda: session.submit_job(big))
    reading = session.client._writer.transport
    session._loop.call_soon_threadsafe(reading.pause_reading)  # its answer is never read
    held("a Ctrl-C another thread took", lambda: (threading.Thread(target=ctrl_c_here).start(), session.list_jobs()))
    session._loop.call_soon_threadsafe(reading.resume_reading)
    session.abort_job(pending)
    session.delete_job(pending)
    print("JOBS", len(session.list_jobs()) - jobs, "STATUS", session.get_job_status(finished), flush=True)
"""


def test_ctrl_c_stops_any_call_a_script_waits_in(setup: Setup, job_id: str, tmp_path: Path) -> None:
    """The defect's neighbours: Ctrl-C during monitor_job's wait for a change, during a request and
    an upload the server holds (its process stopped: it reads nothing), and a SIGINT the kernel gave
    to another thread of the script (Python acts on it in the main thread only, once that thread
    runs): each raises KeyboardInterrupt at once, the session goes on, the cancelled upload made no job."""
    server = setup.server.process.pid
    # Per case: whether the server is stopped, and what shows the call is under way (None: the
    # script sends itself the SIGINT).
    cases = [("monitor_job", False, lambda: True),
             ("a request the server holds", True, lambda: unread(server) > 0),
             ("an upload the server holds", True, lambda: unread(server) > 64 << 10),  # its chunks pile up
             ("a Ctrl-C another thread took", False, None)]
    script = Script(_NEIGHBOURS, ADMIN, str(setup.project.admin_kit), job_id, str(setup.job_folder),
                    str(waiting_for_sites(tmp_path)))
    try:
        for case, hold, under_way in cases:
            script.expect(f"READY {case}")
            if hold:
                os.kill(server, signal.SIGSTOP)
            script.send()
            script.expect(f"CALLING {case}")
            if under_way is not None:
                wait_until(under_way, 30, f"{case}: the call to be under way")
                wait_until(lambda: asleep_twice(script.pid), 30, f"the script to wait in {case}")
                script.interrupt()
            script.expect(f"INTERRUPTED {case}", 10)  # at once, not once something times out
            os.kill(server, signal.SIGCONT)
            script.send()
        assert script.rest() == ["JOBS 0 STATUS FINISHED:COMPLETED"]
    finally:
        os.kill(server, signal.SIGCONT)
        script.stop()


def test_a_file_built_for_a_requester_that_went_away_is_removed(tmp_path: Path) -> None:
    """Finding 3's neighbour (a site packing its workspace for a server that gave up): the build
    cannot be stopped in its thread, so its file goes once the thread is done; a failed build
    leaves none either."""
    out = tmp_path / "outgoing.zip"
    started, release = threading.Event(), threading.Event()

    def build(path: Path) -> None:
        path.write_bytes(b"begun")
        started.set()
        release.wait(30)
        path.write_bytes(b"done")

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    async def main() -> None:
        task = asyncio.create_task(build_to_send(build, out))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert out.exists()  # the thread still writes it
        release.set()
        await _poll(lambda: not out.exists(), 30, "the built file to be removed")
        with pytest.raises(OSError, match="disk full"):
            await build_to_send(broken, out)
        assert not out.exists()
        assert (await build_to_send(lambda path: path.write_bytes(b"ok"), out)).read_bytes() == b"ok"

    asyncio.run(main())
