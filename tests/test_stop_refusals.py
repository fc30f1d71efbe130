"""The refusals said before "are you sure?" (shutdown, restart, remove_client) read the same on both engines:
the twelfth user's item 5 ("restart refused: 1 job(s) running (ID); abort them or wait until they end" on
ours, "restart was refused: job ID (name) is still running; let it finish or abort it first" on FLARE).
Our server's side is seen in a real console in test_shell_console; FLARE's here, with a stand-in of its
Session as the checks read it (FLARE's own run: tests/test_nvflare_backend.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from console.api import errors
from console.backends import nvflare_shutdown
from console.backends.nvflare_commands import COMMANDS, refuse_remove_client
from console.backends.nvflare_errors import reworded
from console.stop_refusals import jobs_still_running, no_site_connected, sites_not_connected

JOB = "0f24c025-0000-4000-8000-000000000001"


class FlareSession:
    """FLARE 2.9's Session as the checks before the question call it: check_status server's meta (its
    engine's jobs, its connected sites) and list_jobs' rows."""

    def __init__(self, jobs: list[tuple[str, str]], sites: list[str]) -> None:
        self.jobs, self.sites, self.removed = jobs, sites, []
        self.started = time.time() - 100

    def check_status(self, target_type: str, targets: Any = None) -> dict[str, Any]:
        return {"status": "SUCCESS", "server_engine_status": "started", "server_start_time": self.started,
                "jobs": [{"job_id": job, "app_name": "app"} for job, _ in self.jobs],
                "clients": [{"client_name": site, "client_last_connect_time": time.time()} for site in self.sites]}

    def list_jobs(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"job_id": job, "job_name": name, "status": "RUNNING", "submit_time": self.started + 10}
                for job, name in self.jobs]

    def remove_client(self, site: str) -> None:
        self.removed.append(site)


def test_the_wording_names_what_holds_the_command_up_and_what_to_do() -> None:
    assert jobs_still_running("restart", [(JOB, "hello")]) == (
        f"restart was refused: job {JOB} (hello) is still running; let it finish or abort it first (abort_job {JOB})")
    # Jobs the user may not view: that some run, never which nor how many (security finding 6).
    assert jobs_still_running("shutdown", [(JOB, "hello")], hidden=True) == (
        f"shutdown was refused: jobs are still running ({JOB} (hello), job(s) outside your view); let them finish "
        "or abort them first (abort_job JOB)")
    assert jobs_still_running("restart", [], hidden=True) == (
        "restart was refused: jobs are still running (job(s) outside your view); let them finish or abort them "
        "first (abort_job JOB)")
    assert sites_not_connected("remove_client", ["site-9"], ["site-1", "site-2"]) == (
        "remove_client was refused: site site-9 is not connected; connected sites: site-1, site-2 (check_status "
        "server lists them)")
    assert sites_not_connected("restart", ["a", "b"], []).startswith("restart was refused: sites a, b are not "
                                                                     "connected; connected sites: none")


@pytest.mark.parametrize("command", ["restart", "shutdown"])
def test_flare_s_refusal_for_running_jobs_reads_as_ours(command: str) -> None:
    with pytest.raises(errors.JobNotDone) as refused:
        nvflare_shutdown.refuse_before_asking(FlareSession([(JOB, "hello")], ["site-1"]),
                                              {"command": command, "target_type": "all"})
    said = str(reworded(refused.value, command, "localhost:8002"))
    assert said == jobs_still_running(command, [(JOB, "hello")])


@pytest.mark.parametrize("command", ["restart", "shutdown"])
def test_flare_s_refusal_for_sites_not_connected_reads_as_ours(command: str) -> None:
    session = FlareSession([], ["site-1", "site-2"])
    with pytest.raises(errors.InvalidTarget) as refused:
        nvflare_shutdown.refuse_before_asking(session, {"command": command, "target_type": "client",
                                                        "targets": ["site-2", "site-9"]})
    said = str(reworded(refused.value, command, "localhost:8002"))
    assert said == sites_not_connected(command, ["site-9"], ["site-1", "site-2"])
    nvflare_shutdown.refuse_before_asking(session, {"command": command, "target_type": "client",
                                                    "targets": ["site-2"]})  # connected: no refusal


@pytest.mark.parametrize("command", ["restart", "shutdown"])
def test_every_connected_site_with_none_connected_is_refused_before_the_question_on_flare_as_on_ours(
        command: str) -> None:
    """Session 12's terminal user: "restart every connected site: are you sure?" with no site there. Ours
    refuses it in the check made before the question (tests/test_flare_semantics.py); FLARE's the same."""
    assert no_site_connected(command) == (f"{command} client was refused: no site is connected, so there is none "
                                          f"to {command} (check_status server lists the connected sites)")
    with pytest.raises(errors.NoClientsAvailable) as refused:
        nvflare_shutdown.refuse_before_asking(FlareSession([], []), {"command": command, "target_type": "client"})
    assert str(reworded(refused.value, command, "localhost:8002")) == no_site_connected(command)
    nvflare_shutdown.refuse_before_asking(FlareSession([], ["site-1"]), {"command": command, "target_type": "client"})


def test_flare_s_remove_client_of_a_site_not_connected_reads_as_ours_before_and_without_the_question() -> None:
    session = FlareSession([], ["site-1"])
    for refuse in (lambda: refuse_remove_client(session, {"site": "site-9"}),
                   lambda: COMMANDS["remove_client"](session, {"site": "site-9"})):  # --yes: no question asked
        with pytest.raises(errors.InvalidTarget) as refused:
            refuse()
        said = str(reworded(refused.value, "remove_client", "localhost:8002"))
        assert said == sites_not_connected("remove_client", ["site-9"], ["site-1"])
    assert session.removed == []
    COMMANDS["remove_client"](session, {"site": "site-1"})
    assert session.removed == ["site-1"]
