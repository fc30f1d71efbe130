"""FLARE's failures in our words (``console.backends.nvflare_errors.reworded``): each kind FLARE raises, the class
kept (batch exit codes and the poll go by class), the message saying what failed and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.api import errors
from console.backends.nvflare_errors import reworded, server_address

WHERE = "localhost:8002"


def test_a_lost_connection_says_which_command_where_and_what_next_without_flares_bare_status() -> None:
    said = reworded(errors.NoConnection("cannot connect to server: ERROR_SERVER_CONNECTION"), "check_status", WHERE)
    assert type(said) is errors.NoConnection
    assert str(said) == ("check_status got no answer: the connection to the FLARE server at localhost:8002 is lost; "
                         "is the server still running? The console connects again once it answers")
    # FLARE's words are kept where they say more than the class does.
    more = reworded(errors.NoConnection("timed out after 5 s waiting for reply"), "list_jobs", WHERE)
    assert "(FLARE: timed out after 5 s waiting for reply)" in str(more)


def test_a_lost_answer_to_a_command_that_changes_something_says_its_outcome_is_not_known() -> None:
    said = str(reworded(errors.NoConnection("cannot connect to server"), "abort_job", WHERE))
    assert "whether abort_job was done is not known until it answers (list_jobs and check_status show it)" in said


def test_a_session_the_server_ended_is_a_lost_connection_and_the_next_command_logs_in() -> None:
    said = reworded(errors.SessionClosed("the session is closed on server"), "list_jobs", WHERE)
    assert type(said) is errors.NoConnection
    assert str(said) == ("list_jobs was not done: the FLARE server at localhost:8002 ended this console's session; "
                         "the next command logs in again")


@pytest.mark.parametrize(("flare", "command", "ours"), [
    (errors.ClientsStillRunning("one or more clients are still running"), "shutdown",
     "shutdown server was refused: sites are still running under the FLARE server; shut them down first "
     "(shutdown client), or the server and every site at once (shutdown all)"),
    (errors.NoClientsAvailable("no clients available"), "check_status",
     "check_status: no site is connected to the FLARE server; check_status server lists the connected sites"),
    (errors.JobNotDone("job 1234 is still running"), "delete_job",
     "job 1234 is still running; abort it before deleting it (abort_job 1234), or wait until it ends"),
    (errors.InternalError("server internal error: boom"), "show_stats",
     "the FLARE server could not run show_stats (FLARE: boom); its log may say why: tail server log.txt"),
    (errors.AuthorizationError("user not authorized for the action 'abort_job'"), "abort_job",
     "abort_job was refused: this admin's role on the FLARE server does not allow it; ask a project admin"),
    # FLARE's flare_api wraps the server's sentence in its own: the server's words once, no nested quotes.
    (errors.AuthorizationError("user not authorized for the action 'ls server: user 'lead@hospb.com' is not "
                               "authorized for 'ls''"), "ls",
     "ls was refused: this admin's role on the FLARE server does not allow it (FLARE: user 'lead@hospb.com' is not "
     "authorized for 'ls'); ask a project admin"),
    (errors.JobNotDone("job There are still jobs running. Please let them finish or abort_job before restart. is "
                       "still running"), "restart",
     "restart was refused: jobs are still running (FLARE: There are still jobs running. Please let them finish or "
     "abort_job before restart.); let them finish or abort them first (abort_job JOB); list_jobs shows them"),
    # The advice works while a site is frozen: a command to every site is what failed (flare11 item 5).
    (errors.NoReply("no reply"), "sys_info", "ask each site on its own (check_status client SITE) to find it"),
    (errors.NoReply("no reply"), "check_status", "ask each site on its own (check_status client SITE) to find it"),
    # configure_job_log on a queued job: FLARE's server words it as an error with no class (flare11 item 9).
    (errors.InternalError("server internal error: Job 4f1c-99 must be running but is SUBMITTED"), "configure_job_log",
     "configure_job_log: job 4f1c-99 is not running (it is SUBMITTED); configure_job_log works on a running job "
     "only; list_jobs shows its status"),
    (errors.NoReply("no result"), "app_command", "app_command: the job's app gave no answer in time"),
])
def test_each_kind_of_flare_refusal_says_what_failed_and_what_to_do(flare: Exception, command: str,
                                                                     ours: str) -> None:
    said = reworded(flare, command, WHERE)
    assert type(said) is (errors.JobNotRunning if "must be running" in str(flare) else type(flare))
    assert ours in str(said)


def test_a_refused_shutdown_or_restart_names_every_running_job() -> None:
    from console.backends.nvflare_errors import jobs_still_running

    assert jobs_still_running("restart", [("0f24c025-1", "hello")]) == (
        "restart was refused: job 0f24c025-1 (hello) is still running; let it finish or abort it first "
        "(abort_job 0f24c025-1)")
    assert jobs_still_running("shutdown", [("a1", "x"), ("b2", "")]).startswith(
        "shutdown was refused: jobs a1 (x), b2 are still running; let them finish or abort them first")
    named = errors.JobNotDone(jobs_still_running("shutdown", [("a1", "x")]))
    assert reworded(named, "shutdown", WHERE) is named  # in our words already


def test_what_flare_already_says_fully_stays_as_it_is() -> None:
    for exc in (errors.JobNotFound("no such job: 1234"), errors.InvalidArgumentError("limit must be int")):
        assert reworded(exc, "get_job_meta", WHERE) is exc


def test_the_servers_address_comes_from_the_kit(tmp_path: Path) -> None:
    (tmp_path / "startup").mkdir()
    assert server_address(tmp_path) == "the address in its kit"
    (tmp_path / "startup" / "fed_admin.json").write_text(json.dumps({"admin": {"host": "fl.example", "port": 8003}}))
    assert server_address(tmp_path) == "fl.example:8003"


def test_a_shutdown_flare_accepted_says_what_is_stopping_not_empty() -> None:
    """FLARE 2.9 answers an accepted shutdown or restart with an empty meta: shown as our server's answer."""
    from console.backends.nvflare_commands import COMMANDS

    class Api:
        def do_command(self, command: str, props: object = None) -> dict[str, object]:
            return {"status": "SUCCESS", "data": [], "meta": {"status": "ok"}}  # the reply's envelope only

    class Session:
        api = Api()

        def shutdown(self, target_type: str, names: object, wait: bool) -> dict[str, str]:
            return self.api.do_command("shutdown")["meta"]

        restart = shutdown

    assert COMMANDS["shutdown"](Session(), {"target_type": "all"}) == {
        "client_status": "every site: shutting down", "server_status": "server is shutting down"}
    assert COMMANDS["restart"](Session(), {"target_type": "client", "targets": ["site-2"]}) == {
        "client_status": "site-2: restarting"}


def test_enabling_or_disabling_a_site_not_connected_says_so() -> None:
    """FLARE 2.9 enables and disables any name (a site never provisioned too): the answer notes it."""
    from console.backends.nvflare_commands import _unknown_site_noted

    answer = {"clients": [{"client_name": "site-zz", "state": "disabled"}]}
    noted = _unknown_site_noted("site-zz", ["site-1", "site-2"], answer, "disabled site-zz")
    assert noted["note"] == ("no site named site-zz is connected now (connected: site-1, site-2); FLARE takes any "
                             "name, so check its spelling")
    assert _unknown_site_noted("site-1", ["site-1"], answer, "disabled site-1") is answer
    empty = _unknown_site_noted("x", [], None, "enabled x")  # FLARE's nothing, with our words for the table
    assert empty.answer is None and empty.words.startswith("enabled x; note: no site named x is connected now "
                                                           "(connected: none)")


def test_enabling_a_site_disabled_before_is_no_spelling_alarm() -> None:
    """A site FLARE says it disabled (FLARE 2.9 server_engine's ``was_disabled``, ``already_disabled``) is a site FLARE
    knows: not connected because it is disabled, never a misspelling."""
    from console.backends.nvflare_commands import _unknown_site_noted

    enabled = {"clients": [{"client_name": "site-b1", "state": "enabled", "was_disabled": True,
                            "credential_revoked": False, "rejoin_allowed": True}]}
    assert _unknown_site_noted("site-b1", ["site-a1"], enabled, "enabled site-b1") is enabled
    again = {"clients": [{"client_name": "site-b1", "state": "disabled", "already_disabled": True,
                          "active_session_removed": False, "credential_revoked": False, "rejoin_allowed": False}]}
    assert _unknown_site_noted("site-b1", ["site-a1"], again, "disabled site-b1") is again
    never = {"clients": [{"client_name": "site-bl", "state": "enabled", "was_disabled": False}]}
    assert "check its spelling" in _unknown_site_noted("site-bl", ["site-a1"], never, "enabled site-bl")["note"]


def test_a_login_refused_in_a_study_says_which_of_flares_three_reasons() -> None:
    """flare11 item 6: a user not mapped to an existing study was told the server "has no study but FLARE's
    default one". FLARE 2.9's login (``fuel/hci/server/login.py``) refuses for three reasons, each said as it is."""
    from console.backends.nvflare_studies import study_refusal

    where, user = "localhost:8002", "lead@orgb.com"
    unmapped = study_refusal(f"user '{user}' is not mapped to study 'cancer'", "cancer", user, where, [])
    assert unmapped.startswith(f"--study cancer: study cancer exists on the FLARE server at {where}, but {user} is "
                               "not in it"), unmapped
    assert f"FLARE lists no study for {user} (only its default one)" in unmapped
    assert f"add_study_user cancer {user}" in unmapped and "has no study" not in unmapped
    theirs = study_refusal(f"user '{user}' is not mapped to study 'cancer'", "cancer", user, where, ["heart", "lung"])
    assert f"the studies FLARE lists for {user}: heart, lung" in theirs
    unknown = study_refusal("unknown study 'cancr'", "cancr", user, where, ["cancer"])
    assert unknown == (f"--study cancr: the FLARE server at {where} has no study cancr (unknown study 'cancr'); the "
                       f"studies FLARE lists for {user}: cancer; leave out --study for FLARE's default study")
    none = study_refusal("study 'x' is not configured on the server", "x", user, where, None)
    assert none.startswith(f"--study x: the FLARE server at {where} has no studies configured"), none


def test_a_refused_job_command_on_someone_elses_job_says_whose_it_is() -> None:
    """flare11 item 8: orgb's lead aborting orga lead's job was told its role does not allow it; FLARE's default
    policy lets a lead manage only their own jobs: the refusal says the job is someone else's."""
    from console.backends.nvflare_commands import COMMANDS
    from console.backends.nvflare_owner import CLONE_JOB

    job = "0c0ffee0-0000-4000-8000-000000000001"

    class Session:  # FLARE 2.9's Session: its refusal names neither the job nor why
        username = "lead@orgb.com"

        def __init__(self, submitter: str) -> None:
            self.submitter = submitter

        def get_job_meta(self, job_id: str) -> dict:
            return {"job_id": job_id, "status": "RUNNING", "submitter_name": self.submitter, "submitter_org": "orga"}

        def abort_job(self, job_id: str) -> None:
            raise errors.AuthorizationError("user not authorized for the action 'abort_job'")

        clone_job = delete_job = abort_job

    calls = {**COMMANDS, "clone_job": CLONE_JOB}  # as the backend calls it
    for command in ("abort_job", "clone_job", "delete_job"):
        with pytest.raises(errors.AuthorizationError) as refused:
            calls[command](Session("lead@orga.com"), {"job_id": job})
        said = str(reworded(refused.value, command, WHERE))
        assert said.startswith(f"{command} was refused: job {job} is not yours, lead@orga.com (org orga) submitted "
                               "it; FLARE's default policy lets a lead manage, clone and download only the jobs they "
                               "submitted"), said
        assert "role" not in said
    with pytest.raises(errors.AuthorizationError) as own:  # the user's own job: the role is what refused
        COMMANDS["abort_job"](Session("lead@orgb.com"), {"job_id": job})
    assert "this admin's role on the FLARE server does not allow it" in str(reworded(own.value, "abort_job", WHERE))
