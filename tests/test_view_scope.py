"""A ``view`` right with a scope in a custom policy (``n:submitter``, ``o:submitter``) hides other
people's jobs: listings leave them out, every command naming a job answers one outside the scope
exactly as a job that does not exist (JobNotFound, the same text; a prefix is ambiguous only among
the jobs in scope), status rows and pushed events skip them. The default policy (``view: any``)
shows everything."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.flare_api import AuthorizationError, InvalidArgumentError, JobNotRunning, new_secure_session

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, wait_until
from jobs import hello_server, numpy_job, waiting_for_sites

LEAD, OTHER_LEAD, ORG_ADMIN, MEMBER = "lead@example.com", "lead@other.org", "orgadmin@example.com", "member@example.com"
ADMINS = [
    {"name": ORG_ADMIN, "type": "admin", "org": "example", "role": "org_admin"},
    {"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
    {"name": OTHER_LEAD, "type": "admin", "org": "other", "role": "lead"},
    {"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
]


#: An ID of the shape of a job ID that no job has (the store's IDs are uuid4: the version digit is 4).
NO_JOB = "00000000-0000-0000-0000-000000000000"


def _job_commands(sess) -> dict:
    """Every command that names a job, as a function of the ID or prefix typed."""
    follow = {"target": "server", "lines": 0}
    return {
        "get_job_meta": sess.get_job_meta, "monitor_job": lambda j: sess.monitor_job(j, timeout=5),
        "show_stats": lambda j: sess.show_stats(j, "server"), "show_errors": lambda j: sess.show_errors(j, "client"),
        "reset_errors": sess.reset_errors, "get_job_logs": sess.get_job_logs, "clone_job": sess.clone_job,
        "abort_job": sess.abort_job, "delete_job": sess.delete_job, "download_job": sess.download_job_result,
        "follow": lambda j: sess._call(sess.client.request("follow", {"job_id": j, **follow}, timeout=10)),
    }


def _answer(call, job_id: str) -> tuple[str, str]:
    try:
        call(job_id)
    except Exception as exc:
        return type(exc).__name__, str(exc).replace(job_id, "<typed>")
    return "answered", ""


def assert_hidden_everywhere(sess, hidden: str) -> None:
    """Each job command answers ``hidden`` (full, and an 8-digit prefix) exactly as an ID no job has."""
    for name, call in _job_commands(sess).items():
        for typed, unknown in ((hidden, NO_JOB), (hidden[:8], NO_JOB[:8])):
            seen, expected = _answer(call, typed), _answer(call, unknown)
            if name == "clone_job" and expected[0] == "AuthorizationError":  # no clone right at all: the gate
                assert seen == expected, (name, seen)
                continue
            assert seen == expected == ("JobNotFound", "no such job: <typed>"), (name, typed, seen, expected)


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[dict]:
    """A server whose policy lets leads view their own jobs and org admins their org's; members
    keep the default (any). Sessions by name, the events each heard, the project."""
    project = make_project(tmp_path, extra=ADMINS)
    policy_path = project.server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["lead"]["view"] = "n:submitter"
    policy["permissions"]["org_admin"]["view"] = "o:submitter"
    policy_path.write_text(json.dumps(policy))
    server = ServerProcess(project.server_kit)
    sessions: dict = {}
    heard: dict[str, list[dict]] = {}
    lock = threading.Lock()
    try:
        server.start()
        for who in (ADMIN, *(a["name"] for a in ADMINS)):
            sessions[who] = new_secure_session(who, str(project.kit(who)))
            heard[who] = []

            def listen(topic: str, data: dict, who: str = who) -> None:
                with lock:
                    heard[who].append({"topic": topic, **data})

            sessions[who].client.add_event_listener(listen)
        yield {"project": project, "heard": heard, **sessions}
    finally:
        for sess in sessions.values():
            sess.close()
        server.stop()
        server.kill()


@pytest.mark.timeout(120)
def test_a_scoped_view_hides_other_peoples_jobs(scoped, tmp_path: Path) -> None:
    lead, other_lead, org_admin, member, admin = (scoped[n] for n in (LEAD, OTHER_LEAD, ORG_ADMIN, MEMBER, ADMIN))
    mine = lead.submit_job(str(waiting_for_sites(tmp_path, name="mine")))
    theirs = other_lead.submit_job(str(waiting_for_sites(tmp_path, name="theirs")))
    admins = admin.submit_job(str(waiting_for_sites(tmp_path, name="admins")))  # org example, not the lead's
    # A job running on the server, of the other org: seen in check_status by those who may view it only.
    running = other_lead.submit_job(str(hello_server(tmp_path, name="running", steps=200, step_seconds=0.1)))
    try:
        wait_until(lambda: admin.get_job_meta(running)["status"] == "RUNNING", 30, "the job to run")

        def listed(sess, **kwargs) -> list[str]:
            return [row["job_id"] for row in sess.list_jobs(**kwargs)]

        # list_jobs: only what the right covers, the limit counted among those.
        assert listed(lead) == [mine] and listed(lead, detailed=True, reverse=True) == [mine]
        assert listed(other_lead) == [theirs, running]
        assert listed(org_admin) == [mine, admins]
        assert listed(org_admin, limit=1) == [admins]
        assert listed(lead, id_prefix=theirs[:6]) == [] and listed(lead, name_prefix="the") == []
        assert set(listed(member)) == set(listed(admin)) == {mine, theirs, admins, running}  # view: any

        # Every job command: a job outside the user's scope is a job that does not exist (the same
        # error, the same text as an ID no job has), by full ID or by prefix; never its ID.
        for who, hidden in ((lead, theirs), (lead, running), (lead, admins), (org_admin, theirs), (org_admin, running)):
            assert_hidden_everywhere(who, hidden)
        assert lead.get_job_meta(mine[:8])["job_id"] == mine and org_admin.get_job_meta(mine)["name"] == "mine"
        assert org_admin.get_job_meta(admins[:8])["job_id"] == admins  # o:submitter: the org's jobs
        with pytest.raises(JobNotRunning):  # their own: past the right, to the job's state
            lead.show_stats(mine, "server")
        assert other_lead.show_stats(running, "server")["server"]["ServerRunner"]["job_id"] == running
        assert member.get_job_meta(theirs)["job_id"] == theirs  # view: any
        assert "server" in other_lead.get_job_logs(running, tail_lines=1)["logs"]

        # check_status: the running job is listed to those who may view it only.
        def status_jobs(sess) -> list[str]:
            return [job["job_id"] for job in sess.check_status("server")["jobs"]]

        assert status_jobs(lead) == [] and status_jobs(org_admin) == []
        assert status_jobs(other_lead) == [running] and status_jobs(member) == [running]

        # Pushed events: a job's statuses reach only the sessions that may view it.
        heard = scoped["heard"]
        wait_until(lambda: any(e.get("job_id") == running and e["status"] == "RUNNING" for e in heard[MEMBER]),
                   10, "the member to hear the job run")
        assert {e["job_id"] for e in heard[LEAD] if "job_id" in e} == {mine}
        assert {e["job_id"] for e in heard[ORG_ADMIN] if "job_id" in e} == {mine, admins}
        assert {e["job_id"] for e in heard[OTHER_LEAD] if "job_id" in e} == {theirs, running}
        assert {e["job_id"] for e in heard[MEMBER] if "job_id" in e} == {mine, theirs, admins, running}

        # check_status of the sites: the rows of jobs running there, likewise.
        site = SiteProcess(scoped["project"].kit("site-1"))
        try:
            site.start()
            on_site = other_lead.submit_job(str(numpy_job(tmp_path, name="on-site", rounds=1, sleep=60,
                                                          min_clients=1)))
            wait_until(lambda: admin.get_job_meta(on_site)["status"] == "RUNNING", 30, "the site's job to run")

            def site_rows(sess) -> list[dict]:
                return sess.check_status("client", ["site-1"])["client_status"]

            wait_until(lambda: [r.get("job_id") for r in site_rows(member)] == [on_site], 30, "the site to run it")
            assert [r.get("job_id") for r in site_rows(other_lead)] == [on_site]
            # Not "no_jobs", which would be untrue: the site is busy, with a job not theirs to see.
            assert site_rows(lead) == [{"client_name": "site-1", "status": "1 job(s) outside your view"}]
            # A scoped view is about jobs: the site's own facts are theirs, as check_status's rows are.
            for sess in (lead, org_admin):
                assert "version" in sess.report_version("client", ["site-1"])["site-1"]
            admin.abort_job(on_site)
        finally:
            site.stop()
            site.kill()
    finally:
        admin.abort_job(running)


@pytest.mark.timeout(60)
def test_a_prefix_is_ambiguous_only_among_the_jobs_one_may_view(scoped, tmp_path: Path) -> None:
    lead, other_lead, admin = scoped[LEAD], scoped[OTHER_LEAD], scoped[ADMIN]
    mine = lead.submit_job(str(waiting_for_sites(tmp_path, name="mine")))
    folder = str(waiting_for_sites(tmp_path, name="theirs"))
    theirs = [other_lead.submit_job(folder)]
    while theirs[-1][0] != mine[0]:  # one in 16 shares the first digit of mine: a prefix matching both
        assert len(theirs) < 200, "no job ID shared the first digit in 200 (chance: 1 in 400,000)"
        theirs.append(other_lead.submit_job(folder))
    # Among the lead's own jobs the first digit is unique: it names theirs, as if the other were not there.
    assert lead.get_job_meta(mine[0])["job_id"] == mine
    with pytest.raises(InvalidArgumentError, match="ambiguous") as shown:
        admin.get_job_meta(mine[0])
    assert mine in str(shown.value) and theirs[-1] in str(shown.value)  # view: any names them all
    second = lead.submit_job(folder)
    while second[0] != mine[0]:  # two of the lead's own sharing it: ambiguous, naming those two only
        lead.delete_job(second)
        second = lead.submit_job(folder)
    with pytest.raises(InvalidArgumentError, match="ambiguous") as refused:
        lead.get_job_meta(mine[0])
    assert mine in str(refused.value) and second in str(refused.value)
    assert not any(job in str(refused.value) for job in theirs)


@pytest.mark.timeout(90)
def test_file_commands_reach_only_the_folders_of_jobs_one_may_view(scoped, tmp_path: Path) -> None:
    """A scoped ``view`` with ``shell_commands`` on the server and sites: ``ls`` of the folder lists
    only the jobs one may view, every other path (the participant's own log, another's job) is
    refused naming the rule; the default policy still reaches everything."""
    lead, other_lead, org_admin, admin = (scoped[n] for n in (LEAD, OTHER_LEAD, ORG_ADMIN, ADMIN))
    mine = lead.submit_job(str(hello_server(tmp_path, name="mine", steps=1, step_seconds=0.05)))
    theirs = other_lead.submit_job(str(hello_server(tmp_path, name="theirs", steps=1, step_seconds=0.05)))
    wait_until(lambda: {admin.get_job_status(j) for j in (mine, theirs)} == {"FINISHED:COMPLETED"}, 30,
               "both jobs to end")
    site_folder = scoped["project"].kit("site-1")
    for job in (mine, theirs):  # their workspaces on the site, as the jobs would have left them
        (site_folder / job).mkdir()
        (site_folder / job / "log.txt").write_text(f"job {job} on site-1\n")
    site = SiteProcess(site_folder)
    try:
        site.start()
        for target in ("server", "site-1"):
            for sess in (lead, org_admin):  # their own / their org's job; the other org's is not there
                assert sess.ls_target(target).splitlines() == [f"{mine}/"], target
                long = sess.ls_target(target, "-la").splitlines()
                assert len(long) == 1 and long[0].endswith(f" {mine}/"), long
                assert sess.ls_target(target, path=".").splitlines() == [f"{mine}/"]
            assert f"job {mine}" in lead.cat_target(target, file=f"{mine}/log.txt")
            everything = admin.ls_target(target).splitlines()  # view: any
            assert {f"{mine}/", f"{theirs}/", "log.txt"} <= set(everything), everything
            # The participant's own files name every job: out of reach, the rule named.
            for call in (lambda t=target: lead.cat_target(t, file="log.txt"),
                         lambda t=target: lead.tail_target_log(t),
                         lambda t=target: lead.grep_target(t, pattern="job", file="log.txt"),
                         lambda t=target: lead.ls_target(t, path="startup")):
                with pytest.raises(AuthorizationError, match=r"right 'view' for the jobs they submitted only "
                                                              r"\(n:submitter\): file commands reach only"):
                    call()
            # Another's job: as if it were not there to read.
            for call in (lambda t=target: lead.ls_target(t, path=theirs),
                         lambda t=target: lead.cat_target(t, file=f"{theirs}/log.txt"),
                         lambda t=target: lead.head_target(t, file=f"./{theirs}/log.txt"),
                         lambda t=target: lead.grep_target(t, pattern="job", file=f"{theirs}/log.txt")):
                with pytest.raises(AuthorizationError, match=f"lacks the right '(view|download_job)' for job {theirs}"):
                    call()
            assert lead.get_working_directory(target)
        assert "server app" in lead.cat_target("server", file=f"{mine}/log.txt")
        assert f"{theirs}/" in admin.ls_target("server", path=".")
    finally:
        site.stop()
        site.kill()
