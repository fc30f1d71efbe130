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
from console.backends.nvflare_errors import reworded
from console.backends.nvflare_sites import refuse_if_refused, site_answers

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


def test_a_site_that_gave_no_stats_says_so_and_why() -> None:
    class Stats:
        def show_stats(self, job_id: str, target_type: str, names: Any) -> dict[str, Any]:
            return {"site-a": {"ClientRunner": {"round": 2}}, "site-b": {}, "site-c": {}}

        def check_status(self, target_type: str) -> dict[str, Any]:
            return {"status": "ok", "clients": [{"client_name": "site-a"}, {"client_name": "site-c"}]}

    answer = COMMANDS["show_stats"](Stats(), {"job_id": "x", "target_type": "client"})
    assert answer["site-a"] == {"ClientRunner": {"round": 2}}
    assert answer["site-b"].startswith("no stats: the site is not connected to the server (stopped or killed?)")
    assert answer["site-c"].startswith("no stats: the site is connected but gave none (it does not run this job")


def test_a_refusal_sys_info_tables_as_a_row_of_its_own_is_raised() -> None:
    with pytest.raises(errors.AuthorizationError, match=r"sys_info was refused by the site \(site-a: user"):
        refuse_if_refused({"site-a": {"user 'member@orgb.com' is not authorized for 'sys_info'": ""}}, "sys_info")
