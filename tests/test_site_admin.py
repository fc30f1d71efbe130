"""Admin operations that reach sites, through the FLARE API, against real site processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from console.flare_api import (
    AuthorizationError,
    ClientInfo,
    InvalidArgumentError,
    InvalidTarget,
    JobNotDone,
    JobNotFound,
    JobNotRunning,
    NoConnection,
    TargetType,
)
from console.server.job_errors import add_error
from console.server.running_job import RunningJob

from conftest import ADMIN, Federation, Project, ServerProcess, SiteProcess, make_project, wait_until
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
    none = {"errors": [], "error_times": []}  # (each error with when it was recorded: console.server.job_errors)
    assert session.show_errors(job_id, "client") == {"site-1": none, "site-2": none}
    # target_type all, as FLARE 2.9's Session takes it: the server's part and every site's in one answer.
    everything = session.show_stats(job_id, TargetType.ALL)
    assert set(everything) == {"server", "site-1", "site-2"}, everything
    assert everything["server"]["ServerRunner"]["job_id"] == job_id == everything["site-1"]["ClientRunner"]["job_id"]
    assert set(session.show_stats(job_id, TargetType.ALL, ["site-1"])) == {"server", "site-1", "site-2"}  # as FLARE
    assert session.show_errors(job_id, "all") == {"server": none, "site-1": none, "site-2": none}
    both = session.check_status(TargetType.ALL)
    assert both["server_status"] == "started" and [j["job_id"] for j in both["jobs"]] == [job_id], both
    assert {row["client_name"] for row in both["client_status"] if row.get("job_id") == job_id} == {"site-1", "site-2"}
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
            # refused before it is sent, as FLARE 2.9's flare_api refuses it (SyntaxError) ...
            with pytest.raises(SyntaxError, match="absolute path|\\.\\. in path name"):
                session.cat_target(target, file=escape)
            # ... and by the server, for a client that sends it all the same
            with pytest.raises(InvalidArgumentError, match="outside the workspace"):
                session._call(session.client.request("cat", {"target": target, "options": None, "file": escape}))
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
    return session.grep_target("server", "-F", f"site {site} is disabled", "log.txt").count("\n")


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


ORGB_ADMIN = "oadmin@orgb.org"
LEAD = "lead@example.com"


def _two_org_project(root: Path) -> Project:
    """The server, site-1 and site-2 of org example; site-b of org orgb; a lead of the server's org
    and orgb's org_admin."""
    return make_project(root, extra=[
        {"name": "site-b", "type": "client", "org": "orgb"},
        {"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
        {"name": ORGB_ADMIN, "type": "admin", "org": "orgb", "role": "org_admin"}])


@contextmanager
def _sessions(project: Project, *names: str) -> Iterator[list[Any]]:
    from console.flare_api import new_secure_session

    opened: list[Any] = []
    try:
        for name in names:
            opened.append(new_secure_session(name, str(project.kit(name)), timeout=10))
        yield opened
    finally:
        for sess in opened:
            sess.close()


@pytest.mark.timeout(60)
def test_rights_on_a_site_that_is_away_follow_its_own_org(tmp_path: Path) -> None:
    """Finding 4: a site that is not connected is judged by its provisioned org, not the server's;
    a name that is no site of the project is refused and never stored."""
    project = _two_org_project(tmp_path)
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        with _sessions(project, LEAD, ORGB_ADMIN, ADMIN) as (lead, orgb_admin, admin):
            for act in (lead.disable_client, lead.enable_client, lead.remove_client):
                with pytest.raises(AuthorizationError, match="lacks the right 'operate' for site-b"):
                    act("site-b")
            assert orgb_admin.disable_client("site-b")["clients"][0]["state"] == "disabled"
            with pytest.raises(AuthorizationError, match="operate' for site-b"):
                lead.enable_client("site-b")
            with pytest.raises(AuthorizationError, match="operate' for site-1"):
                orgb_admin.disable_client("site-1")  # away too, and of the server's org
            for who in (lead, admin):
                with pytest.raises(InvalidTarget, match="'made-up-1' is no site of this project.*site-1, site-2, site-b"):
                    who.disable_client("made-up-1")
            assert orgb_admin.enable_client("site-b")["clients"][0]["was_disabled"] is True
            assert lead.disable_client("site-2")["clients"][0]["state"] == "disabled"
            assert json.loads((project.server_kit / "store" / "disabled_sites.json").read_text()) == {
                "site-2": "example"}
    finally:
        server.stop()
        server.kill()


@pytest.mark.timeout(90)
def test_a_site_missing_from_an_older_kit_is_known_by_the_org_it_logged_in_with(tmp_path: Path) -> None:
    """A server kit without sites.json (provisioned before it, or a site added later) learns a site's
    org from its certificate at login and keeps it across restarts; an older server's disabled list
    (bare names) still loads, its made-up names enabled only with an unscoped right and counted
    against no org."""
    project = _two_org_project(tmp_path)
    (project.server_kit / "startup" / "sites.json").unlink()
    store = project.server_kit / "store"
    store.mkdir()
    # What the attack left (finding 4): 4096 made-up names, after which no site could be disabled.
    (store / "disabled_sites.json").write_text(json.dumps([f"made-up-{n}" for n in range(4096)]))
    server, site = ServerProcess(project.server_kit), SiteProcess(project.kit("site-b"))
    try:
        server.start()
        with _sessions(project, LEAD, ORGB_ADMIN, ADMIN) as (lead, orgb_admin, admin):
            with pytest.raises(InvalidTarget, match="'site-b' is no site of this project"):
                lead.disable_client("site-b")
            site.start()
            wait_until(lambda: [c.name for c in admin.get_connected_client_list()] == ["site-b"], 30, "site-b")
            site.stop()
            wait_until(lambda: not admin.get_connected_client_list(), 30, "site-b to be away")
            with pytest.raises(AuthorizationError, match="operate' for site-b"):
                lead.disable_client("site-b")
            with pytest.raises(AuthorizationError, match="operate' for made-up-0"):
                lead.enable_client("made-up-0")
            assert admin.enable_client("made-up-0")["clients"][0]["was_disabled"] is True
        server.stop()
        server.start()
        with _sessions(project, LEAD, ORGB_ADMIN) as (lead, orgb_admin):
            with pytest.raises(AuthorizationError, match="operate' for site-b"):
                lead.disable_client("site-b")
            assert orgb_admin.disable_client("site-b")["clients"][0]["state"] == "disabled"
    finally:
        for part in (site, server):
            part.stop()
            part.kill()
    disabled = json.loads((store / "disabled_sites.json").read_text())
    assert len(disabled) == 4096 and "made-up-0" not in disabled and disabled["site-b"] == "orgb"


@pytest.mark.timeout(60)
def test_the_info_commands_judge_view_with_the_jobs_submitter(tmp_path: Path) -> None:
    """Finding 11: reset_errors needs the view right, as in FLARE 2.9 (security.py puts it with
    show_stats and show_errors), judged like FLARE's authorize_job with the job's submitter: with
    ``member: view o:submitter`` another org's member cannot reset, show or read a job's errors or meta:
    to them it is a job that does not exist."""
    project = make_project(tmp_path, extra=[
        {"name": "member@example.com", "type": "admin", "org": "example", "role": "member"},
        {"name": "member@orgb.org", "type": "admin", "org": "orgb", "role": "member"}])
    policy_path = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["member"] = {"view": "o:submitter"}
    policy_path.write_text(json.dumps(policy))
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        with _sessions(project, ADMIN, "member@example.com", "member@orgb.org") as (admin, own_org, other_org):
            job_id = admin.submit_job(str(numpy_job(tmp_path, rounds=1)))  # queued: no site is connected
            checks = [lambda s: s.reset_errors(job_id), lambda s: s.show_errors(job_id, "server"),
                      lambda s: s.show_stats(job_id, "server")]
            for check in checks:
                with pytest.raises(JobNotFound, match=f"no such job: {job_id}"):
                    check(other_org)
                with pytest.raises(JobNotRunning):
                    check(own_org)
            with pytest.raises(JobNotFound):
                other_org.get_job_meta(job_id)
            assert own_org.get_job_meta(job_id)["job_id"] == job_id
    finally:
        server.stop()
        server.kill()


def test_reset_errors_restarts_show_errors_and_keeps_the_jobs_record(tmp_path: Path) -> None:
    job = RunningJob("j", "n", "app", tmp_path)
    add_error(job.errors, "site-1", "deploy failed: first")
    job.reset_errors()
    assert job.shown_errors("site-1") == [] and job.shown_errors("site-2") == []
    add_error(job.errors, "site-1", "lost: second")
    add_error(job.errors, "site-2", "task 1: third")
    assert job.shown_errors("site-1") == ["lost: second"] and job.shown_errors("site-2") == ["task 1: third"]
    assert job.errors.messages == {"site-1": ["deploy failed: first", "lost: second"], "site-2": ["task 1: third"]}
    assert len(job.shown_error_times("site-1")) == 1 and len(job.errors.times["site-1"]) == 2
