"""A FLARE command on a frozen site times out as a lost server would (FLARE 2.9's NoConnection "cannot connect to
server: ERROR_SERVER_CONNECTION" after its 5 s): when the server answers a quick check, the site is named as silent
and the connection is not said lost (``console.backends.nvflare_site_timeout``)."""

from __future__ import annotations

import asyncio

import pytest

from console.api import errors
from console.backends.nvflare_site_timeout import server_answers, site_silence, sites_asked, worth_asking

#: FLARE 2.9's flare_api ``_do_command`` on ERROR_SERVER_CONNECTION (``server_execute``: "Server did not respond"),
#: as ``nvflare_errors.translate`` hands it on.
TIMED_OUT = errors.NoConnection("cannot connect to server: ERROR_SERVER_CONNECTION")


def test_a_file_command_on_a_silent_site_names_the_site_when_the_server_answers() -> None:
    said = site_silence(TIMED_OUT, "cat", {"target": "site-2", "file": "log.txt"}, server_answers=True)
    assert type(said) is errors.NoReply
    assert str(said).startswith("cat: site-2 did not answer FLARE's server in time; is it running?"), said
    assert "connection" not in str(said)


@pytest.mark.parametrize(("args", "sites"), [
    ({"target_type": "client", "targets": ["site-1", "site-2"]}, "site-1, site-2"),
    ({"target_type": "client"}, "a site"),
    ({"target_type": "all"}, "a site"),
    ({"job_id": "j", "target_type": "client", "targets": ["site-2"]}, "site-2"),
])
def test_a_target_command_to_sites_names_those_it_asked(args: dict, sites: str) -> None:
    said = site_silence(TIMED_OUT, "check_status", args, server_answers=True)
    assert isinstance(said, errors.NoReply) and f"check_status: {sites} did not answer" in str(said), said


@pytest.mark.parametrize("args", [{"target": "server", "file": "log.txt"}, {"target_type": "server"}, {}])
def test_a_command_to_the_server_alone_stays_a_lost_connection(args: dict) -> None:
    assert sites_asked(args) is None and not worth_asking(TIMED_OUT, args)
    assert site_silence(TIMED_OUT, "cat", args, server_answers=True) is None


def test_when_the_server_does_not_answer_either_it_is_a_lost_connection() -> None:
    assert worth_asking(TIMED_OUT, {"target": "site-2"})
    assert site_silence(TIMED_OUT, "cat", {"target": "site-2"}, server_answers=False) is None


@pytest.mark.parametrize("exc", [errors.SessionClosed("session closed"), errors.NoReply("client timeout"),
                                 errors.InternalError("x"), ConnectionError("reset")])
def test_other_failures_are_not_taken_for_a_silent_site(exc: Exception) -> None:
    assert not worth_asking(exc, {"target": "site-2"})
    assert site_silence(exc, "cat", {"target": "site-2"}, server_answers=True) is None


def test_the_check_counts_only_an_answer_in_time() -> None:
    async def answers() -> dict:
        return {"server_engine_status": "stopped"}

    async def lost() -> None:
        raise errors.NoConnection("cannot connect to server")

    async def silent() -> None:
        await asyncio.Event().wait()

    assert asyncio.run(server_answers(answers))
    assert not asyncio.run(server_answers(lost))
    assert not asyncio.run(server_answers(silent, timeout=0.05))
