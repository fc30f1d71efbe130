"""FLARE's default rights matrix, enforced by the server and by each site's own policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.flare_api import AuthorizationError, new_secure_session

from conftest import (
    EXAMPLES,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
    wait_until,
)
from jobs import numpy_job, waiting_for_sites

ADMINS = [
    {"name": "orgadmin@example.com", "type": "admin", "org": "example", "role": "org_admin"},
    {"name": "lead@example.com", "type": "admin", "org": "example", "role": "lead"},
    {"name": "lead@other.org", "type": "admin", "org": "other", "role": "lead"},
    {"name": "member@example.com", "type": "admin", "org": "example", "role": "member"},
]


@pytest.fixture
def roles(tmp_path: Path) -> Iterator[dict]:
    project = make_project(tmp_path, extra=[*ADMINS, {"name": "site-3", "type": "client", "org": "other"}])
    server = ServerProcess(project.server_kit).start()
    sessions = {}
    try:
        for who in ["admin@example.com", *(a["name"] for a in ADMINS)]:
            sessions[who] = new_secure_session(who, str(project.kit(who)))
        yield {"project": project, "server": server, **sessions}
    finally:
        for sess in sessions.values():
            sess.close()
        server.stop()


def test_member_only_views(roles, tmp_path: Path) -> None:
    member = roles["member@example.com"]
    assert member.list_jobs() == []
    with pytest.raises(AuthorizationError, match="lacks the right 'submit_job'"):
        member.submit_job(str(EXAMPLES / "hello-server"))
    job_id = roles["lead@example.com"].submit_job(str(waiting_for_sites(tmp_path)))
    assert member.get_job_meta(job_id)["submitter_name"] == "lead@example.com"
    with pytest.raises(AuthorizationError, match="'manage_job'"):
        member.abort_job(job_id)
    with pytest.raises(AuthorizationError, match="'download_job'"):
        member.download_job_result(job_id, str(tmp_path / "dl"))
    with pytest.raises(AuthorizationError, match="'shell_commands'"):
        member.ls_target("server")
    with pytest.raises(AuthorizationError, match="'operate'"):
        member.sys_info("server")


def test_lead_acts_on_own_jobs_only(roles, tmp_path: Path) -> None:
    lead, other_lead = roles["lead@example.com"], roles["lead@other.org"]
    job_id = lead.submit_job(str(waiting_for_sites(tmp_path)))
    other_job = other_lead.submit_job(str(waiting_for_sites(tmp_path, name="theirs")))
    with pytest.raises(AuthorizationError, match=f"'manage_job' for job {other_job} \\(only for jobs they submitted"):
        lead.abort_job(other_job)
    with pytest.raises(AuthorizationError, match="'clone_job'"):
        lead.clone_job(other_job)
    assert lead.get_job_meta(lead.clone_job(job_id))["submitter_name"] == "lead@example.com"
    assert lead.abort_job(job_id) == f"Aborted the job {job_id} before running it."  # FLARE 2.9's words
    assert roles["admin@example.com"].abort_job(other_job)  # the project admin may do anything
    assert lead.ls_target("server")  # the server belongs to lead's org
    with pytest.raises(AuthorizationError, match="'shell_commands' for server \\(only on their org's sites\\)"):
        other_lead.ls_target("server")


def test_org_admin_manages_own_orgs_jobs(roles, tmp_path: Path) -> None:
    org_admin = roles["orgadmin@example.com"]
    with pytest.raises(AuthorizationError, match="'submit_job'"):
        org_admin.submit_job(str(waiting_for_sites(tmp_path)))
    ours = roles["lead@example.com"].submit_job(str(waiting_for_sites(tmp_path)))
    theirs = roles["lead@other.org"].submit_job(str(waiting_for_sites(tmp_path, name="theirs")))
    with pytest.raises(AuthorizationError, match="only for their org's jobs"):
        org_admin.abort_job(theirs)
    org_admin.abort_job(ours)
    assert Path(org_admin.download_job_result(ours, str(tmp_path / "dl"))).is_dir()
    with pytest.raises(AuthorizationError, match="'clone_job'"):
        org_admin.clone_job(ours)


def test_a_site_can_forbid_custom_code(roles, tmp_path: Path) -> None:
    project = roles["project"]
    policy_path = project.kit("site-2") / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["lead"]["byoc"] = "none"
    policy_path.write_text(json.dumps(policy))
    sites = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
    try:
        start_together(sites)
        admin, lead = roles["admin@example.com"], roles["lead@example.com"]
        wait_until(lambda: len(admin.get_connected_client_list()) == 2, 20, "both sites")
        meta = lead.wait_for_job(lead.submit_job(str(numpy_job(tmp_path, rounds=1))), timeout=30)
        assert meta["status"] == "FINISHED:FAILED_TO_RUN"
        assert "lacks the right 'byoc'" in " ".join(meta["job_errors"]["site-2"])
        # The project admin's jobs still run there.
        assert admin.wait_for_job(admin.submit_job(str(numpy_job(tmp_path, rounds=1))), timeout=30)["status"] == \
            "FINISHED:COMPLETED"
    finally:
        stop_together(sites)


@pytest.mark.timeout(90)
def test_o_site_on_submitting_and_job_code_is_the_servers_org(tmp_path: Path) -> None:
    """``submit_job: o:site`` and ``byoc: o:site`` name no job nor site: as FLARE 2.9's server judges
    them (its Authorizer's site_org is the server's org), users of the server's org may, others
    not; the gate lets every scoped condition through, so the submit itself judges it."""
    from console.commands import Right
    from console.server.authz import Policy, Principal, Refusal

    project = make_project(tmp_path, extra=ADMINS)
    policy_path = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["lead"].update(submit_job="o:site", byoc="o:site")
    policy_path.write_text(json.dumps(policy))
    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("lead@example.com", str(project.kit("lead@example.com"))) as lead, \
                new_secure_session("lead@other.org", str(project.kit("lead@other.org"))) as other:
            with pytest.raises(AuthorizationError, match="lacks the right 'submit_job'"):
                other.submit_job(str(EXAMPLES / "hello-server"))
            # hello-server brings code (app/custom): byoc judged at the submit and again when it runs.
            meta = lead.wait_for_job(lead.submit_job(str(EXAMPLES / "hello-server")), timeout=30)
            assert meta["status"] == "FINISHED:COMPLETED", meta
    finally:
        server.stop()
    byoc = Policy.from_data({"permissions": {"lead": {"byoc": "o:site"}}}, "test", home_org="example")
    byoc.require_here(Principal("lead@example.com", "example", "lead"), Right.BYOC)
    with pytest.raises(Refusal, match="'byoc'"):  # as a site of org example judges it too
        byoc.require_here(Principal("lead@other.org", "other", "lead"), Right.BYOC)


def test_broken_policy_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    policy_path = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["lead"]["submit_job"] = "sometimes"
    policy_path.write_text(json.dumps(policy))
    server = ServerProcess(project.server_kit)
    with pytest.raises(AssertionError, match="condition 'sometimes' is not one of"):
        server.start(timeout=10)


def test_pushed_events_follow_the_view_right(tmp_path: Path) -> None:
    project = make_project(tmp_path, extra=ADMINS)
    policy_path = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["member"] = {"view": "none"}
    policy_path.write_text(json.dumps(policy))
    server = ServerProcess(project.server_kit).start()
    try:
        with new_secure_session("member@example.com", str(project.kit("member@example.com"))) as member, \
                new_secure_session("lead@example.com", str(project.kit("lead@example.com"))) as lead:
            heard: list[str] = []
            member.client.add_event_listener(lambda topic, data: heard.append(topic))
            with pytest.raises(AuthorizationError, match="'view'"):
                member.list_jobs()
            job_id = lead.submit_job(str(EXAMPLES / "hello-server"))
            lead.wait_for_job(job_id, timeout=30)
            with pytest.raises(AuthorizationError):
                member.get_job_meta(job_id)
            assert heard == []  # the job's statuses were never pushed to a session that may not view
    finally:
        server.stop()


def test_job_workspaces_on_a_target_need_the_download_right(roles, tmp_path: Path) -> None:
    """The server's job workspaces hold the job's results: ls/cat/head/tail/grep there check
    download_job on that job as download_job does, not only shell_commands on the server."""
    admin, lead, org_admin = roles["admin@example.com"], roles["lead@example.com"], roles["orgadmin@example.com"]
    theirs = roles["lead@other.org"].submit_job(str(EXAMPLES / "hello-server"))
    ours = lead.submit_job(str(EXAMPLES / "hello-server"))
    for job_id in (theirs, ours):
        _, meta = admin.monitor_job_and_return_job_meta(job_id, timeout=90, poll_interval=0.2)
        assert meta is not None and meta["status"].startswith("FINISHED"), meta
    for reader in (lead, org_admin):  # both hold shell_commands on the server (their org's)
        assert theirs in reader.ls_target("server")  # the folder's own listing names jobs, as list_jobs does
        log = f"{theirs}/log.txt"
        reads = [(reader.ls_target, "-l", theirs), (reader.ls_target, None, f"./{theirs}/"),
                 (reader.cat_target, None, log), (reader.head_target, None, log),
                 (reader.tail_target, "-n 3", log), (reader.grep_target, "-c", "a", log)]
        for read, *args in reads:
            with pytest.raises(AuthorizationError, match=f"'download_job' for job {theirs}"):
                read("server", *args)
    assert "log.txt" in lead.ls_target("server", path=ours)  # the job's own lead
    assert "log.txt" in org_admin.ls_target("server", path=ours)  # an org_admin of the submitter's org
    assert lead.grep_target("server", "-c", "a", f"{ours}/log.txt").strip().isdigit()
    assert "log.txt" in admin.ls_target("server", path=theirs)  # the project admin reads every job
    assert admin.tail_target("server", "-n 1", f"{theirs}/log.txt") is not None


def test_job_workspaces_on_a_site_need_the_download_right(roles, tmp_path: Path) -> None:
    sites = [SiteProcess(roles["project"].kit(name)) for name in ("site-1", "site-2")]
    try:
        start_together(sites)
        admin, lead, org_admin = roles["admin@example.com"], roles["lead@example.com"], roles["orgadmin@example.com"]
        wait_until(lambda: len(admin.get_connected_client_list()) == 2, 20, "both sites")
        other_lead = roles["lead@other.org"]
        theirs = other_lead.submit_job(str(numpy_job(tmp_path, rounds=1)))
        assert other_lead.wait_for_job(theirs, timeout=60)["status"] == "FINISHED:COMPLETED"
        for reader in (lead, org_admin):
            with pytest.raises(AuthorizationError, match=f"'download_job' for job {theirs}"):
                reader.cat_target("site-1", file=f"{theirs}/log.txt")
            with pytest.raises(AuthorizationError, match=f"'download_job' for job {theirs}"):
                reader.ls_target("site-2", "-la", f"{theirs}/app_site-2")
        assert "log.txt" in admin.ls_target("site-1", path=theirs)
        assert admin.cat_target("site-2", file=f"{theirs}/log.txt") is not None
    finally:
        stop_together(sites)
