"""Job processes are confined: nothing a job starts outlives it (also code that wipes its
environment and leaves its session), and the job's own children work while it runs.

Real server and sites, real job processes; the escapees are found by a token in their
command line, since they carry no environment marker."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from escapee import escapee_job, server_on_trigger

from console.runtime.adoption import SWEEP_INTERVAL_SECONDS

from conftest import ADMIN, EXAMPLES, Federation, PartProcess, ServerProcess, make_project, wait_until
from jobs import numpy_job

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adoption of orphans is Linux's")

ESCAPE = '''
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

FOLDER = Path({folder!r})
TOKEN = {token!r}
# Writes its pid, then lives 5 minutes: with an empty environment, in a session of its own.
ESCAPEE = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)"


def escape(who):
    """A double fork with env={{}} and setsid: the middle process exits at once, so the escapee
    is an orphan from its first instant."""
    pidfile = FOLDER / f"{{TOKEN}}-{{who}}.pid"
    middle = (f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {{ESCAPEE!r}}, {{str(pidfile)!r}}, "
              f"'escapee-{{TOKEN}}'], env={{{{}}}}, start_new_session=True, stdin=subprocess.DEVNULL, "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    subprocess.run([sys.executable, "-c", middle], env={{}}, start_new_session=True, check=True)
    deadline = time.monotonic() + 20
    while not pidfile.is_file() or not pidfile.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the escapee did not start")
        time.sleep(0.02)
    return int(pidfile.read_text())


def alive(pid):
    try:
        return Path(f"/proc/{{pid}}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def neighbours(who, watch):
    """What a job may do while it runs: a worker pool, and a helper it orphaned on purpose, which
    stays alive across the daemon's sweeps (it is the job process's now, not the daemon's)."""
    with multiprocessing.Pool(2) as pool:
        assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    pid = escape(who)
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError(f"the job's own helper {{pid}} was killed while the job ran")
        time.sleep(0.1)
    return pid
'''

CONTROLLER = '''
from console.runtime.fedavg import fedavg
from escape import neighbours


def run(ctx):
    neighbours("server", ctx.args.pop("watch"))
    fedavg(ctx)
'''

TRAINER = '''
import time
from console.runtime.contract import TaskResult
from escape import neighbours

HOLD = {hold!r}
WATCH = {watch!r}


def train(model, ctx):
    neighbours(ctx.site_name, WATCH)
    while HOLD and not ctx.aborted():
        time.sleep(0.05)
    return TaskResult({{k: v + 1 for k, v in model.items()}})
'''


def _escaping_job(root: Path, pids: Path, token: str, *, hold: bool) -> Path:
    folder = numpy_job(root, name=f"escaping-{'hold' if hold else 'end'}", rounds=1)
    custom = folder / "app" / "custom"
    (custom / "escape.py").write_text(ESCAPE.format(folder=str(pids), token=token))
    (custom / "controller.py").write_text(CONTROLLER)
    # A job that ends by itself watches its helpers for longer than the daemon's sweep interval.
    watch = 0.0 if hold else SWEEP_INTERVAL_SECONDS + 0.5
    (custom / "trainer.py").write_text(TRAINER.format(hold=hold, watch=watch))
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({"controller": "controller:run", "args": {**config["args"], "watch": watch}}))
    return folder


def _with_token(token: str) -> list[int]:
    """Live processes whose command line holds ``token`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _escapees_running(fed: Federation, job_id: str, pids: Path, token: str) -> None:
    """Wait until the job's three escapees (server, site-1, site-2) run; what was seen if they never do."""
    try:
        wait_until(lambda: len(list(pids.glob("*.pid"))) == 3 and len(_with_token(token)) == 3, 60,
                   "the job's escapees on the server and both sites")
    except AssertionError as exc:
        meta = fed.session.get_job_meta(job_id)
        logged = fed.server.stderr_path.read_text(errors="replace")[-3000:]
        job_logs = "\n".join(f"--- {path}:\n{path.read_text(errors='replace')[-2000:]}"
                             for path in fed.project.prod.rglob(f"{job_id}/log.txt"))
        raise AssertionError(f"{exc}: pid files {sorted(p.name for p in pids.glob('*.pid'))}, alive "
                             f"{_with_token(token)}, job {meta.get('status')} {meta.get('job_errors')}, "
                             f"job processes:\n{_job_processes(job_id)}\nserver log:\n{logged}\n"
                             f"job logs:\n{job_logs}") from None


def _job_processes(job_id: str) -> str:
    """Each process of the job and all below it: pid, parent, state, what each thread waits in."""
    def read(path: Path) -> str:
        try:
            return path.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return "?"

    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read(entry / "stat")
            fields = stat[stat.rfind(")") + 2:].split()
            if len(fields) > 1:
                parents[int(entry.name)] = int(fields[1])
    marked = [pid for pid in parents if f"FLARE_CONSOLE_JOB={job_id}".encode() in
              read(Path(f"/proc/{pid}/environ")).encode()]
    lines, todo = [], list(marked)
    while todo:
        pid = todo.pop()
        todo.extend(child for child, parent in parents.items() if parent == pid)
        proc = Path(f"/proc/{pid}")
        threads = ", ".join(f"{task.name}:{read(task / 'wchan')}" for task in sorted((proc / "task").glob("*")))
        lines.append(f"{pid} (parent {parents.get(pid)}) {read(proc / 'cmdline')[:150]!r}: threads {threads}")
    return "\n".join(lines) or "none"


def _gone_within(token: str, seconds: float, when: str) -> None:
    deadline = time.monotonic() + seconds
    while (left := _with_token(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"still alive {seconds:g} s {when}: {left}"


def _kill(token: str) -> None:
    for pid in _with_token(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.timeout(120)
def test_nothing_a_job_started_outlives_its_abort_or_its_delete(fed: Federation, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    pids = tmp_path / "pids"
    pids.mkdir()
    job_id = fed.session.submit_job(str(_escaping_job(tmp_path, pids, token, hold=True)))
    try:
        # Escapees on the server and on both sites, alive while the job runs.
        _escapees_running(fed, job_id, pids, token)
        fed.session.abort_job(job_id)
        _gone_within(token, 5, "after abort_job")
        assert fed.session.wait_for_job(job_id, timeout=30)["status"] == "FINISHED:ABORTED"
        fed.session.delete_job(job_id)
        assert not _with_token(token), "a job process came back after delete_job"
    finally:
        _kill(token)


@pytest.mark.timeout(120)
def test_nothing_a_job_started_outlives_the_job_that_ended_by_itself(fed: Federation, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    pids = tmp_path / "pids"
    pids.mkdir()
    job_id = fed.session.submit_job(str(_escaping_job(tmp_path, pids, token, hold=False)))
    try:
        # The job's worker pools and its own helpers worked (the job code checks them), so it completes.
        meta = fed.session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
        assert len(list(pids.glob("*.pid"))) == 3
        _gone_within(token, 5, "after the job ended")
    finally:
        _kill(token)


POOLS = '''
import multiprocessing


def end_pools(count):
    """Pools ended as soon as they are made: their workers get SIGTERM while they start."""
    for _ in range(count):
        with multiprocessing.Pool(2):
            pass
'''

POOLS_CONTROLLER = '''
from console.runtime.fedavg import fedavg
from pools import end_pools


def run(ctx):
    end_pools(ctx.args.pop("pools"))
    fedavg(ctx)
'''

POOLS_TRAINER = '''
from console.runtime.contract import TaskResult
from pools import end_pools


def train(model, ctx):
    end_pools({pools})
    return TaskResult({{k: v + 1 for k, v in model.items()}})
'''


@pytest.mark.timeout(120)
def test_a_jobs_worker_pools_end_when_the_job_ends_them(fed: Federation, tmp_path: Path) -> None:
    """Pool.terminate ends its workers with SIGTERM: in a job process, whose own SIGTERM handler
    they must not inherit, else one hangs for ever now and then (its SIGTERM lost while it starts)
    and the job with it. Before the fix each of 3 bare runs hung within 10 such pools."""
    pools = 15
    folder = numpy_job(tmp_path, name="ending-pools", rounds=1)
    custom = folder / "app" / "custom"
    (custom / "pools.py").write_text(POOLS)
    (custom / "controller.py").write_text(POOLS_CONTROLLER)
    (custom / "trainer.py").write_text(POOLS_TRAINER.format(pools=pools))
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({"controller": "controller:run", "args": {**config["args"], "pools": pools}}))
    job_id = fed.session.submit_job(str(folder))
    try:
        meta = fed.session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
    finally:
        if fed.session.get_job_meta(job_id)["status"] in ("SUBMITTED", "DISPATCHED", "RUNNING"):
            fed.session.abort_job(job_id)
            fed.session.wait_for_job(job_id, timeout=30)


HOLDING_CONTROLLER = '''
from escape import escape


def run(ctx):
    escape("server")
    ctx.sleep(120)
'''


@pytest.mark.timeout(120)
def test_nothing_a_job_started_outlives_its_server_killed(tmp_path: Path) -> None:
    """The daemon that would sweep is gone (kill -9): the job process ends what its job started."""
    from console.flare_api import new_secure_session

    token = uuid.uuid4().hex
    pids = tmp_path / "pids"
    pids.mkdir()
    folder = tmp_path / "holding"
    shutil.copytree(EXAMPLES / "hello-server", folder)
    (folder / "app" / "custom" / "escape.py").write_text(ESCAPE.format(folder=str(pids), token=token))
    (folder / "app" / "custom" / "holding.py").write_text(HOLDING_CONTROLLER)
    (folder / "app" / "config" / "config_fed_server.json").write_text('{"controller": "holding:run", "args": {}}')
    project = make_project(tmp_path / "project")
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        with contextlib.closing(new_secure_session(ADMIN, str(project.admin_kit), timeout=10)) as session:
            session.submit_job(str(folder))
            wait_until(lambda: _with_token(token), 30, "the job's escapee")
        server.kill()
        _gone_within(token, 5, "after its server was killed")
    finally:
        server.stop()
        server.kill()
        _kill(token)


# A process whose main thread (the thread-group leader) ends alone with the raw SYS_exit syscall
# while a second thread runs on: /proc shows it 'Z', its environ and cmdline read empty. In its own
# session with an empty environment, so only adoption can find it.
SYS_EXIT = {"x86_64": 60, "aarch64": 93}.get(platform.machine())
LEADER_EXIT = '''
import ctypes, os, sys, threading, time


def worker():
    while open("/proc/self/stat").read().rsplit(")", 1)[1].split()[0] != "Z":  # the leader has ended
        time.sleep(0.01)
    with open(sys.argv[1] + ".tmp", "w") as out:
        out.write(str(os.getpid()))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(300)
    os._exit(0)


threading.Thread(target=worker).start()
time.sleep(0.1)
ctypes.CDLL(None).syscall({sys_exit}, 0)
'''

LEADER_START = '''
import subprocess, sys, time
from pathlib import Path

FOLDER = Path({folder!r})
SCRIPT = {script!r}


def start_leader_exit(who):
    """Start it and wait until its leader has ended (its thread writes the pid file then)."""
    pidfile = FOLDER / f"{{who}}.pid"
    subprocess.Popen([sys.executable, "-c", SCRIPT, str(pidfile)], env={{}}, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not pidfile.is_file():
        if time.monotonic() > deadline:
            raise RuntimeError("the leader-exit process did not start")
        time.sleep(0.02)
'''

LEADER_CONTROLLER = '''
from console.runtime.fedavg import fedavg
from leader import start_leader_exit


def run(ctx):
    start_leader_exit("server")
    fedavg(ctx)
'''

LEADER_TRAINER = '''
import time
from pathlib import Path
from console.runtime.contract import TaskResult
from leader import start_leader_exit

RELEASE = Path({release!r})


def train(model, ctx):
    start_leader_exit(ctx.site_name)
    # held until the test has seen every leader-exited process running (else the job could end,
    # and sweep them, before the test looks) and then released, or aborted
    while not RELEASE.exists() and not ctx.aborted():
        time.sleep(0.05)
    return TaskResult({{k: v + 1 for k, v in model.items()}})
'''


def _threads_running(pid: int) -> bool:
    """Whether a thread of ``pid`` still runs, whatever its leader's state says."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            if Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                return True
        except OSError:
            continue
    return False


def _leader_exit_job(root: Path, pids: Path, release: Path) -> Path:
    """A one-round job whose server and trainers each start a leader-exited process (its pid file in
    ``pids``); the trainers hold until ``release`` exists or the job is aborted."""
    folder = numpy_job(root, name="leader-exit", rounds=1)
    custom = folder / "app" / "custom"
    (custom / "leader.py").write_text(LEADER_START.format(folder=str(pids),
                                                          script=LEADER_EXIT.format(sys_exit=SYS_EXIT)))
    (custom / "controller.py").write_text(LEADER_CONTROLLER)
    (custom / "trainer.py").write_text(LEADER_TRAINER.format(release=str(release)))
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({"controller": "controller:run", "args": config["args"]}))
    return folder


@pytest.mark.skipif(SYS_EXIT is None, reason="the SYS_exit syscall number of this machine is not known here")
@pytest.mark.parametrize("end", ["by itself", "abort_job"])
@pytest.mark.timeout(120)
def test_a_process_whose_leader_thread_exited_does_not_outlive_its_job(fed: Federation, tmp_path: Path,
                                                                       end: str) -> None:
    """Its state letter says Z (zombie) while its second thread runs: the job process's own sweep as
    it ends and the daemons' (server, site) sweeps must look at its threads, not at that letter."""
    pids = tmp_path / "pids"
    pids.mkdir()
    release = tmp_path / "release"
    job_id = fed.session.submit_job(str(_leader_exit_job(tmp_path, pids, release)))
    found: dict[str, int] = {}
    try:
        def all_three() -> bool:
            found.update({p.stem: int(p.read_text()) for p in pids.glob("*.pid")})
            return len(found) == 3
        try:
            wait_until(all_three, 60, "the job's leader-exited processes on the server and both sites")
        except AssertionError as exc:
            meta = fed.session.get_job_meta(job_id)
            raise AssertionError(f"{exc}: found {found}, job {meta.get('status')} {meta.get('job_errors')}") from None
        assert all(_threads_running(pid) for pid in found.values()), found
        if end == "abort_job":
            fed.session.abort_job(job_id)
        else:
            release.touch()
        status = fed.session.wait_for_job(job_id, timeout=60)["status"]
        assert status == ("FINISHED:ABORTED" if end == "abort_job" else "FINISHED:COMPLETED")
        deadline = time.monotonic() + 5
        while (left := {who: pid for who, pid in found.items() if _threads_running(pid)}) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"still running 5 s after the job's end ({end}), their leader thread gone: {left}"
    finally:
        for pid in found.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(SYS_EXIT is None, reason="the SYS_exit syscall number of this machine is not known here")
@pytest.mark.timeout(60)
def test_a_marked_process_whose_leader_thread_exited_is_found_by_its_marker_and_killed(tmp_path: Path) -> None:
    """Its environ cannot be read through its leader: the marker is read from a thread still running."""
    import subprocess

    from console.runtime.procs import MARKER_VAR, kill_job_processes, marked_pids

    marker = f"{uuid.uuid4()}:server"
    pidfile = tmp_path / "leader.pid"
    child = subprocess.Popen([sys.executable, "-c", LEADER_EXIT.format(sys_exit=SYS_EXIT), str(pidfile)],
                             env={MARKER_VAR: marker}, start_new_session=True)
    try:
        wait_until(pidfile.is_file, 30, "the leader-exit process")
        with pytest.raises(ProcessLookupError):  # what the old scan saw: no leader, no environment
            Path(f"/proc/{child.pid}/environ").read_bytes()
        assert marked_pids(marker) == [child.pid]
        assert kill_job_processes(marker, sweep=5) == 1
        assert child.wait(10) == -signal.SIGKILL
        assert marked_pids(marker) == []
    finally:
        child.kill()
        child.wait(10)


#: What a server's sweep logs when it killed what a job of its workspace left under PID 1 (console.runtime.adoption).
LEFT_UNDER_PID_1 = "a job of this workspace left under PID 1 (its job process and daemon gone) were killed"
#: A leftover of the workspace whose tag is argv[1], as a job's would be: a job process's mark, then a double
#: fork into a session of its own, so that it runs under PID 1 (its pid in argv[2]; argv[3] a token).
PLANTED = ("import os, resource, sys, time\n"
           "from console.runtime import job_mark\n"
           "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
           "job_mark.mark_self(int(sys.argv[1]))\n"
           "if os.fork() == 0:\n"
           "    os.setsid()\n"
           "    open(sys.argv[2] + '.tmp', 'w').write(str(os.getpid()))\n"
           "    os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
           "    time.sleep(300)\n"
           "os._exit(0)\n")


def _parent(pid: int) -> int | None:
    """``pid``'s parent, None once it is gone (a zombie's is still read: it has not been reaped yet)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _plant_leftover(tag: int, pidfile: Path, token: str) -> int:
    """A process under PID 1 carrying the mark of workspace ``tag``: what a job of that workspace left."""
    import subprocess

    subprocess.run([sys.executable, "-c", PLANTED, str(tag), str(pidfile), token], check=True, timeout=30,
                   cwd=Path(__file__).parents[1])
    wait_until(lambda: pidfile.is_file(), 10, "the planted leftover")
    pid = int(pidfile.read_text())
    wait_until(lambda: _parent(pid) == 1, 10, "the planted leftover under PID 1")
    return pid


def _swept(part: PartProcess) -> list[str]:
    """What a daemon's log says its sweeps killed."""
    return [line for line in part.stderr.splitlines() if "were killed" in line]


@pytest.mark.timeout(120)
def test_what_a_job_started_after_killing_its_job_process_and_server_ends_when_a_server_starts(tmp_path: Path) -> None:
    """Nothing above it is left to end it (it runs under PID 1): the job's mark (lowered hard limits it
    cannot raise, carrying the workspace's tag) is how the next daemon of that workspace knows it for its
    job's at its start. Another workspace's daemon, started meanwhile, leaves it alone: its sweep at start
    ends that workspace's own leftover (planted beside it) and not this one (docs/security.md)."""
    from console.flare_api import new_secure_session
    from console.runtime import job_mark

    if not job_mark.supported():
        pytest.skip("no RLIMIT_RTTIME")
    token, other_token = uuid.uuid4().hex, uuid.uuid4().hex
    pidfile, trigger = tmp_path / "escapee.pid", tmp_path / "start-again"
    folder = escapee_job(tmp_path, pidfile, token)
    project, other = make_project(tmp_path / "project"), make_project(tmp_path / "other")
    tags = job_mark.workspace_tag(project.server_kit), job_mark.workspace_tag(other.server_kit)
    assert tags[0] != tags[1], "two workspaces with one tag (1 in 2^19): run again"
    server, again, other_server = (ServerProcess(project.server_kit), server_on_trigger(project.server_kit, trigger),
                                   ServerProcess(other.server_kit))
    try:
        server.start()
        again.start(wait=False)
        with contextlib.closing(new_secure_session(ADMIN, str(project.admin_kit), timeout=10)) as session:
            session.submit_job(str(folder))
            wait_until(lambda: pidfile.is_file(), 30, "the escapee")
        escapee = int(pidfile.read_text())
        wait_until(lambda: server.process.poll() is not None and _parent(escapee) in (1, None), 30,
                   "the job's code to kill the server and its job process", interval=0.002)
        # Its job process was stopped before the daemon died: it cannot have ended the escapee.
        assert _parent(escapee) == 1 and _with_token(token) == [escapee], \
            "the escapee ended before a daemon of either workspace started (another daemon of this user?)"
        assert job_mark.owner(escapee) == tags[0]

        # Another workspace's daemon starts: its sweep at start ends its own workspace's leftover, and
        # in the same pass (one reading of PID 1's children) leaves this workspace's alone.
        _plant_leftover(tags[1], tmp_path / "planted.pid", other_token)
        other_server.start()
        other_server.wait_for_line(LEFT_UNDER_PID_1, 20)
        _gone_within(other_token, 5, "after its workspace's server started")
        assert _parent(escapee) == 1 and _with_token(token) == [escapee], \
            f"another workspace's daemon ended this workspace's leftover: {_swept(other_server)}"

        trigger.touch()
        _gone_within(token, 5, "after a server of its workspace started again")
        again.wait_for_line(LEFT_UNDER_PID_1, 5)
    finally:
        trigger.touch()  # (a server waiting for it starts, and is stopped)
        for part in (again, server, other_server):
            part.stop()
            part.kill()
        _kill(token)
        _kill(other_token)


#: A job process's mark with workspace tag argv[1], then one limit lowered by its own code (argv[2]).
MARKED = ("import resource, sys, time\n"
          "from console.runtime import job_mark\n"
          "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
          "value = job_mark.mark_self(int(sys.argv[1]))\n"
          "if sys.argv[2] == 'rttime':\n"
          "    resource.setrlimit(resource.RLIMIT_RTTIME, (value - 1, value - 1))\n"
          "if sys.argv[2] == 'msgqueue':\n"
          "    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, int(sys.argv[1]) - 1))\n"
          "print('marked', flush=True)\n"
          "time.sleep(60)\n")


@pytest.mark.timeout(60)
def test_a_leftover_is_its_own_workspace_daemons_and_a_changed_mark_is_everyones(tmp_path: Path) -> None:
    """The mark carries the workspace's tag twice, in opposite directions: a daemon ends leftovers of its
    own workspace only, and job code that lowers either limit (to pass for another workspace's) makes a
    mark whose owner cannot be told, which every daemon ends (docs/security.md)."""
    import subprocess

    from console.runtime import job_mark

    if not job_mark.supported():
        pytest.skip("no RLIMIT_RTTIME")
    ours, theirs = job_mark.workspace_tag(tmp_path / "a"), job_mark.workspace_tag(tmp_path / "b")
    assert ours != theirs and job_mark.workspace_tag(tmp_path / "a") == ours
    cases = {"mine": (ours, "-"), "another's": (theirs, "-"), "rttime lowered": (theirs, "rttime"),
             "msgqueue lowered": (theirs, "msgqueue"), "untagged": (0, "-")}
    started = {}
    try:
        for name, (tag, lower) in cases.items():
            started[name] = subprocess.Popen([sys.executable, "-c", MARKED, str(tag), lower], stdout=subprocess.PIPE,
                                             cwd=Path(__file__).parents[1])
        for process in started.values():
            assert process.stdout is not None and process.stdout.readline() == b"marked\n"
        owners = {name: job_mark.owner(process.pid) for name, process in started.items()}
        assert owners == {"mine": ours, "another's": theirs, "rttime lowered": None, "msgqueue lowered": None,
                          "untagged": None}, owners
        assert job_mark.owner(os.getpid()) == 0  # no job's
        parents = {process.pid: (1, True) for process in started.values()}  # as if under PID 1
        swept = dict(job_mark.leftover_roots(parents, ours))
        names = {process.pid: name for name, process in started.items()}
        assert {names[pid]: mine for pid, mine in swept.items()} == {
            "mine": True, "rttime lowered": False, "msgqueue lowered": False, "untagged": False}
    finally:
        for process in started.values():
            process.kill()
            process.wait(10)


SETGID_PROGRAM = next((p for p in ("/usr/bin/ssh-agent", "/usr/bin/expiry", "/usr/bin/crontab")
                       if os.path.exists(p) and os.stat(p).st_mode & 0o2000), None)
# Run as an unprivileged user: a set-group-ID program started before and after the job's mark,
# seen the way a daemon of that user sees it; the marked one is then killed as a leftover is.
SETGID_PROBE = '''
import json, os, signal, subprocess, sys
sys.path.insert(0, {root!r})
from console.runtime import job_mark

def agent():
    return subprocess.Popen([{program!r}, "-D", "-a", {socket!r} + str(len(agents))], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

agents = []
agents.append(agent())  # before the mark: not a job's
import resource, time
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # as every job process does (console.runtime.limits)
job_mark.mark_self()
agents.append(agent())  # after it: a job's, set-group-ID
time.sleep(0.5)
try:
    resource.prlimit(agents[1].pid, resource.RLIMIT_CORE)
    denied = False
except PermissionError:
    denied = True
seen = {{"denied": denied, "unmarked": job_mark.marked(agents[0].pid), "marked": job_mark.marked(agents[1].pid),
        "root": job_mark.marked(int(sys.argv[1]))}}
seen["killed"] = job_mark.kill_tree(agents[1].pid, [])
seen["status"] = agents[1].wait(10)
agents[0].kill(); agents[0].wait(10)
print(json.dumps(seen))
'''


@pytest.mark.skipif(os.geteuid() != 0 or SETGID_PROGRAM is None or not shutil.which("setpriv"),
                    reason="needs root (to run the probe as nobody), setpriv and a set-group-ID ssh-agent")
@pytest.mark.timeout(60)
def test_a_marked_set_group_id_leftover_of_the_same_user_is_known_and_killed() -> None:
    """``prlimit`` is refused on a set-group-ID program of our own user (security tester, session
    9, item 7: ``ssh-agent -D`` outlived the next daemon's sweep): its mark is read in
    ``/proc/PID/limits``; an unmarked one and another user's marked process are not a job's."""
    import subprocess

    if "ssh-agent" not in SETGID_PROGRAM:
        pytest.skip("the probe runs ssh-agent -D")
    root_marked = subprocess.Popen([sys.executable, "-c", "from console.runtime import job_mark; import time; "
                                    "import resource; resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); job_mark.mark_self(); "
                                    "time.sleep(60)"], cwd=Path(__file__).parents[1])
    sockets = f"/tmp/fc-agent-{uuid.uuid4().hex}."  # /tmp: tmp_path's parents are closed to nobody
    try:
        wait_until(lambda: Path(f"/proc/{root_marked.pid}/limits").read_text().count("3600000000") == 2, 20,
                   "the root process's mark")
        probe = subprocess.run(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c",
             SETGID_PROBE.format(root=str(Path(__file__).parents[1]), program=SETGID_PROGRAM,
                                 socket=sockets), str(root_marked.pid)],
            capture_output=True, text=True, timeout=40)
    finally:
        root_marked.kill()
        root_marked.wait(10)
        for n in (0, 1):
            with contextlib.suppress(OSError):
                os.unlink(f"{sockets}{n}")
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen == {"denied": True, "unmarked": False, "marked": True, "root": False, "killed": 1,
                    "status": -signal.SIGKILL}, seen
