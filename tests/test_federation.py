"""Jobs across the server and real site processes: FedAvg, aborts, failures, reconnection."""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from console.flare_api import AuthenticationError, MonitorReturnCode, new_secure_session

from conftest import EXAMPLES, Federation, ServerProcess, SiteProcess, wait_until
from jobs import archived_model, numpy_job

START = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=float)


def _site_pids(job_id: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and job_id.encode() in cmdline and b"site_app" in cmdline:
            found.append(int(proc.name))
    return found


def test_hello_numpy_end_to_end(fed: Federation, tmp_path: Path) -> None:
    session, project = fed.session, fed.project
    job_id = session.submit_job(str(EXAMPLES / "hello-numpy"))
    assert session.monitor_job(job_id, poll_interval=1) is MonitorReturnCode.JOB_FINISHED
    meta = session.get_job_meta(job_id)
    assert meta["status"] == "FINISHED:COMPLETED"
    assert meta["job_deploy_detail"] == ["server: OK", "site-1: OK", "site-2: OK"]
    np.testing.assert_array_equal(archived_model(project.server_kit, job_id)["weights"], START + 3)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(archived_model(project.server_kit, job_id, f"models/round_{k}.npz")["weights"],
                                      START + k)
    # Archived: the folder keeps only its log, and the archive no copy of what job.zip holds.
    assert [p.name for p in (project.server_kit / job_id).iterdir()] == ["log.txt"]
    result = Path(session.download_job_result(job_id, str(tmp_path / "dl")))
    with np.load(result / "workspace" / "models" / "final_model.npz") as final:
        np.testing.assert_array_equal(final["weights"], START + 3)
    for site in ("site-1", "site-2"):
        log = (result / "sites" / site / "log.txt").read_text()
        assert "round 3/3" in log
        assert (project.kit(site) / job_id / "log.txt").is_file()
    assert not _site_pids(job_id)  # the sites' client apps ended with the job


def test_flare_classic_hello_numpy_sag_runs_unchanged(fed: Federation, tmp_path: Path) -> None:
    """FLARE's own job format (ScatterAndGather + NPTrainer, deployed to @ALL) runs as it is."""
    session = fed.session
    job_id = session.submit_job(str(EXAMPLES / "hello-numpy-sag"))
    assert session.monitor_job(job_id, poll_interval=1) is MonitorReturnCode.JOB_FINISHED
    meta = session.get_job_meta(job_id)
    assert meta["status"] == "FINISHED:COMPLETED"
    assert meta["job_deploy_detail"] == ["server: OK", "site-1: OK", "site-2: OK"] and "byoc" not in meta
    result = Path(session.download_job_result(job_id, str(tmp_path / "dl")))
    np.testing.assert_array_equal(np.load(result / "workspace" / "models" / "server.npy"), START + 3)
    assert "adding delta=1.0 to numpy_key" in (result / "sites" / "site-1" / "log.txt").read_text()


def test_a_flare_class_we_do_not_run_is_named(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    job = tmp_path / "job"
    shutil.copytree(EXAMPLES / "hello-numpy-sag", job)
    config_file = job / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_file.read_text())
    config["workflows"][0]["path"] = "nvflare.app_common.workflows.cyclic_ctl.CyclicController"
    config_file.write_text(json.dumps(config))
    job_id = session.submit_job(str(job))
    session.monitor_job(job_id, poll_interval=1)
    assert session.get_job_meta(job_id)["status"] == "FINISHED:EXECUTION_EXCEPTION"
    log = session.get_job_logs(job_id)["logs"]["server"]
    assert "FLARE workflow 'CyclicController' is not supported" in log


def test_abort_mid_round_stops_every_process(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=50, sleep=0.5)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING" and len(_site_pids(job_id)) == 2, 20,
               "the job to run on both sites")
    session.abort_job(job_id)
    code, meta = session.monitor_job_and_return_job_meta(job_id, timeout=5, poll_interval=0.1)
    assert code is MonitorReturnCode.JOB_FINISHED and meta["status"] == "FINISHED:ABORTED"
    assert not _site_pids(job_id)


def test_site_killed_mid_job_ends_abnormal(session, sites, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=50, sleep=0.3)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 20, "the job to run")
    sites["site-2"].kill()
    code, meta = session.monitor_job_and_return_job_meta(job_id, timeout=30, poll_interval=0.5)
    assert code is MonitorReturnCode.JOB_FINISHED and meta["status"] == "FINISHED:ABNORMAL"


def test_remaining_sites_finish_when_min_clients_holds(session, sites, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=6, sleep=0.3, min_clients=1)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 20, "the job to run")
    sites["site-2"].kill()
    code, meta = session.monitor_job_and_return_job_meta(job_id, timeout=40, poll_interval=0.5)
    assert meta["status"] == "FINISHED:COMPLETED"
    np.testing.assert_array_equal(archived_model(project.server_kit, job_id)["weights"], START + 6)


def test_executor_exception_ends_with_traceback_in_site_log(fed: Federation, tmp_path: Path) -> None:
    session, project = fed.session, fed.project
    job_id = session.submit_job(str(numpy_job(tmp_path, fail_on="site-1")))
    code, meta = session.monitor_job_and_return_job_meta(job_id, timeout=30, poll_interval=0.5)
    assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION"
    log = (project.kit("site-1") / job_id / "log.txt").read_text()
    assert "Traceback" in log and "site-1 cannot train today" in log


def test_job_waits_for_a_missing_mandatory_site(server, session, project, tmp_path: Path) -> None:
    site1 = SiteProcess(project.kit("site-1")).start()
    site2 = SiteProcess(project.kit("site-2"))
    try:
        job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1, min_clients=1, mandatory=["site-2"])))
        wait_until(lambda: session.get_job_meta(job_id).get("schedule_count", 0) >= 2, 20, "scheduling attempts")
        assert session.get_job_status(job_id) == "SUBMITTED"
        site2.start()
        code, meta = session.monitor_job_and_return_job_meta(job_id, timeout=30, poll_interval=0.5)
        assert meta["status"] == "FINISHED:COMPLETED" and meta["job_deploy_detail"] == ["server: OK", "site-1: OK", "site-2: OK"]
    finally:
        for proc in (site1, site2):
            proc.stop()
            proc.kill()


def test_sites_reconnect_after_a_server_restart(server, session, sites, project, tmp_path: Path) -> None:
    server.stop()
    server.start()
    wait_until(lambda: len(session.get_system_info().client_info) == 2, 30, "both sites to come back")
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1)))
    assert session.wait_for_job(job_id, timeout=30)["status"] == "FINISHED:COMPLETED"


def test_download_holds_site_workspaces(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1)))
    session.wait_for_job(job_id, timeout=30)
    result = Path(session.download_job_result(job_id, str(tmp_path / "dl")))
    assert "client app ended" in (result / "sites" / "site-1" / "log.txt").read_text()
    # The site's app is job.zip's, which the download holds once (job/), not again per site.
    assert (result / "job" / "app" / "config" / "config_fed_client.json").is_file()
    assert not (result / "sites" / "site-1" / "app_site-1").exists()


def test_job_that_cannot_be_placed_gives_up(project, tmp_path: Path) -> None:

    from console.flare_api import new_secure_session


    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["max_schedule_count"] = 2
    config_path.write_text(json.dumps(config))
    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("admin@example.com", str(project.admin_kit)) as sess:
            job_id = sess.submit_job(str(numpy_job(tmp_path, rounds=1)))
            meta = sess.wait_for_job(job_id, timeout=20, poll_interval=0.5)
            assert meta["status"] == "FINISHED:CAN_NOT_SCHEDULE" and meta["schedule_count"] == 2
    finally:
        server.stop()


def test_wrong_certificates_on_each_port(fed: Federation, tmp_path: Path) -> None:
    server, project = fed.server, fed.project
    # A site's kit dressed as an admin kit: refused on the admin port.
    fake_admin = tmp_path / "fake-admin"
    shutil.copytree(project.admin_kit, fake_admin)
    for name in ("client.crt", "client.key"):
        (fake_admin / "startup" / name).unlink()
        shutil.copy(project.kit("site-1") / "startup" / name, fake_admin / "startup" / name)
    with pytest.raises(AuthenticationError, match="not an admin certificate"):
        new_secure_session("site-1", str(fake_admin), timeout=5)
    # An admin's certificate dressed as a site: refused on the site port, and logged.
    fake_site = tmp_path / "fake-site"
    shutil.copytree(project.kit("site-1"), fake_site)
    for name in ("client.crt", "client.key"):
        (fake_site / "startup" / name).unlink()
        shutil.copy(project.admin_kit / "startup" / name, fake_site / "startup" / name)
    intruder = SiteProcess(fake_site).start(wait=False)
    try:
        server.wait_for_line("holds an admin certificate", 20)
    finally:
        intruder.stop()
        intruder.kill()


def test_a_cut_site_link_and_its_return(session, sites, project, tmp_path: Path) -> None:
    """The server drops site-2's connection mid-job: the job goes on with site-1 (min_clients 1),
    site-2 reconnects, and the client app it still ran for that job is stopped."""
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=8, sleep=0.3, min_clients=1)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING" and len(_site_pids(job_id)) == 2, 20,
               "the job to run on both sites")
    session.remove_client("site-2")
    wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "site-2 to come back")
    wait_until(lambda: len(_site_pids(job_id)) <= 1, 15, "site-2's stale client app to stop")
    meta = session.wait_for_job(job_id, timeout=60, poll_interval=0.5)
    assert meta["status"] == "FINISHED:COMPLETED"
    assert any("lost" in e for e in meta["job_errors"]["site-2"])


def test_a_silent_site_is_dropped_and_comes_back(session, sites) -> None:
    """A frozen site (SIGSTOP: no answers, no FIN, like a cable pulled) misses its heartbeat and is
    dropped; thawed, it finds its connection gone and registers again."""
    frozen = sites["site-2"].process
    frozen.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: [c.name for c in session.get_connected_client_list()] == ["site-1"], 40,
                   "the server to drop the silent site")
    finally:
        frozen.send_signal(signal.SIGCONT)
    wait_until(lambda: len(session.get_connected_client_list()) == 2, 40, "site-2 to register again")


BROKEN_EXECUTORS = {
    "import no_such_module_here\n": "ModuleNotFoundError|No module named 'no_such_module_here'",
    "def train(model, ctx)\n    return model\n": "SyntaxError",
    "raise RuntimeError('no GPU on this site')\n": "RuntimeError: no GPU on this site",
}


def test_executor_that_cannot_be_loaded_says_why(fed: Federation, tmp_path: Path) -> None:
    """A missing package, a syntax error and an exception at import: the job ends
    EXECUTION_EXCEPTION and its errors name the cause per site, not a lost connection."""
    session, project = fed.session, fed.project
    for i, (code, cause) in enumerate(BROKEN_EXECUTORS.items()):
        folder = numpy_job(tmp_path / str(i), name=f"broken-{i}", rounds=1)
        (folder / "app" / "custom" / "trainer.py").write_text(code)
        job_id = session.submit_job(str(folder))
        _, meta = session.monitor_job_and_return_job_meta(job_id, timeout=30, poll_interval=0.2)
        assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
        failed = [site for site in ("site-1", "site-2") if site in meta["job_errors"]]
        # the first failure ends the job; the other site's, arriving while it stops, is named too
        assert failed == ["site-1", "site-2"], meta["job_errors"]
        for site in failed:
            errors = " ".join(meta["job_errors"][site])
            assert re.search(cause, errors) and "lost" not in errors, errors
            assert not errors.startswith(f"{site}: "), errors  # filed under the site: not named twice
            assert "log.txt" in errors
            log = (project.kit(site) / job_id / "log.txt").read_text()
            assert re.search(cause, log), log


RAISES_EVERYWHERE = """
import time


def train(model, ctx):
    if ctx.site_name == "site-2":
        time.sleep(1.0)  # fails a moment after site-1: while the job is being stopped
    raise RuntimeError(f"{ctx.site_name} has no data for round {ctx.round}")
"""


def test_every_site_that_fails_is_named_once(session, sites, tmp_path: Path) -> None:
    """Both executors raise in round 1, site-2 a second after site-1: the first failure ends the
    job, and the other site's, which arrives while the job is being stopped, is in job_errors too; each site once, and no
    'stopped'/'lost' noise from the abort that ended the job (get_job_meta and list_jobs -d)."""
    folder = numpy_job(tmp_path, name="raises-everywhere", rounds=2)
    (folder / "app" / "custom" / "trainer.py").write_text(RAISES_EVERYWHERE)
    job_id = session.submit_job(str(folder))
    _, meta = session.monitor_job_and_return_job_meta(job_id, timeout=60, poll_interval=0.2)
    assert meta["status"] == "FINISHED:EXECUTION_EXCEPTION", meta
    [listed] = session.list_jobs(detailed=True, id_prefix=job_id)
    for errors in (meta["job_errors"], listed["job_errors"]):
        assert sorted(errors) == ["site-1", "site-2"], errors
        for site in ("site-1", "site-2"):
            [entry] = errors[site]
            assert f"RuntimeError: {site} has no data for round 1" in entry, entry
            assert "lost" not in entry and "stopped" not in entry, entry
