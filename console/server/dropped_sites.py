"""A running job's sites whose link dropped: whether the job waits for one to connect again, how long,
and the words job_errors give a site lost. Owns no links and no jobs: ``Deployment`` asks it.

How the link ended decides (``how_gone``; the wire's side is ``console.wire.goodbye``):

- **The site may come back** (waited for up to ``connection_limits.site_reconnect_grace_seconds``): it
  said ``bye`` with ``reconnecting`` (it gave up on a server silent past its silence limit: a server
  frozen longer than that, FLARE's job likewise outlives a server paused for half a minute; final user
  tester, session 10, item 1: ours ended ABNORMAL, "site-1 lost"); this server dropped the link itself
  (a missed heartbeat: the network went, or the site froze; a newer link of the site replaced it); or
  the site is of a version that never says why (no ``bye`` in its hello: as before, so a mixed restart
  changes nothing for it). Its client app keeps running meanwhile and hands over what it made.
- **The site process died** (not waited for): a site that says ``bye`` closed its link without one (an
  end of stream or a reset: the kernel closed the socket of a process killed, crashed or out of
  memory). Its client app dies with it (a closed stdin ends a job process), so nothing can come back:
  waiting the grace out only held the job a minute (session 10's note: "a killed site counted lost only
  after the 60 s grace").
- **The site left in order** (not waited for): it said ``bye`` with ``shutting_down`` or ``restarting``
  (it stops its jobs as it goes), or an admin removed or disabled it (``remove_client``, ``disable_client``).

The other places a job meets a dropped site, decided by the same question (can waiting bring its part
back?):

- **A task** (``Deployment._relay_one``): waited for as above, then asked again on the new link.
- **Deploy**: not waited for, whatever the end. A site away at deploy has no part of the job to come
  back to (a deploy on a lost link is undone there); it is named in job_errors and the job's
  ``min_clients``/``mandatory_clients`` decide at once whether it runs without it, before any task.
- **end_job/abort_job** (``stop_sites``): not waited for. A site that comes back while it still runs the
  job is told to stop it at its login (``SiteRegistry._abort_stale_jobs``: a job that ended, or went on
  without it), so nothing is left running; waiting would only hold the job's end.
- **Workspace collection**: not waited for: the job's end (its status, its download) is not held a
  minute for one site's workspace. A site away then, whatever the reason (dead, shut down, dropped),
  keeps its workspace on its disk; it is collected when the site connects again, as an abandoned
  job's is (``console.server.abandoned``), and job_errors say so both times.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from console.natural_order import natural_key
from console.wire.goodbye import BYE, ByeReason, LinkEnd

#: How often the job looks whether a dropped site is back.
RECONNECT_POLL_SECONDS = 0.25
#: Seconds after its last answered heartbeat a site dropped for not answering stays listed as such (then it is
#: gone): as FLARE 2.9's server keeps a silent client listed ("No Reply") for its heart_beat_timeout, 600 s.
NOT_ANSWERING_LISTED_SECONDS = 600.0


class LinkGone(Exception):
    """A site's link went (or it had none) while a task was asked of it: ``cause``, and the site's
    ``ConnectedSite`` it was asked on (None: it was not connected)."""

    def __init__(self, cause: BaseException, was: Any) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.was = was


class Departure(enum.Enum):
    """What a site's ended link says of the site (``how_gone``)."""

    MAY_RETURN = "may_return"  # waited for, up to the grace
    DIED = "died"  # its process ended without a word: lost at once
    LEFT = "left"  # it shut down or restarted in order, or an admin removed it: lost at once


@dataclass(frozen=True)
class Gone:
    """``departure``, and for a site lost at once the words job_errors give it (after ``lost: ``)."""

    departure: Departure
    words: str = ""


def how_gone(site: str, was: Any) -> Gone:
    """What the end of ``was`` (the site's last link, a ``ConnectedSite``; None: it had none since this
    server started) says of ``site``: the rule in this module's docstring."""
    if was is None:
        return Gone(Departure.MAY_RETURN)
    if was.removed:
        return Gone(Departure.LEFT, f"site {site} was {was.removed_as}")
    link = was.link
    if link.connected:  # (its request failed while the link still reads: not this module's case)
        return Gone(Departure.MAY_RETURN)
    bye = link.bye
    if link.ended is LinkEnd.SAID_BYE and bye is not None and not bye.returns_with_its_jobs:
        did = "restarted" if bye.reason == ByeReason.RESTARTING else "shut down"
        said = f" (it said: {bye.message})" if bye.message else ""
        return Gone(Departure.LEFT, f"it {did}, and its part of the job ended with it{said}")
    if link.ended is LinkEnd.PEER_CLOSED and BYE in link.peer_features:
        return Gone(Departure.DIED, "its site process ended without a word: its connection closed with no goodbye "
                                    "(the process was killed, crashed or ran out of memory), so its part of the job "
                                    "cannot come back and was not waited for")
    return Gone(Departure.MAY_RETURN)


async def back_in_grace(sites: Any, site: str, was: Any, grace: float, deadline: float,
                        waiting: Callable[[], bool]) -> bool:
    """Whether ``site`` is connected again on a link other than ``was``'s within ``grace`` seconds
    (``connection_limits.site_reconnect_grace_seconds``; 60 by default: the site's silence limit of 20 s,
    then at most 5 s between its tries) and before ``deadline`` (the event loop's clock), polled while ``waiting()`` (the job runs, the site
    is in it). A site an admin removed (``was.removed``) is not waited for."""
    loop = asyncio.get_running_loop()
    until = min(deadline, loop.time() + grace)
    while waiting() and loop.time() < until and not (was is not None and was.removed):
        connected = sites.get(site)
        if connected is not None and connected is not was and connected.link.connected:
            return True
        await asyncio.sleep(RECONNECT_POLL_SECONDS)
    return False


def not_answering(departed: Iterable[Any], now: float) -> list[Any]:
    """Of the sites away (``departed``: each one's last ``ConnectedSite``), those the server dropped because they
    stopped answering its heartbeat (``stopped_answering``: frozen, or their network went), that no admin removed
    since, and whose last heartbeat is at most ``NOT_ANSWERING_LISTED_SECONDS`` before ``now`` (epoch seconds), in
    natural order. Such a site may come back (``how_gone``: ``MAY_RETURN``), so ``check_status`` and ``top`` say
    "no reply" of it, not that it is gone, until it connects again; one whose process died, or that left in
    order, is gone (session 12's user, item 2: a frozen site was "gone" on ours, "no reply" on FLARE)."""
    away = [site for site in departed if site.stopped_answering and not site.removed
            and now - site.last_heartbeat <= NOT_ANSWERING_LISTED_SECONDS]
    return sorted(away, key=lambda site: natural_key(site.name))


def link_words(exc: BaseException) -> str:
    """A failure on a site's link in words: an OS error (``[Errno 32] Broken pipe``) as what it means
    for the link; our own errors, which say what happened already, as they are."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"its connection broke ({(exc.strerror or os.strerror(exc.errno)).lower()})"
    return str(exc) or type(exc).__name__


def lost_words(exc: BaseException, grace: float) -> str:
    """Why a site dropped out of a job, in words (``link_words``); for a link gone, how long it was waited for."""
    text = link_words(exc)
    if isinstance(exc, OSError):
        return (f"{text}, and it was not back in time (a dropped site gets up to {grace:g} s, within the task's "
                "timeout: connection_limits.site_reconnect_grace_seconds)")
    return text
