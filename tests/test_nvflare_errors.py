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
     "job 1234 is still running; abort it before deleting it (abort_job), or wait until it ends"),
    (errors.InternalError("server internal error: boom"), "show_stats",
     "the FLARE server could not run show_stats (FLARE: server internal error: boom); its log may say why: "
     "tail server log.txt"),
    (errors.AuthorizationError("user not authorized for the action 'abort_job: x'"), "abort_job",
     "abort_job was refused: this admin's role on the FLARE server does not allow it (FLARE: user not authorized"),
    (errors.NoReply("no reply"), "sys_info", "check_status client shows which sites answer"),
])
def test_each_kind_of_flare_refusal_says_what_failed_and_what_to_do(flare: Exception, command: str,
                                                                     ours: str) -> None:
    said = reworded(flare, command, WHERE)
    assert type(said) is type(flare)
    assert ours in str(said)


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

    class Session:
        def shutdown(self, target_type: str, names: object, wait: bool) -> dict[str, str]:
            return {"status": "ok"}  # the reply's envelope only

        restart = shutdown

    assert COMMANDS["shutdown"](Session(), {"target_type": "all"}) == {
        "client_status": "every site: shutting down", "server_status": "server is shutting down"}
    assert COMMANDS["restart"](Session(), {"target_type": "client", "targets": ["site-2"]}) == {
        "client_status": "site-2: restarting"}
