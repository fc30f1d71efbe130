"""Real models through the real server and sites: sizes, limits, timeouts, abort of a whole process tree."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from console.runtime.arrays import ModelFormatError, read_model, write_model
from console.runtime.fedavg import RoundSaver
from console.runtime.procs import job_processes

from conftest import EXAMPLES, Federation, wait_until
from jobs import archived_model, numpy_job

PLUS_ONE = '''
from console.runtime.contract import TaskResult


def train(model, ctx):
    return TaskResult({k: v + 1 for k, v in model.items()}, weight=1.0, metrics={"round": ctx.round})
'''


def _model_job(root: Path, nbytes: int, rounds: int) -> tuple[Path, dict[str, np.ndarray]]:
    """FedAvg from a float32 initial model of ``nbytes`` (random: it does not compress). The server's
    app holds the model, the sites' app only the executor: the sites get the model as tasks."""
    folder = root / f"model-{nbytes}"
    server_app, site_app = folder / "app_server", folder / "app_site"
    for app in (server_app, site_app):
        shutil.copytree(EXAMPLES / "hello-numpy" / "app", app)
    rng = np.random.default_rng(nbytes)
    count = nbytes // 4
    start = {"dense": rng.random(count - count // 4, dtype=np.float32),
             "bias": rng.random((count // 4 // 8, 8), dtype=np.float32)}
    np.savez(server_app / "initial.npz", **start)
    config_path = server_app / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config["args"].update(num_rounds=rounds, initial_model="initial.npz")
    config_path.write_text(json.dumps(config))
    (site_app / "custom" / "trainer.py").write_text(PLUS_ONE)
    (folder / "meta.json").write_text(json.dumps({
        "name": f"model-{nbytes}", "min_clients": 2,
        "deploy_map": {"app_server": ["server"], "app_site": ["site-1", "site-2"]}}))
    return folder, start


@pytest.mark.timeout(240)
def test_models_from_1_kb_to_64_mb_arrive_exact(fed: Federation, tmp_path: Path) -> None:
    session, project = fed.session, fed.project
    for nbytes, rounds in ((1 << 10, 3), (1 << 20, 3), (64 << 20, 2)):
        folder, start = _model_job(tmp_path, nbytes, rounds)
        job_id = session.submit_job(str(folder))
        meta = session.wait_for_job(job_id, timeout=180)
        assert meta["status"] == "FINISHED:COMPLETED", (nbytes, meta.get("job_errors"))
        final = archived_model(project.server_kit, job_id)
        for name, array in start.items():
            expected = array
            for _ in range(rounds):
                expected = expected + np.float32(1)
            assert final[name].dtype == np.float32
            np.testing.assert_array_equal(final[name], expected)
        del final
        # Models in flight are gone once the job ends, on the server and on both sites.
        assert not (project.server_kit / job_id / ".transfer").exists()
        for site in ("site-1", "site-2"):
            assert not (project.kit(site) / job_id / ".transfer").exists()
        shutil.rmtree(folder)


def test_model_file_round_trip_and_refusals(tmp_path: Path) -> None:
    model = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array(2.5), "i": np.arange(3, dtype=np.int8),
             "empty": np.zeros((0, 5), dtype=np.float64)}
    path = tmp_path / "m.model"
    write_model(model, path)
    back = read_model(path)
    assert list(back) == list(model)
    for name, array in model.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)
    with pytest.raises(ModelFormatError, match="numeric arrays only"):
        write_model({"o": np.array([object()])}, tmp_path / "o.model")
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ModelFormatError, match="truncated"):
        read_model(path)
    (tmp_path / "pickle.model").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelFormatError, match="not a model file"):
        read_model(tmp_path / "pickle.model")



def test_round_files_are_written_in_the_background_and_a_failed_write_is_raised(tmp_path: Path) -> None:
    saver = RoundSaver()
    model = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    saver.save(model, tmp_path / "models" / "round_1.npz")
    saver.wait()
    with np.load(tmp_path / "models" / "round_1.npz") as saved:
        np.testing.assert_array_equal(saved["w"], model["w"])
    (tmp_path / "blocked").write_text("a file where the models folder should be")
    saver.save(model, tmp_path / "blocked" / "round_2.npz")
    with pytest.raises(OSError):
        saver.close()

_CHUNK_BUFFERS = """
import resource, sys
from console.process import tune_allocator
print(tune_allocator())
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def chunks():  # what relaying one chunk allocates: the read, the frame, the decrypted copy
    a = b"x" * (1 << 20); b = b"y" * (1 << 20); c = b"z" * (1 << 20)
    del a, b, c
chunks()
before = faults()
for _ in range(50):
    chunks()
print((faults() - before) / 50)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only")
def test_the_megabyte_buffers_of_chunks_are_reused_not_faulted_in_again() -> None:
    """Every process that relays models tunes glibc's malloc: the 1 MiB buffers of one chunk are
    reused for the next instead of being given back and faulted in again (768 page faults per
    three buffers with glibc's defaults)."""
    done = subprocess.run([sys.executable, "-c", _CHUNK_BUFFERS], capture_output=True, text=True, timeout=50,
                          check=True)
    tuned, faults_per_chunk = done.stdout.split()
    assert tuned == "True"
    assert float(faults_per_chunk) < 16, done.stdout


OVERSIZE_CONTROLLER = '''
from console.runtime.limits import PayloadTooLarge


def run(ctx):
    if ctx.args.get("raw"):
        # Straight onto the control channel, past the helper's check: the server must stop it.
        ctx.channel.emit("progress", data={"blob": "x" * (1 << 20)})
        ctx.sleep(30)
    else:
        ctx.progress(blob="x" * (1 << 20))
'''


def _oversize_progress_job(root: Path, raw: bool) -> Path:
    folder = root / f"oversize-progress-{raw}"
    shutil.copytree(EXAMPLES / "hello-server", folder)
    (folder / "app" / "custom" / "big.py").write_text(OVERSIZE_CONTROLLER)
    (folder / "app" / "config" / "config_fed_server.json").write_text(
        json.dumps({"controller": "big:run", "args": {"raw": raw}}))
    meta = json.loads((folder / "meta.json").read_text())
    meta["name"] = f"oversize-progress-{raw}"
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.timeout(120)
def test_payloads_over_their_limits_end_the_job_with_a_clear_error(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    # A result over max_result_bytes: refused on the site before it travels.
    folder = numpy_job(tmp_path, name="big-result", rounds=2)
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config["args"]["max_result_bytes"] = 40
    config_path.write_text(json.dumps(config))
    job_id = session.submit_job(str(folder))
    meta = session.wait_for_job(job_id, timeout=60)
    assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION"
    errors = " ".join(e for entries in meta["job_errors"].values() for e in entries)
    assert "exceeds this task's limit of 40 bytes (max_result_bytes in the workflow args" in errors

    # A progress event over its limit, through the helper and straight onto the channel.
    for raw, expected in ((False, "a progress event of"), (True, "longer than 262144 bytes")):
        job_id = session.submit_job(str(_oversize_progress_job(tmp_path, raw)))
        meta = session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        assert expected in " ".join(meta["job_errors"]["server"])
    # The server still runs jobs: nothing was wedged.
    job_id = session.submit_job(str(numpy_job(tmp_path, name="after", rounds=1)))
    assert session.wait_for_job(job_id, timeout=60)["status"] == "FINISHED:COMPLETED"


OVERSIZED_TRAINER = '''
import numpy as np

from console.runtime.contract import TaskResult


def train(model, ctx):
    if ctx.site_name == "site-2":  # 80 MiB back for a 72-byte model (calloc'd: no memory touched)
        return TaskResult({"weights": np.zeros(10 << 20, dtype=np.float64)})
    return TaskResult({k: v + 1 for k, v in model.items()})
'''


@pytest.mark.timeout(120)
def test_a_result_out_of_proportion_to_its_task_is_refused_without_a_limit_set(session, sites, tmp_path) -> None:
    """No max_result_bytes in the job: a task's result may be 4 x the model file it sent, at least
    64 MiB, not 4 GiB. An executor returning 80 MiB for a tiny model is refused on its site, and
    job_errors name the site, the size and the limit."""
    folder = numpy_job(tmp_path, name="oversized-result", rounds=1)
    (folder / "app" / "custom" / "trainer.py").write_text(OVERSIZED_TRAINER)
    job_id = session.submit_job(str(folder))
    meta = session.wait_for_job(job_id, timeout=60)
    assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
    assert list(meta["job_errors"]) == ["site-2"], meta["job_errors"]
    error, *notes = meta["job_errors"]["site-2"]  # (+ its workspace's note when it was away as the job ended)
    assert all("workspace" in note for note in notes), meta["job_errors"]["site-2"]
    assert f"the result model of {80 << 20} bytes exceeds this task's limit of {64 << 20} bytes" in error, error
    assert "4 x the model file the task sent" in error, error


@pytest.mark.timeout(120)
def test_a_site_that_sends_more_than_its_task_allows_is_refused_at_once(server, session, project,
                                                                        tmp_path: Path) -> None:
    """A hostile site (real site code that answers every task with a 256 MiB file, whatever the
    limit) is refused by the server as soon as it announces the size, not after 4 GiB: the job
    ends EXECUTION_EXCEPTION naming the site, the size and the limit; site-1 stays connected, site-2's
    connection is dropped (nothing more of its answer is read) and it comes back by itself."""
    from conftest import HostileSiteProcess, SiteProcess

    honest, hostile = SiteProcess(project.kit("site-1")), HostileSiteProcess(project.kit("site-2"))
    try:
        honest.start()
        hostile.start()
        wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "both sites to register")
        job_id = session.submit_job(str(numpy_job(tmp_path, name="hostile-result", rounds=1)))
        meta = session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        error, *notes = meta["job_errors"]["site-2"]  # (+ its workspace's note when it was away as the job ended)
        assert all("workspace" in note for note in notes), meta["job_errors"]["site-2"]
        assert f"its result of {256 << 20} bytes exceeds this task's limit of {80 << 20} bytes" in error, error
        assert "refused" in error, error
        assert "site-1" not in meta["job_errors"], meta["job_errors"]
        wait_until(lambda: sorted(c.name for c in session.get_connected_client_list()) == ["site-1", "site-2"], 30,
                   "site-2 to come back after its connection was dropped")
    finally:
        for part in (hostile, honest):
            part.stop()
            part.kill()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("weight", ['"nan"', "true"])
def test_a_result_weight_that_is_no_finite_number_is_the_sites_error(server, session, project, tmp_path: Path,
                                                                     weight: str) -> None:
    """FedAvg averages by weight: a site's "nan" (a string float() would take), NaN, infinity or a
    bool would make the model all NaN while the job says COMPLETED. Only a finite number >= 0 counts.
    (NaN and Infinity as bare constants are not JSON: the wire refuses them before any weight is read.)"""
    from conftest import HostileSiteProcess, SiteProcess

    honest = SiteProcess(project.kit("site-1"))
    hostile = HostileSiteProcess(project.kit("site-2"), HOSTILE_WEIGHT=weight)
    try:
        honest.start()
        hostile.start()
        wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "both sites to register")
        job_id = session.submit_job(str(numpy_job(tmp_path, name="bad-weight", rounds=1)))
        meta = session.wait_for_job(job_id, timeout=60)
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        error, *notes = meta["job_errors"]["site-2"]  # (+ its workspace's note when it was away as the job ended)
        assert all("workspace" in note for note in notes), meta["job_errors"]["site-2"]
        assert "weight must be a finite number of at least 0" in error, error
    finally:
        for part in (hostile, honest):
            part.stop()
            part.kill()


TREE_TRAINER = '''
import os
import subprocess
import sys
import time

from console.runtime.contract import TaskResult

CHILD = "import time\\nwhile True: time.sleep(1)"


def train(model, ctx):
    if ctx.round == 1:
        # A grandchild holding the original stdout and a setsid child in a session of its own.
        subprocess.Popen([sys.executable, "-c", CHILD], stdout=sys.__stdout__)
        subprocess.Popen([sys.executable, "-c", CHILD], start_new_session=True)
        os.system(f"{sys.executable} -c 'import time; time.sleep(600)' &")
        if os.fork() == 0:  # a fork holds every descriptor, the control channel's too
            time.sleep(600)
            os._exit(0)
    while not ctx.aborted():
        time.sleep(0.05)
    return TaskResult(model)
'''


def _marked(job_id: str) -> list[int]:
    return list(job_processes(job_id))


def _describe(pids: list[int]) -> list[str]:
    described = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            continue
        described.append(f"{pid} [{status}] {cmdline[:120]}")
    return described


@pytest.mark.timeout(120)
def test_abort_kills_grandchildren_and_setsid_children(fed: Federation, tmp_path: Path) -> None:
    session, project = fed.session, fed.project
    folder = numpy_job(tmp_path, name="tree", rounds=3)
    (folder / "app" / "custom" / "trainer.py").write_text(TREE_TRAINER)
    job_id = session.submit_job(str(folder))
    try:
        # The server app, and on each site its client app + 4 (setsid child, stdout holder, background
        # sleep, fork).
        wait_until(lambda: len(_marked(job_id)) >= 2 * 5 + 1, 30, "the job's process trees on both sites")
        session.abort_job(job_id)
        aborted = time.monotonic()
        while (left := _marked(job_id)) and time.monotonic() - aborted < 5:
            time.sleep(0.05)
        assert not left, f"still running 5 s after abort_job: {_describe(left)}"
        assert session.wait_for_job(job_id, timeout=30)["status"] == "FINISHED:ABORTED"
        # The server gave up the sites' tasks while they ran (their models long sent): the sites'
        # connections are not cut for it.
        server_log = (project.server_kit / "log.txt").read_text()
        assert "disconnected" not in server_log, server_log[-3000:]
    finally:
        for pid in _marked(job_id):
            os.kill(pid, signal.SIGKILL)



def _log_time(line: str) -> datetime:
    return datetime.strptime(" ".join(line.split()[:2]), "%Y-%m-%d %H:%M:%S,%f")


@pytest.mark.timeout(120)
def test_the_first_round_starts_once_the_sites_client_apps_are_up(fed: Federation, tmp_path: Path) -> None:
    """A client app that takes a while to load its executor delays the job's start, not its first round."""
    session, project = fed.session, fed.project
    folder = numpy_job(tmp_path, name="slow-start", rounds=1)
    trainer = folder / "app" / "custom" / "trainer.py"
    trainer.write_text("import time\ntime.sleep(1.5)  # a heavy import\n" + trainer.read_text())
    job_id = session.submit_job(str(folder))
    assert session.wait_for_job(job_id, timeout=60)["status"] == "FINISHED:COMPLETED"
    server_log = (project.server_kit / job_id / "log.txt").read_text().splitlines()
    first_round = _log_time(next(line for line in server_log if "round 1/1: sending" in line))
    for site in ("site-1", "site-2"):
        site_log = (project.kit(site) / job_id / "log.txt").read_text().splitlines()
        started = _log_time(next(line for line in site_log if "client app started" in line))
        assert started <= first_round, f"{site}'s client app was up at {started}, round 1 began at {first_round}"

@pytest.mark.timeout(120)
def test_task_timeout_drops_a_late_result_and_the_round_goes_on(fed: Federation, tmp_path: Path) -> None:
    session, project = fed.session, fed.project
    folder = numpy_job(tmp_path, name="late", rounds=3, min_clients=1, task_timeout=2)
    (folder / "app" / "custom" / "trainer.py").write_text('''
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    if ctx.site_name == "site-2" and ctx.round == 1:
        time.sleep(3)
    return TaskResult({k: v + 1 for k, v in model.items()})
''')
    job_id = session.submit_job(str(folder))
    meta = session.wait_for_job(job_id, timeout=60)
    assert meta["status"] == "FINISHED:COMPLETED", meta
    log = (project.server_kit / job_id / "log.txt").read_text()
    assert "no result from site-2 within the task_timeout of 2 s" in log
    assert "came after its task_timeout; dropped" in log
    start = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=float)
    np.testing.assert_array_equal(archived_model(project.server_kit, job_id)["weights"], start + 3)
