"""A ``view`` right with a scope in a custom policy (``n:submitter``, ``o:submitter``) hides other
people's jobs: listings leave them out, every command naming a job answers one outside the scope
exactly as a job that does not exist (JobNotFound, the same text; a prefix is ambiguous only among
the jobs in scope), whatever the command's own right covers; a job's folder on a participant is
answered as a folder that is not there; status rows, counts and pushed events skip them, and a
visible clone's meta names neither its hidden source nor that source's signer. The default
policy (``view: any``) shows everything."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.commands import Right
from console.flare_api import (
    AuthorizationError,
    InvalidArgumentError,
    JobNotDone,
    JobNotFound,
    JobNotRunning,
    new_secure_session,
)
from console.server.audit import AUDIT_FILE, AUDIT_FOLDER
from console.server.authz import Policy, Principal

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, wait_until
from jobs import hello_server, numpy_job, waiting_for_sites

LEAD, OTHER_LEAD, ORG_ADMIN, MEMBER = "lead@example.com", "lead@other.org", "orgadmin@example.com", "member@example.com"
OTHER_MEMBER = "member@other.org"
ADMINS = [
    {"name": ORG_ADMIN, "type": "admin", "org": "example", "role": "org_admin"},
    {"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
    {"name": OTHER_LEAD, "type": "admin", "org": "other", "role": "lead"},
    {"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
    {"name": OTHER_MEMBER, "type": "admin", "org": "other", "role": "member"},
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


def _said(call, typed: str) -> tuple[str, str]:
    """What ``call(typed)`` shows the user, answer or error, with ``typed`` replaced."""
    try:
        return "answered", call(typed).replace(typed, "<typed>")
    except Exception as exc:
        return type(exc).__name__, str(exc).replace(typed, "<typed>")


def assert_hidden_everywhere(sess, hidden: str) -> None:
    """Each job command answers ``hidden`` (full, and an 8-digit prefix) exactly as an ID no job has."""
    for name, call in _job_commands(sess).items():
        for typed, unknown in ((hidden, NO_JOB), (hidden[:8], NO_JOB[:8])):
            seen, expected = _answer(call, typed), _answer(call, unknown)
            if name == "clone_job" and expected[0] == "AuthorizationError":  # no clone right at all: the gate
                assert seen == expected, (name, seen)
                continue
            assert seen == expected == ("JobNotFound", "no such job: <typed>; list_jobs shows your jobs"), (name, typed, seen, expected)


def _scope_views(server_kit: Path) -> None:
    """The server's policy: leads view their own jobs (and clone, manage, download any), org admins
    their org's, members every job if of the server's org (``o:site``: a job is judged where it is
    kept, as FLARE 2.9's server does), else none."""
    policy_path = server_kit / "local" / "authorization.json"
    policy = json.loads(policy_path.read_text())
    policy["permissions"]["lead"].update(view="n:submitter", clone_job="any", manage_job="any", download_job="any")
    policy["permissions"]["org_admin"]["view"] = "o:submitter"
    policy["permissions"]["member"]["view"] = "o:site"
    policy_path.write_text(json.dumps(policy))


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[dict]:
    """A server whose policy lets leads view their own jobs (but clone, manage and download anyone's:
    each job command needs the view as well), org admins their org's, members of the server's org
    every job and other members none (``_scope_views``). Sessions by name, the events each heard,
    the project."""
    project = make_project(tmp_path, extra=ADMINS)
    _scope_views(project.server_kit)
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
        assert set(listed(member)) == set(listed(admin)) == {mine, theirs, admins, running}  # o:site, any
        assert listed(scoped[OTHER_MEMBER]) == []  # o:site, not of the server's org: no job

        # Every job command: a job outside the user's scope is a job that does not exist (the same
        # error, the same text as an ID no job has), by full ID or by prefix; never its ID.
        for who, hidden in ((lead, theirs), (lead, running), (lead, admins), (org_admin, theirs), (org_admin, running)):
            assert_hidden_everywhere(who, hidden)
        assert lead.get_job_meta(mine[:8])["job_id"] == mine and org_admin.get_job_meta(mine)["name"] == "mine"
        assert org_admin.get_job_meta(admins[:8])["job_id"] == admins  # o:submitter: the org's jobs
        with pytest.raises(JobNotRunning):  # their own: past the right, to the job's state
            lead.show_stats(mine, "server")
        assert other_lead.show_stats(running, "server")["server"]["ServerRunner"]["job_id"] == running
        assert member.get_job_meta(theirs)["job_id"] == theirs  # view: o:site, of the server's org
        with pytest.raises(JobNotFound, match=f"no such job: {theirs[:8]}; list_jobs shows your jobs$"):
            scoped[OTHER_MEMBER].get_job_meta(theirs[:8])
        assert "server" in other_lead.get_job_logs(running, tail_lines=1)["logs"]

        # check_status: the running job is listed to those who may view it only.
        def status_jobs(sess) -> list[str]:
            return [job["job_id"] for job in sess.check_status("server")["jobs"]]

        assert status_jobs(lead) == [] and status_jobs(org_admin) == []
        assert status_jobs(other_lead) == [running] and status_jobs(member) == [running]
        assert status_jobs(scoped[OTHER_MEMBER]) == []
        # ... and the server's state is told of the jobs in view: as if the hidden one were not there.
        assert lead.check_status("server")["server_status"] == "stopped"
        assert member.check_status("server")["server_status"] == "started"
        # A stop: the right on the target first, whatever runs (security finding 6: the refusal
        # "jobs are running" told those without the right that hidden jobs run); refused so in the
        # audit trail. Who may stop the server learns that a job keeps it busy, named if in view.
        audit = scoped["project"].server_kit / AUDIT_FOLDER / AUDIT_FILE
        for sess, name in ((other_lead, OTHER_LEAD), (scoped[OTHER_MEMBER], OTHER_MEMBER)):
            for command in (sess.shutdown, sess.restart):
                with pytest.raises(AuthorizationError, match="lacks the right 'operate'"):
                    command("server", wait=False)
            wait_until(lambda name=name: [r for r in map(json.loads, audit.read_text().splitlines())
                                          if r.get("user") == name and r.get("command") == "restart"], 10,
                       "the refusal's audit line")
            outcomes = {r["outcome"] for r in map(json.loads, audit.read_text().splitlines())
                        if r.get("user") == name and r.get("command") in ("shutdown", "restart")}
            assert outcomes == {"refused"}, outcomes
        with pytest.raises(JobNotDone, match=r"refused: jobs are still running \(job\(s\) outside your view\)") as refused:
            lead.restart("server", wait=False)  # of the server's org: may stop it
        assert running not in str(refused.value)

        # Pushed events: a job's statuses reach only the sessions that may view it.
        heard = scoped["heard"]
        wait_until(lambda: any(e.get("job_id") == running and e["status"] == "RUNNING" for e in heard[MEMBER]),
                   10, "the member to hear the job run")
        assert {e["job_id"] for e in heard[LEAD] if "job_id" in e} == {mine}
        assert {e["job_id"] for e in heard[ORG_ADMIN] if "job_id" in e} == {mine, admins}
        assert {e["job_id"] for e in heard[OTHER_LEAD] if "job_id" in e} == {theirs, running}
        assert {e["job_id"] for e in heard[MEMBER] if "job_id" in e} == {mine, theirs, admins, running}
        assert not [e for e in heard[OTHER_MEMBER] if "job_id" in e]

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
            # The site's row, of the jobs in view: neither the hidden job nor a count of such jobs.
            assert site_rows(lead) == [{"client_name": "site-1", "status": "no_jobs"}]
            # Stopping the site: the right on it first; a job on it keeps it from stopping, said as above.
            with pytest.raises(AuthorizationError, match="lacks the right 'operate' for site-1"):
                other_lead.restart("client", ["site-1"], wait=False)
            with pytest.raises(JobNotDone, match=r"refused: jobs are still running \(job\(s\) outside your view\)"):
                lead.restart("client", ["site-1"], wait=False)
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
    for folder in (site_folder, scoped["project"].server_kit):  # a sub-folder, and links job code could make
        (folder / mine / "models").mkdir(exist_ok=True)
        (folder / mine / "models" / "local.npz").write_bytes(b"model")
        (folder / mine / "up").symlink_to("..")
        (folder / mine / "theirs").symlink_to(f"../{theirs}")
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
            # Inside a job folder one may view, the listing is that folder's, whatever the path's shape
            # (security report 10, finding 9: it answered nothing, the participant folder's filter applied).
            for typed in (mine, f"./{mine}/", f"{mine}/", f"{mine}/."):
                listed = lead.ls_target(target, path=typed).split()
                assert {"log.txt", "models/", "up", "theirs"} <= set(listed), (target, typed, listed)
                assert any(line.endswith(" log.txt") for line in lead.ls_target(target, "-l", path=typed).splitlines())
            assert lead.ls_target(target, path=f"{mine}/models").split() == ["local.npz"]
            for typed in (f"{mine}/log.txt", f"./{mine}/log.txt", f"{mine}/./log.txt"):  # its files, each command
                for call in (lambda f, t=target: lead.cat_target(t, file=f),
                             lambda f, t=target: lead.head_target(t, file=f),
                             lambda f, t=target: lead.tail_target(t, file=f),
                             lambda f, t=target: lead.grep_target(t, "-E", "job|server", f)):
                    assert call(typed).strip(), (target, typed)
            assert lead.ls_target(target, path=f"{mine}/models/local.npz").split() == ["local.npz"]
            # ``..`` is refused for everyone; links out of the job's folder (to the participant's own
            # files, into another's job) are not followed, whatever the command.
            for call in (lambda t=target: lead.ls_target(t, path=f"{mine}/../{mine}"),
                         lambda t=target: lead.ls_target(t, path=f"{mine}/up"),
                         lambda t=target: lead.cat_target(t, file=f"{mine}/up/log.txt"),
                         lambda t=target: lead.tail_target(t, file=f"{mine}/up/log.txt"),
                         lambda t=target: lead.head_target(t, file=f"{mine}/up/log.txt"),
                         lambda t=target: lead.grep_target(t, pattern="job", file=f"{mine}/up/log.txt"),
                         lambda t=target: lead.ls_target(t, path=f"{mine}/theirs"),
                         lambda t=target: lead.cat_target(t, file=f"{mine}/theirs/log.txt")):
                # ``..`` refused before it is sent, as FLARE 2.9's flare_api does (SyntaxError: InvalidSyntax)
                with pytest.raises(InvalidArgumentError, match=r"path outside the workspace|is not followed|"
                                                               r"\.\. in path name is not allowed"):
                    call()
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
            # Another's job (the lead may download any job, but views only theirs): answered exactly
            # as a job folder that is not there, typed in full, in upper case, or in a bad request.
            for typed, unknown in ((theirs, NO_JOB), (theirs.upper(), NO_JOB.replace("0", "A"))):
                for call in (lambda j, t=target: lead.ls_target(t, path=j),
                             lambda j, t=target: lead.ls_target(t, "-l", path=f"{j}/"),
                             lambda j, t=target: lead.cat_target(t, file=f"{j}/log.txt"),
                             lambda j, t=target: lead.head_target(t, file=f"./{j}/log.txt"),
                             lambda j, t=target: lead.tail_target(t, "-n 2", file=f"{j}/log.txt"),
                             lambda j, t=target: lead.grep_target(t, pattern="job", file=f"{j}/log.txt"),
                             lambda j, t=target: lead.grep_target(t, pattern="(", file=f"{j}/log.txt"),
                             lambda j, t=target: lead.cat_target(t, "-q", file=f"{j}/log.txt"),
                             lambda j, t=target: lead.ls_target(t, path=f"{j}/models"),
                             lambda j, t=target: lead.ls_target(t, path=f"{j}/../{j}"),
                             lambda j, t=target: lead.tail_target(t, file=f"{j}/up/log.txt")):
                    seen = _said(call, typed)
                    assert seen == _said(call, unknown), (target, seen)
                    assert seen[0] in ("answered", "InvalidArgumentError", "InvalidSyntax") and theirs not in seen[1], seen
            assert "No such file or directory" in lead.cat_target(target, file=f"{theirs}/log.txt")
            assert lead.get_working_directory(target)
        assert "server app" in lead.cat_target("server", file=f"{mine}/log.txt")
        assert f"{theirs}/" in admin.ls_target("server", path=".")
        with pytest.raises(JobNotFound):
            lead.get_job_meta(theirs[:8])
        with pytest.raises(JobNotFound):
            lead.get_job_meta(NO_JOB[:8])
        # Security tester, session 10, item 8: the operator's trail says each probe of another's job
        # was refused by the view and names the job, though the user was told "not there".
        kit = scoped["project"].server_kit
        wait_until(lambda: any(r.get("command") == "get_job_meta" and r.get("args") == {"job_id": NO_JOB[:8]}
                               for r in _audit(kit)), 10, "the last probe's audit line")
        lines = [r for r in _audit(kit) if r.get("user") == LEAD and r["kind"] == "command"]
        probes = [r for r in lines if theirs in json.dumps(r.get("args")).lower()
                  or str(r.get("args", {}).get("job_id")) == theirs[:8]]
        assert {r["command"] for r in probes} == {"ls", "cat", "head", "tail", "grep", "get_job_meta"}, probes
        for r in probes:
            assert (r["outcome"], r["right"], r["job_id"]) == ("refused", "view", theirs), r
            assert r["error"].endswith("the job is outside the user's view)"), r
        meta = next(r for r in probes if r["command"] == "get_job_meta")
        assert meta["error"].startswith(f"JobNotFound: no such job: {theirs[:8]}; list_jobs shows your jobs (told the user;"), meta
        own_files = [r for r in lines if r["command"] in ("cat", "tail", "grep") and "log.txt" == r["args"].get("file")]
        assert own_files and all((r["outcome"], r["right"]) == ("refused", "view") for r in own_files), own_files
        missing = [r for r in lines if NO_JOB in json.dumps(r.get("args")).upper() or NO_JOB[:8] in str(r["args"])]
        assert missing and all(r["outcome"] != "refused" and "job_id" not in r for r in missing), missing
    finally:
        site.stop()
        site.kill()


def _audit(server_kit: Path) -> list[dict]:
    from console.server.audit import AUDIT_FILE, AUDIT_FOLDER

    return [json.loads(line) for line in (server_kit / AUDIT_FOLDER / AUDIT_FILE).read_text().splitlines()]


@pytest.mark.timeout(90)
def test_a_visible_clone_names_neither_its_hidden_source_nor_its_signer(scoped, tmp_path: Path) -> None:
    """The project admin clones the other org's job: the clone is the admin's (org example), so the
    org admin sees it, but its ``cloned_from`` and ``signed_by`` would name that job and its
    submitter. Shown instead: that it is a clone of a job outside their view, wherever its meta
    reaches them (get_job_meta, list_jobs -d, a download's meta.json); a source in view is named."""
    org_admin, lead, other_lead, member, admin = (scoped[n] for n in (ORG_ADMIN, LEAD, OTHER_LEAD, MEMBER, ADMIN))
    folder = str(waiting_for_sites(tmp_path, name="cloned"))
    theirs, mine = other_lead.submit_job(folder), lead.submit_job(folder)
    of_theirs = admin.clone_job(theirs)
    of_clone = admin.clone_job(of_theirs)  # the source in view, its signer only through the hidden job
    of_mine = admin.clone_job(mine)
    admin.abort_job(of_theirs)  # a finished job, to download

    def told(meta: dict) -> tuple:
        return meta["cloned_from"], meta["signed_by"]

    hidden = ("(a job outside your view)", "(the signer of a job outside your view)")
    expected = {of_theirs: hidden, of_clone: (of_theirs, hidden[1]), of_mine: (mine, LEAD)}
    for job, shown in expected.items():
        assert told(org_admin.get_job_meta(job)) == shown, job
    detailed = {meta["job_id"]: meta for meta in org_admin.list_jobs(detailed=True)}
    assert {job: told(detailed[job]) for job in expected} == expected
    downloaded = Path(org_admin.download_job_result(of_theirs, str(tmp_path / "down")))
    assert told(json.loads((downloaded / "meta.json").read_text())) == hidden
    for answer in (json.dumps(org_admin.get_job_meta(of_clone)), json.dumps(list(detailed.values())),
                   (downloaded / "meta.json").read_text()):
        assert theirs not in answer and OTHER_LEAD not in answer
    # With view: any, and for one's own clone of one's own job, the fields as stored.
    assert told(member.get_job_meta(of_clone)) == (of_theirs, OTHER_LEAD)
    assert told(member.get_job_meta(of_theirs)) == (theirs, OTHER_LEAD)
    own_clone = lead.clone_job(mine)
    assert told(lead.get_job_meta(own_clone)) == (mine, LEAD)
    lead.delete_job(mine)  # a source deleted since: no longer a job in anyone's view
    assert told(lead.get_job_meta(own_clone)) == ("(a job outside your view)", LEAD)


def test_whose_job_it_is_follows_flares_fields() -> None:
    """As FLARE 2.9's authz (UserNameEvaluator, UserOrgEvaluator, Authorizer): ``n:submitter`` is
    the job's submitter_name alone, ``o:submitter`` its submitter_org alone, the submitter's role
    never, ``o:site`` on a job the org of the participant keeping it; unlike FLARE, compared
    exactly as the certificates carry them (no lower-casing)."""
    policy = Policy.from_data({"permissions": {"lead": {"view": "n:submitter", "manage_job": "o:submitter"}}}, "test")
    lead = Principal(LEAD, "example", "lead")

    def job(name: str, org: str, role: str = "lead") -> dict:
        return {"submitter_name": name, "submitter_org": org, "submitter_role": role}

    # Submitted under another org (re-provisioned since), or in another role: still the lead's job.
    for theirs_by_name in (job(LEAD, "other"), job(LEAD, "example", "project_admin")):
        assert policy.allows(lead, Right.VIEW, submitter=theirs_by_name)
    assert not policy.allows(lead, Right.MANAGE_JOB, submitter=job(LEAD, "other"))  # not the org's job
    assert policy.allows(lead, Right.MANAGE_JOB, submitter=job(ADMIN, "example"))  # the org's, another's
    assert not policy.allows(lead, Right.VIEW, submitter=job(ADMIN, "example"))
    # Another certificate whose name differs only in case is another person; an org likewise.
    assert not policy.allows(lead, Right.VIEW, submitter=job(LEAD.upper(), "example"))
    assert not policy.allows(lead, Right.MANAGE_JOB, submitter=job(ADMIN, "Example"))
    assert not policy.allows(lead, Right.VIEW, submitter={})  # a job without a submitter is no one's
    # o:site on a job: the org of the participant keeping it (the server's), as FLARE's Authorizer.
    kept = Policy.from_data({"permissions": {"lead": {"view": "o:site"}}}, "test", home_org="example")
    assert kept.allows(lead, Right.VIEW, submitter=job(OTHER_LEAD, "other"))
    assert not kept.allows(Principal(OTHER_LEAD, "other", "lead"), Right.VIEW, submitter=job(OTHER_LEAD, "other"))
    assert kept.allows(lead, Right.VIEW, site_org="example") and not kept.allows(lead, Right.VIEW, site_org="other")


@pytest.mark.timeout(120)
def test_a_refused_signature_of_a_visible_clone_does_not_name_a_hidden_signer(tmp_path: Path) -> None:
    """The other org's lead is removed from the project (their certificate revoked) after their job
    ran; the project admin's clone of it then fails to run, its job_errors naming the revoked
    signer. The org admin, who sees the clone but not its source, reads that error without the
    name; a viewer of everything reads it whole."""
    import yaml

    from console.provision.kits import provision

    project = make_project(tmp_path, extra=ADMINS)
    _scope_views(project.server_kit)
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        with new_secure_session(OTHER_LEAD, str(project.kit(OTHER_LEAD))) as other_lead:
            theirs = other_lead.submit_job(str(hello_server(tmp_path, name="theirs", steps=1, step_seconds=0.05)))
            wait_until(lambda: other_lead.get_job_status(theirs) == "FINISHED:COMPLETED", 30, "their job to end")
        server.stop()
        project_file = tmp_path / f"{project.name}.yml"
        data = yaml.safe_load(project_file.read_text())
        data["participants"] = [p for p in data["participants"] if p["name"] != OTHER_LEAD]
        project_file.write_text(yaml.safe_dump(data))
        newer = Path(provision(project_file, tmp_path / "workspace"))
        crl = (newer / "server" / "startup" / "crl.pem").read_bytes()
        (project.server_kit / "startup" / "crl.pem").write_bytes(crl)  # the running server's kit, with its store
        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin, \
                new_secure_session(ORG_ADMIN, str(project.kit(ORG_ADMIN))) as org_admin:
            clone = admin.clone_job(theirs)
            wait_until(lambda: admin.get_job_status(clone) == "FINISHED:FAILED_TO_RUN", 30, "the clone to fail")
            whole = admin.get_job_meta(clone)["job_errors"]["server"]
            assert any(f"({OTHER_LEAD!r}) is revoked" in error for error in whole), whole
            for meta in (org_admin.get_job_meta(clone), org_admin.list_jobs(detailed=True)[0]):
                assert meta["job_id"] == clone and OTHER_LEAD not in json.dumps(meta), meta
                assert any("(the signer of a job outside your view)" in e for e in meta["job_errors"]["server"])
    finally:
        server.stop()
        server.kill()
