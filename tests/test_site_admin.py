"""Admin operations that reach sites, through the FLARE API, against real site processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.flare_api import (
    ClientInfo,
    InvalidArgumentError,
    InvalidTarget,
    JobNotDone,
    JobNotRunning,
    NoConnection,
    TargetType,
)

from conftest import Federation, wait_until
from jobs import numpy_job


def test_status_and_connected_sites(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    info = session.get_system_info()
    assert sorted(c.name for c in info.client_info) == ["site-1", "site-2"]
    assert all(isinstance(c, ClientInfo) and c.last_connect_time for c in session.get_connected_client_list())
    idle = [{"client_name": "site-1", "status": "no_jobs"}, {"client_name": "site-2", "status": "no_jobs"}]
    # The module's sites are shared: a job another test waited for may still be leaving a site.
    wait_until(lambda: session.get_client_job_status() == idle, 20, "both sites to run no job")
    server = wait_until(lambda: (status := session.check_status(TargetType.SERVER))["server_status"] == "stopped"
                        and status, 20, "the server to run no job")
    assert {c["client_name"] for c in server["clients"]} == {"site-1", "site-2"}
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=40, sleep=0.3)))
    wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 20, "the job to run")
    started = [{"client_name": "site-1", "app_name": "app", "job_id": job_id, "status": "started"}]
    # The site says "starting" until its client app has loaded, then "started".
    wait_until(lambda: session.get_client_job_status(["site-1"]) == started, 20, "site-1's client app to start")
    assert session.get_system_info().job_info[0].job_id == job_id
    stats = session.show_stats(job_id, "server")
    assert stats["server"]["ServerRunner"]["job_id"] == job_id
    wait_until(lambda: session.show_stats(job_id, "server")["server"]["Workflow"].get("round"), 20, "a round")
    client_stats = session.show_stats(job_id, "client")
    assert set(client_stats) == {"site-1", "site-2"}
    assert client_stats["site-1"]["ClientRunner"]["job_id"] == job_id
    assert session.show_errors(job_id, "client") == {"site-1": {"errors": []}, "site-2": {"errors": []}}
    session.reset_errors(job_id)
    with pytest.raises(JobNotDone, match="refused"):
        session.shutdown(TargetType.CLIENT, ["site-1"])
    session.abort_job(job_id)
    session.wait_for_job(job_id, timeout=10)
    with pytest.raises(JobNotRunning):
        session.show_stats(job_id, "server")
    with pytest.raises(InvalidTarget, match="site-9"):
        session.check_status(TargetType.CLIENT, ["site-9"])
    assert set(session.sys_info("client")) == {"site-1", "site-2"}
    assert session.sys_info("server")["server"]["pid"]


def test_target_commands_are_confined(fed: Federation) -> None:
    session, project = fed.session, fed.project
    assert session.get_working_directory("server").strip() == str(project.server_kit.resolve())
    assert session.get_working_directory("site-1").strip() == str(project.kit("site-1").resolve())
    assert "startup/" in session.ls_target("site-1").splitlines()
    # A kit's startup/ and local/ are never handed out (issue 12), not even their harmless files.
    with pytest.raises(InvalidArgumentError, match="never shown"):
        session.ls_target("site-2", "-l", "startup")
    with pytest.raises(InvalidArgumentError, match="never shown"):
        session.cat_target("site-1", file="startup/fed_client.json")
    with pytest.raises(InvalidArgumentError, match="never shown"):
        session.head_target("server", "-n 1", "local/authorization.json")
    assert "connected to the server" in session.tail_target_log("site-1", "-n 50")
    found = session.grep_target("server", "-i", "SITE SITE-1 .* CONNECTED", "log.txt")
    assert found and all("site-1" in line for line in found.splitlines())
    assert session.cat_target("site-1", file="nope.txt") == "cat: nope.txt: No such file or directory\n"
    for target in ("server", "site-1"):
        for escape in ("../", "/etc/passwd", "startup/../../x"):
            with pytest.raises(InvalidArgumentError, match="outside the workspace"):
                session.cat_target(target, file=escape)
    (project.kit("site-1") / "escape").symlink_to("/etc")
    with pytest.raises(InvalidArgumentError, match="outside the workspace"):
        session.ls_target("site-1", path="escape")
    with pytest.raises(InvalidArgumentError, match="unknown option"):
        session.ls_target("server", "-Z")
    with pytest.raises(InvalidTarget, match="site-7"):
        session.ls_target("site-7")


def test_job_logs_of_server_and_site(fed: Federation, tmp_path: Path) -> None:
    session = fed.session
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=2)))
    session.wait_for_job(job_id, timeout=30)
    server_log = session.get_job_logs(job_id)
    assert "round 2/2" in server_log["logs"]["server"]
    site_log = session.get_job_logs(job_id[:8], target="site-2")
    assert "client app started on site-2" in site_log["logs"]["site-2"]
    last = session.get_job_logs(job_id, target="site-2", tail_lines=1)["logs"]["site-2"]
    assert len(last.splitlines()) == 1
    grepped = session.get_job_logs(job_id, target="site-1", grep_pattern="task done")["logs"]["site-1"]
    assert grepped.count("task done") == 2


def test_remove_and_restart_sites(session, sites, server) -> None:
    session.remove_client("site-2")
    assert "dropping site site-2: removed by an admin" in session.grep_target("server", "-F", "dropping site",
                                                                              "log.txt")
    wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "site-2 to register again")
    before = {c.name: c.last_connect_time for c in session.get_connected_client_list()}
    result = session.restart(TargetType.CLIENT, ["site-1"])  # wait=True: returns once site-1 is back
    assert "restarting" in str(result["client_status"]["site-1"])
    after = {c.name: c.last_connect_time for c in session.get_connected_client_list()}
    assert after["site-1"] > before["site-1"] and after["site-2"] == before["site-2"]
    result = session.shutdown(TargetType.CLIENT, ["site-2"])  # wait=True: returns once site-2 is gone
    assert "shutting down" in str(result["client_status"]["site-2"])
    assert [c.name for c in session.get_connected_client_list()] == ["site-1"]
    wait_until(lambda: sites["site-2"].process.poll() is not None, 10, "site-2 to exit")
    assert sites["site-2"].process.returncode == 0
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        session.shutdown(TargetType.CLIENT, ["site-1"], timeout=0)
    session.shutdown_system()  # returns once the server no longer answers
    with pytest.raises(NoConnection):
        session.get_system_info()
    wait_until(lambda: server.process.poll() is not None and sites["site-1"].process.poll() is not None, 15,
               "the server and site-1 to exit")


def test_versions_resources_and_site_environments(fed: Federation) -> None:
    from console import __version__

    session, project = fed.session, fed.project
    assert session.report_version(TargetType.ALL) == {name: {"version": __version__}
                                                      for name in ("server", "site-1", "site-2")}
    resources = session.report_resources(TargetType.CLIENT, ["site-2"])
    assert list(resources) == ["site-2"] and "'cpu_count'" in resources["site-2"]
    envs = session.get_client_env()
    assert [env["site_name"] for env in envs] == ["site-1", "site-2"]
    assert envs[0]["workspace"] == str(project.kit("site-1")) and envs[0]["secure_mode"] is True
    assert envs[0]["root_url"].startswith("tls://localhost:")
    assert [env["site_name"] for env in session.get_client_env("site-2")] == ["site-2"]
    with pytest.raises(ValueError, match="invalid target_type"):
        session.report_version("everyone")
    with pytest.raises(InvalidTarget, match="site-9"):
        session.get_client_env(["site-9"])


def _refusals(session, site: str) -> int:
    return session.grep_target("server", "-F", f"refused site {site}", "log.txt").count("\n")


def test_a_disabled_site_stays_out_until_enabled_even_across_a_restart(session, sites) -> None:
    assert session.disable_client("site-2") == {"clients": [{
        "client_name": "site-2", "state": "disabled", "already_disabled": False, "active_session_removed": True,
        "credential_revoked": False, "rejoin_allowed": False}]}
    wait_until(lambda: _refusals(session, "site-2") >= 1, 30, "site-2 to try again and be refused")
    assert [c.name for c in session.get_connected_client_list()] == ["site-1"]
    assert [row["client_name"] for row in session.check_status(TargetType.CLIENT)["client_status"]] == ["site-1"]

    before = _refusals(session, "site-2")
    session.restart(TargetType.SERVER)

    def after_restart() -> bool:
        try:
            return [c.name for c in session.get_connected_client_list()] == ["site-1"] and \
                _refusals(session, "site-2") > before
        except NoConnection:  # the server is still restarting
            return False

    wait_until(after_restart, 30, "site-1 back and site-2 refused by the restarted server")
    assert session.disable_client("site-2")["clients"][0]["already_disabled"] is True
    assert session.enable_client("site-2")["clients"][0] == {
        "client_name": "site-2", "state": "enabled", "was_disabled": True, "credential_revoked": False,
        "rejoin_allowed": True}
    wait_until(lambda: len(session.get_connected_client_list()) == 2, 30, "site-2 to connect again")
