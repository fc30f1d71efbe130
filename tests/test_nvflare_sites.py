"""The sites' own answers in FLARE's replies (``console.backends.nvflare_sites``): shown per site, and a site's
refusal an AuthorizationError naming the site and FLARE's reason (as fl_admin.sh shows them).

The replies are FLARE 2.9's as its server builds them (``process_replies_to_table``,
``_process_replies_to_string``, training_cmds.shutdown); the Session below stands in for FLARE's only in
how it raises on a reply whose meta status is not ok (``flare_api.Session._do_command``)."""

from __future__ import annotations

from typing import Any

import pytest

from console.api import errors
from console.backends.nvflare_commands import COMMANDS
from console.backends.nvflare_errors import flare_text, reworded
from console.backends.nvflare_sites import no_answer, refuse_if_refused, site_answers
from console.worded import engine_answer, for_people

REFUSAL = "user 'member@orgb.com' is not authorized for 'shutdown'"


def _table(*rows: list[str]) -> dict[str, Any]:
    return {"type": "table", "rows": [["Client", "Response"], *rows]}


class Api:
    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.sent: list[str] = []

    def do_command(self, command: str, props: Any = None) -> dict[str, Any]:
        self.sent.append(command)
        return self.reply


class FlareInternalError(Exception):
    """Named as FLARE's (nvflare.fuel.flare_api.api_spec.InternalError)."""


FlareInternalError.__name__ = "InternalError"


class Session:
    """FLARE's Session in what these commands use: ``api.do_command``, and ``InternalError(f"{status}: {info}")`` for
    a meta status it has no exception for."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.api = Api(reply)

    def _run(self, command: str) -> dict[str, Any]:
        meta = self.api.do_command(command)["meta"]
        if meta.get("status", "ok") != "ok":
            raise FlareInternalError(f"{meta['status']}: {meta.get('info', '')}")
        return meta

    def shutdown(self, target_type: str, names: Any, wait: bool) -> dict[str, Any]:
        return self._run(f"shutdown {target_type}")

    def restart(self, target_type: str, names: Any, wait: bool) -> dict[str, Any]:
        return self._run(f"restart {target_type}")

    def report_version(self, target_type: str, names: Any) -> dict[str, Any]:
        self.api.do_command("report_version")
        return {"site-a": {"version": "2.9.0"}, "site-b": REFUSAL.replace("shutdown", "report_version")}


def test_a_site_shut_down_shows_its_own_answer_as_fl_admin_shows_it() -> None:
    session = Session({"status": "SUCCESS", "meta": {"status": "ok"},
                       "data": [_table(["site-c", "Shutdown the client..."]), {"type": "success", "data": ""}]})
    answer = COMMANDS["shutdown"](session, {"target_type": "client", "targets": ["site-c"]})
    assert answer == {"client_status": {"site-c": "Shutdown the client..."}}
    assert "do_command" not in vars(session.api), "FLARE's own method is back once the command ran"


def test_a_site_refusing_a_shutdown_is_an_authorization_error_naming_it_and_the_reason() -> None:
    session = Session({"status": "SUCCESS", "meta": {"status": "error", "info": "failed to shut down all clients"},
                       "data": [_table(["site-b", REFUSAL])]})
    with pytest.raises(errors.AuthorizationError) as refused:
        COMMANDS["shutdown"](session, {"target_type": "client", "targets": ["site-b"]})
    said = str(reworded(refused.value, "shutdown", "localhost:8002"))
    assert said == (f"shutdown was refused by the site (site-b: {REFUSAL}); each site decides by its own "
                    "authorization policy: ask its admin"), said
    assert "do_command" not in vars(session.api)


def test_another_failure_of_a_site_keeps_flares_error_with_what_each_site_said() -> None:
    session = Session({"status": "SUCCESS", "meta": {"status": "error", "info": "failed to shut down all clients"},
                       "data": [_table(["site-a", "Shutdown the client..."], ["site-b", ""])]})
    with pytest.raises(errors.InternalError) as failed:
        COMMANDS["shutdown"](session, {"target_type": "client"})
    assert str(failed.value) == ("error: failed to shut down all clients "
                                 "(site-a: Shutdown the client...; site-b: (no answer))")


def test_restart_shows_each_sites_answer_and_a_refusal_among_them() -> None:
    lines = "client:site-a : restarting\nclient:site-b : restarting\n"
    ok = Session({"status": "SUCCESS", "meta": {"status": "ok", "client_status": {"site-a": "restarting"}},
                  "data": [{"type": "string", "data": lines}]})
    assert COMMANDS["restart"](ok, {"target_type": "client"}) == {
        "client_status": {"site-a": "restarting", "site-b": "restarting"}}
    refused = Session({"status": "SUCCESS", "meta": {"status": "ok"},
                       "data": [{"type": "string", "data": "client:site-b : not authorized\n"}]})
    with pytest.raises(errors.AuthorizationError, match=r"restart was refused by the site \(site-b: not authorized\)"):
        COMMANDS["restart"](refused, {"target_type": "client"})


def test_a_refusal_in_a_per_site_answer_of_any_target_command_is_raised() -> None:
    with pytest.raises(errors.AuthorizationError, match=r"report_version was refused by the site \(site-b: user"):
        COMMANDS["report_version"](Session({}), {"target_type": "client"})


def test_site_answers_reads_every_shape_flare_uses_and_nothing_else() -> None:
    assert site_answers({"data": [{"type": "table", "rows": [["job_id", "app name"], ["x", "y"]]}]}) == {}
    assert site_answers({"meta": {"client_status": {"site-2": "no_reply"}}}) == {"site-2": "no_reply"}
    assert site_answers(None) == {}


def test_a_site_that_gave_no_stats_keeps_flares_answer_and_the_table_says_why() -> None:
    class Stats:
        def show_stats(self, job_id: str, target_type: str, names: Any) -> dict[str, Any]:
            return {"site-a": {"ClientRunner": {"round": 2}}, "site-b": {}, "site-c": {}}

        def check_status(self, target_type: str) -> dict[str, Any]:
            return {"status": "ok", "clients": [{"client_name": "site-a"}, {"client_name": "site-c"}]}

    answer = COMMANDS["show_stats"](Stats(), {"job_id": "x", "target_type": "client"})
    assert answer == {"site-a": {"ClientRunner": {"round": 2}}, "site-b": {}, "site-c": {}}  # JSON, raw, the API
    shown = for_people(answer)
    assert shown["site-a"] == {"ClientRunner": {"round": 2}}
    assert shown["site-b"].startswith("no stats: the site is not connected to the server (stopped or killed?)")
    assert shown["site-c"].startswith("no stats: the site is connected but gave none (it does not run this job")
    # The server's own empty answer (a job starting or ending) is not a site's: no word of connections.
    class ServerStats(Stats):
        def show_stats(self, job_id: str, target_type: str, names: Any) -> dict[str, Any]:
            return {"server": {}}

    answer = COMMANDS["show_stats"](ServerStats(), {"job_id": "x", "target_type": "server"})
    assert answer == {"server": {}}
    assert for_people(answer) == {
        "server": "no stats: the server's part of this job gave none (it is starting or ending, or no longer runs); "
                  "list_jobs shows the job's status"}
    # target_type all (FLARE 2.9's _collect_stats): the server's part and each site's, each said as what it is.
    class AllStats(Stats):
        def show_stats(self, job_id: str, target_type: str, names: Any) -> dict[str, Any]:
            assert target_type == "all" and not names
            return {"server": {}, "site-a": {"ClientRunner": {"round": 2}}, "site-b": {}}

    shown = for_people(COMMANDS["show_stats"](AllStats(), {"job_id": "x", "target_type": "all", "targets": None}))
    assert shown["server"].startswith("no stats: the server's part of this job gave none")
    assert shown["site-a"] == {"ClientRunner": {"round": 2}}
    assert shown["site-b"].startswith("no stats: the site is not connected to the server")


@pytest.mark.parametrize("given", [None, {}])
def test_no_errors_keeps_flares_empty_answer_and_only_the_table_says_no_errors(given: Any) -> None:
    class Errors:
        def show_errors(self, job_id: str, target_type: str, names: Any) -> Any:
            return given

    answer = COMMANDS["show_errors"](Errors(), {"job_id": "x", "target_type": "client"})
    assert engine_answer(answer) == given and for_people(answer) == "no errors"


def test_flares_actions_that_answer_nothing_keep_it_and_set_timeout_answers_as_our_server() -> None:
    class Quiet:
        def __getattr__(self, name: str) -> Any:
            return lambda *args, **kwargs: None

    for name, args, words in [("abort_job", {"job_id": "x"}, "abort requested for x"),
                              ("reset_errors", {"job_id": "x"}, "errors of x reset"),
                              ("remove_client", {"site": "site-a"}, "removed site-a: its connection is released"),
                              ("disable_client", {"site": "site-a"}, "disabled site-a"),
                              ("enable_client", {"site": "site-a"}, "enabled site-a")]:
        answer = COMMANDS[name](Quiet(), args)
        assert engine_answer(answer) is None and for_people(answer).startswith(words), name
    class Components:
        def download_job_components(self, job_id: str) -> str:
            return "/kit/transfer/x"

    location = COMMANDS["download_job_components"](Components(), {"job_id": "x"})
    assert engine_answer(location) == "/kit/transfer/x" and for_people(location) == "Downloaded to /kit/transfer/x"
    assert COMMANDS["set_timeout"](Quiet(), {"value": 30.0}) == {"command_timeout": 30.0}
    assert COMMANDS["unset_timeout"](Quiet(), {}) == {"command_timeout": None}


def test_a_refusal_sys_info_tables_as_a_row_of_its_own_is_raised() -> None:
    with pytest.raises(errors.AuthorizationError, match=r"sys_info was refused by the site \(site-a: user"):
        refuse_if_refused({"site-a": {"user 'member@orgb.com' is not authorized for 'sys_info'": ""}}, "sys_info")


def test_sys_info_of_a_site_that_did_not_answer_says_so_instead_of_an_empty_table() -> None:
    """flare10 item 15: ``sys_info client`` printed ``site-b1  {}`` for a dead site. FLARE 2.9's sys_cmd writes
    its heading, an empty table and ": No replies"; it reads as our server's per-site error."""
    from console.backends.nvflare_commands import _tables

    reply = {"data": [{"type": "string", "data": "Client: site-a1"},
                      {"type": "table", "rows": [["Metrics", "Value"], ["percent", "43.1"]]},
                      {"type": "string", "data": "Client: site-b1"},
                      {"type": "table", "rows": [["Metrics", "Value"]]},
                      {"type": "string", "data": ": No replies"},
                      {"type": "string", "data": "Client: site-b2"},
                      {"type": "table", "rows": [["Metrics", "Value"]]},
                      {"type": "string", "data": ": Bad replies"}]}
    assert _tables(reply) == {"site-a1": {"percent": "43.1"},
                              "site-b1": {"error": "site-b1 did not answer (is it running? check_status client site-b1 asks it alone)"},
                              "site-b2": {"error": "site-b2 answered what FLARE's server could not read"}}


class FlareAuthorizationError(Exception):
    """Named as FLARE's (nvflare.fuel.flare_api.api_spec.AuthorizationError)."""


FlareAuthorizationError.__name__ = "AuthorizationError"


class FileSession:
    """FLARE 2.9's Session in how its file commands (``_shell_command_on_target``) turn a raw reply into a result or
    an error: a meta status first (``_do_command``), then the admin API's reading of the text, which takes any reply
    holding "not authorized" for a refusal (``fuel/hci/client/api.py`` ``_check_status``)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.api = Api(reply)

    def _shell(self, command: str) -> str:
        reply = self.api.do_command(command)
        meta = reply.get("meta") or {}
        if meta.get("status") == "internal_error":
            raise FlareInternalError(f"server internal error: {meta.get('info', '')}")
        if meta.get("status") == "not_authorized":
            raise FlareAuthorizationError(f"user not authorized for the action '{command}: {meta.get('info', '')}'")
        text = "".join(i["data"] for i in reply["data"] if i.get("type") == "string")
        if "not authorized" in text:
            raise FlareAuthorizationError(f"user not authorized for the action '{command}'")
        return text

    def ls_target(self, target: str, options: Any, path: Any) -> str:
        return self._shell(f"ls {target}")

    def tail_target(self, target: str, options: Any, file: Any) -> str:
        return self._shell(f"tail {target} {file}")

    def get_working_directory(self, target: str) -> str:
        return self._shell(f"pwd {target}")


def _string(text: str) -> dict[str, Any]:
    return {"status": "SUCCESS", "data": [{"type": "string", "data": text}]}


@pytest.mark.parametrize(("command", "args"), [("ls", {}), ("tail", {"file": "log.txt"}), ("pwd", {})])
def test_a_file_command_a_site_refused_is_the_sites_refusal_not_the_servers_role(command: str,
                                                                                 args: dict[str, Any]) -> None:
    """Report 10 #13: a lead of another org's ls/tail/pwd on a site: the site refused (FLARE's server lets the site
    decide), worded as sys_info's site refusal is; the server's own refusal keeps the role wording."""
    said = f"user 'lead@hospb.com' is not authorized for '{command}'"
    with pytest.raises(errors.AuthorizationError) as refused:
        COMMANDS[command](FileSession(_string(said)), {"target": "site-a1", **args})
    worded = str(reworded(refused.value, command, "localhost:8002"))
    assert worded == (f"{command} was refused by the site (site-a1: {said}); each site decides by its own "
                      "authorization policy: ask its admin"), worded
    server = FileSession({"status": "SUCCESS", "data": [{"type": "error", "data": "Authorization Error: x"}],
                          "meta": {"status": "not_authorized", "info": said}})
    with pytest.raises(Exception) as by_role:  # noqa: PT011  (FLARE's class, named as ours)
        COMMANDS[command](server, {"target": "server", **args})
    assert "this admin's role on the FLARE server does not allow it" in str(
        reworded(errors.AuthorizationError(str(by_role.value)), command, "localhost:8002"))


def test_a_file_holding_not_authorized_is_its_text_not_a_refusal() -> None:
    """FLARE's admin API takes any reply holding "not authorized" for a refusal: a log line saying it is shown."""
    log = "2026-11-30 03:41:57 INFO user 'x' is not authorized for 'ls'\n2026-11-30 03:41:58 INFO done\n"
    for target in ("server", "site-a1"):
        assert COMMANDS["tail"](FileSession(_string(log)), {"target": target, "file": "log.txt"}) == log


def test_a_file_command_on_a_site_that_does_not_answer_says_so_and_names_it() -> None:
    """FLARE 2.9's shell_cmd: "no reply from client - timed out", meta INTERNAL_ERROR "client timeout" (report 10 #7:
    it was "the FLARE server could not run ls ... its log may say why")."""
    silent = FileSession({"status": "SUCCESS", "data": [{"type": "error", "data": "no reply from client - timed out"}],
                          "meta": {"status": "internal_error", "info": "client timeout"}})
    with pytest.raises(errors.NoReply) as failed:
        COMMANDS["ls"](silent, {"target": "site-b1"})
    assert str(reworded(failed.value, "ls", "localhost:8002")) == (
        "ls: site-b1 did not answer FLARE's server in time; is it running? check_status client site-b1 asks it alone")
    several = str(no_answer("cat", ["site-a1", "site-b1"]))
    assert several.endswith("check_status client SITE asks one site alone (a site that does not answer holds up a "
                            "command to all)"), several


@pytest.mark.parametrize(("flare", "command", "kind", "ours"), [
    # job_cmds.do_app_command: the app has no handler for the topic (meta status "error").
    (FlareInternalError("error: rc='BAD_REQUEST_DATA' reason='no app command func for topic hello'"), "app_command",
     errors.InvalidArgumentError, "app_command: the job's app has no command 'hello' (BAD_REQUEST_DATA)"),
    (FlareInternalError("error: rc='EXECUTION_EXCEPTION' reason='None'"), "app_command", errors.CommandError,
     "app_command: the job's app could not run the command: EXECUTION_EXCEPTION; get_job_logs JOB shows"),
    (errors.NoReply("no result"), "app_command", errors.NoReply, "app_command: the job's app gave no answer in time"),
    # Its argument checks (SYNTAX_ERROR), said by flare_api as "syntax error: INFO".
    (FlareInternalError("syntax error: missing site names"), "report_env", errors.InvalidArgumentError,
     "report_env: FLARE's server refused the command's arguments (missing site names); help report_env shows them"),
    # configure_job_log (job_cmds): a line per site that gave no reply.
    (FlareInternalError("error: site-b1: no reply\nsite-c9: no reply"), "configure_job_log", errors.NoReply,
     "configure_job_log: site-b1, site-c9 did not answer FLARE's server in time; is each running?"),
    (FlareInternalError("server internal error: client timeout"), "cat", errors.NoReply,
     "cat: a site did not answer FLARE's server in time"),
    (FlareInternalError("server internal error: Job 4f0c is not running."), "abort_job", errors.JobNotRunning,
     "abort_job: job 4f0c is not running (it has ended, or FLARE's server has not started it); list_jobs shows"),
    # A real internal error stays one, pointing at the server's log.
    (FlareInternalError("server internal error: exception <class 'KeyError'>"), "clone_job", errors.InternalError,
     "the FLARE server could not run clone_job (FLARE: exception <class 'KeyError'>); its log may say why"),
])
def test_flares_answers_for_a_users_error_or_an_absent_peer_are_worded_as_what_they_are(
        flare: Exception, command: str, kind: type[Exception], ours: str) -> None:
    # As the worker's translate gives it (FLARE's class as ours, FLARE's text out of flare_api's wrapping).
    translated = errors.InternalError(flare_text(flare)) if type(flare).__name__ == "InternalError" else flare
    said = reworded(translated, command, "localhost:8002")
    assert type(said) is kind and str(said).startswith(ours), str(said)


def test_downloading_the_components_of_a_job_that_has_none_is_an_answer_not_an_error() -> None:
    """FLARE 2.9 answers NO_JOB_COMPONENTS ("No components to download"; fl_admin prints it), which its flare_api
    raises as an internal error."""
    class NoComponents:
        def download_job_components(self, job_id: str) -> str:
            raise FlareInternalError("no_job_components: No components to download")

    answer = COMMANDS["download_job_components"](NoComponents(), {"job_id": "e9"})
    assert engine_answer(answer) is None
    assert for_people(answer) == "job e9 has no components to download (list_job_components lists them)"


def test_flares_no_such_job_for_a_job_it_lists_running_is_said_as_a_job_starting() -> None:
    """FLARE 2.9 answers show_stats/show_errors/reset_errors of a job in its first seconds of RUNNING with "no such
    job" (its server part has no run info yet: seen on the live POC); a job it does not list stays not found."""
    class Starting:
        status = "RUNNING"

        def show_stats(self, job_id: str, target_type: str, names: Any) -> dict[str, Any]:
            raise errors.JobNotFound(f"no such job: {job_id}")

        show_errors = show_stats

        def reset_errors(self, job_id: str) -> None:
            raise errors.JobNotFound(f"no such job: {job_id}")

        def get_job_meta(self, job_id: str) -> dict[str, Any]:
            if self.status is None:
                raise errors.JobNotFound(f"no such job: {job_id}")
            return {"job_id": job_id, "status": self.status}

    session = Starting()
    for name in ("show_stats", "show_errors", "reset_errors"):
        with pytest.raises(errors.JobNotFound, match="is RUNNING, but FLARE's server has not started its part"):
            COMMANDS[name](session, {"job_id": "x", "target_type": "all", "targets": None})
    for session.status in ("SUBMITTED", None):
        with pytest.raises(errors.JobNotFound, match=r"\Ano such job: x\Z"):
            COMMANDS["show_stats"](session, {"job_id": "x", "target_type": "server"})


def test_a_log_flares_store_reads_as_log_txt_is_read_from_each_workspace() -> None:
    """FLARE 2.9's get_job_log reads any name but log.txt and log.json as log.txt: error_log.txt (where an ended
    job's errors are, as show_errors then says) gave the server's log.txt. Each target's own file instead."""
    job = "7e4d71d6-14e9-4abe-86f7-9d2d31dec2d4"

    class Flare:
        def get_job_logs(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("FLARE's store would answer log.txt")

        def get_job_meta(self, job_id: str) -> dict[str, Any]:
            return {"job_id": job_id, "deploy_map": {"app": ["server", "site-a", "site-b"]}}

        def tail_target(self, target: str, options: str, path: str) -> str:
            assert path == f"{job}/error_log.txt"
            if target == "server":
                return f"tail: cannot open '{path}' for reading: No such file or directory"
            return f"{target}: ERROR boom\n" if target == "site-a" else ""

    answer = COMMANDS["get_job_logs"](Flare(), {"job_id": job, "target": "all", "log_file_name": "error_log.txt"})
    assert answer["logs"] == {"site-a": "site-a: ERROR boom\n", "site-b": ""}
    assert f"keeps an ended job's workspace in its job store only (download_job {job} has it)" in \
        answer["unavailable"]["server"]
    one = COMMANDS["get_job_logs"](Flare(), {"job_id": job, "target": "site-a", "log_file_name": "error_log.txt"})
    assert one == {"logs": {"site-a": "site-a: ERROR boom\n"}}
