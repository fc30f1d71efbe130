"""How a site's link ended, as the server reads it (console.wire.goodbye), and what a running job makes
of that (console.server.dropped_sites.how_gone): wait for the site, or count it lost at once.

The real site (``Site._serve``) and the server's real link to it (``Requester``), over TLS on loopback
with the project's own kits, in one process: each way a link ends is forced, not timed. A mixed restart
is covered both ways: a server whose login lists no ``bye`` (an older one) gets none, and a site whose
hello lists none (an older one) gets the grace however its link ends, as before. The end-to-end cases,
with real processes killed, shut down and frozen, are test_site_gone.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from console.server import site_answers
from console.server.dropped_sites import Departure, Gone, how_gone
from console.server.sites import ConnectedSite
from console.site import app
from console.wire.goodbye import BYE, Bye, LinkEnd, read_bye
from console.wire.kit import ServerKit, SiteKit
from console.wire.requesting import Requester
from console.wire.tls import server_context

from conftest import make_project

pytestmark = pytest.mark.timeout(60)

Ending = Callable[[app.Site, asyncio.StreamWriter, Requester], Awaitable[None]]


async def _stop(site: app.Site, writer: asyncio.StreamWriter, link: Requester) -> None:
    site.request_stop()


async def _restart(site: app.Site, writer: asyncio.StreamWriter, link: Requester) -> None:
    site.request_stop(restart=True)


async def _silence(site: app.Site, writer: asyncio.StreamWriter, link: Requester) -> None:
    """The server says nothing past the site's silence limit (shortened here): the site gives up on it."""


async def _killed(site: app.Site, writer: asyncio.StreamWriter, link: Requester) -> None:
    """What the kernel does for a process that died: its socket closed, with no word of the process's."""
    writer.transport.abort()


async def _dropped_here(site: app.Site, writer: asyncio.StreamWriter, link: Requester) -> None:
    """The server drops the link itself (a missed heartbeat)."""
    await link.close()


async def _ended_link(project_dir: Path, ending: Ending, server_reads_bye: bool = True,
                      older_site: bool = False) -> Requester:
    """Site-1 served over a fresh link, logged in; ``ending`` ends it; the server's link, once its reading
    ended. ``server_reads_bye``: the login lists ``bye`` (else: an older server's login);
    ``older_site``: its hello is taken without ``bye`` (an older site's)."""
    site = app.Site(SiteKit.load(project_dir / "site-1"))
    server_kit = ServerKit.load(project_dir / "server")
    accepted: asyncio.Queue[Requester] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Requester(peer="site-1")
        link.attach(reader, writer)
        await accepted.put(link)

    tls = server_context(server_kit.tls.cert, server_kit.tls.key, server_kit.tls.ca)
    listener = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    serving = None
    link = None
    try:
        port = listener.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=site._ssl,
                                                       server_hostname=site.kit.server_identity)
        serving = asyncio.create_task(site._serve(reader, writer))
        link = await asyncio.wait_for(accepted.get(), 10)
        args = {"username": server_kit.identity, **({"features": [BYE]} if server_reads_bye else {})}
        hello = site_answers.login(await link.request("login", args, timeout=10))
        assert BYE in hello["features"]  # this version's site lists it
        link.peer_features = hello["features"] - {BYE} if older_site else hello["features"]
        await ending(site, writer, link)
        await asyncio.wait_for(serving, 10)  # the site's side of the link is over
        assert link._read_task is not None
        await asyncio.wait_for(asyncio.shield(link._read_task), 10)
        assert link.ended is not None and not link.connected
        return link
    finally:
        if serving is not None and not serving.done():
            serving.cancel()
        if link is not None:
            await link.close()
        listener.close()
        await site.shutdown()


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("link-ends"))
    return project.server_kit.parent


@pytest.mark.parametrize("ending, said, ended, departure", [
    (_stop, "shutting_down", LinkEnd.SAID_BYE, Departure.LEFT),
    (_restart, "restarting", LinkEnd.SAID_BYE, Departure.LEFT),
    (_silence, "reconnecting", LinkEnd.SAID_BYE, Departure.MAY_RETURN),
    (_killed, None, LinkEnd.PEER_CLOSED, Departure.DIED),
    (_dropped_here, None, LinkEnd.DROPPED_HERE, Departure.MAY_RETURN),
], ids=["shut-down", "restarted", "gave-up-on-a-silent-server", "process-died", "dropped-by-the-server"])
def test_how_a_link_ends_decides_whether_a_job_waits_for_its_site(project_dir: Path, monkeypatch, ending: Ending,
                                                                   said: str | None, ended: LinkEnd,
                                                                   departure: Departure) -> None:
    monkeypatch.setattr(app, "SILENCE_LIMIT_SECONDS", 0.4)
    link = asyncio.run(_ended_link(project_dir, ending))
    assert (link.bye.reason if link.bye else None, link.ended) == (said, ended)
    gone = how_gone("site-1", ConnectedSite("site-1", "example", link))
    assert gone.departure is departure, gone
    if departure is Departure.DIED:
        assert gone.words.startswith("its site process ended without a word"), gone.words
    if said in ("shutting_down", "restarting"):
        did = "shut down" if said == "shutting_down" else "restarted"
        assert gone.words.startswith(f"it {did}, and its part of the job ended with it (it said: site-1 is "), gone.words
    for how in ("removed by an admin (remove_client)", "disabled by an admin (disable_client)"):  # never waited for
        removed = ConnectedSite("site-1", "example", link, removed=True, removed_as=how)
        assert how_gone("site-1", removed) == Gone(Departure.LEFT, f"site site-1 was {how}")
    assert how_gone("site-1", None).departure is Departure.MAY_RETURN  # no link since this start


@pytest.mark.parametrize("ending", [_stop, _killed], ids=["shut-down", "process-died"])
def test_an_older_site_that_says_no_bye_keeps_the_grace(project_dir: Path, ending: Ending) -> None:
    """Its hello lists no ``bye`` and it says none (played by this site, told by its login that the server
    reads none): however its link ends, a job waits for it, as before."""
    link = asyncio.run(_ended_link(project_dir, ending, server_reads_bye=False, older_site=True))
    assert link.bye is None
    assert how_gone("site-1", ConnectedSite("site-1", "example", link)).departure is Departure.MAY_RETURN


def test_a_site_says_no_bye_to_an_older_server(project_dir: Path) -> None:
    """An older server's login lists no ``bye``: the site sends none (that server would take the unknown
    frame kind for a broken answer); its link just closes."""
    link = asyncio.run(_ended_link(project_dir, _stop, server_reads_bye=False))
    assert link.bye is None and link.ended is LinkEnd.PEER_CLOSED


def test_a_bye_is_read_whatever_a_peer_puts_in_it() -> None:
    """A newer site's unknown reason keeps the grace; fields that are no strings are no word; long ones are cut."""
    assert read_bye({"k": "bye", "reason": "moving_house", "message": "x" * 5000}) == Bye("moving_house", "x" * 1000)
    assert read_bye({"k": "bye", "reason": "moving_house"}).returns_with_its_jobs
    assert read_bye({"k": "bye", "reason": ["shutting_down"], "message": {"a": 1}}) == Bye("", "")
    assert read_bye({"k": "bye", "reason": "\x1b[2J", "message": "gone\x1b[31m\n"}) == Bye("\\x1b[2J", "gone\\x1b[31m\\n")
    assert not read_bye({"k": "bye", "reason": "shutting_down"}).returns_with_its_jobs


def test_sites_dropped_for_not_answering_are_no_reply_for_as_long_as_flare_lists_a_silent_client() -> None:
    """Session 12's user, item 2: a frozen site our server dropped for a missed heartbeat may come back, so it is
    "no reply" (check_status, top), not gone: for ``NOT_ANSWERING_LISTED_SECONDS`` after its last heartbeat, as
    FLARE lists a silent client; one an admin removed, or whose link ended otherwise, is not among them."""
    from console.server.dropped_sites import NOT_ANSWERING_LISTED_SECONDS, not_answering

    now = 1_000_000.0

    def away(name: str, *, silent: bool = True, removed: bool = False, beat: float = 5.0) -> ConnectedSite:
        site = ConnectedSite(name, "example", Requester(peer=name), last_heartbeat=now - beat)
        site.stopped_answering, site.removed = silent, removed
        return site

    departed = [away("site-10"), away("site-2"), away("site-3", silent=False), away("site-4", removed=True),
                away("site-5", beat=NOT_ANSWERING_LISTED_SECONDS + 1), away("site-6", beat=NOT_ANSWERING_LISTED_SECONDS)]
    assert [site.name for site in not_answering(departed, now)] == ["site-2", "site-6", "site-10"]
