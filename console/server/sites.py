"""The site endpoint: sites connect on ``fed_learn_port`` with their own certificates.

The server refuses admin certificates here (they carry a role), logs in to the site over
the connection the site opened (the site serves, the server asks), checks that the name
the site gives is its certificate's CN, and keeps a heartbeat; a site that misses it, or
whose connection drops, is gone until it connects again; its last link is kept while it is away
(``last_link``: how that link ended tells a running job whether to wait for it, ``dropped_sites``).
One link per site: a new connection for a connected site is turned away while the current link
answers (security finding 5: two processes with one kit replaced each other ~4.6 times a second),
and let in when it does not.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from console.log_floods import per_peer
from console.provision.certs import CertIdentity, identity_from_peercert
from console.server import site_answers, site_claims
from console.server.dropped_sites import not_answering
from console.server.interfaces import SitesHost
from console.server.site_directory import SiteDirectory
from console.server.site_job_lists import load_site_jobs, save_site_jobs
from console.wire.admission import Admission
from console.wire.exceptions import NoAnswer
from console.wire.frames import SITE_BEFORE_LOGIN
from console.wire.gate import SiteLogin
from console.wire.goodbye import BYE, said_bye
from console.wire.requesting import Requester
from console.wire.tls import HandshakeFailureLog, peer_certificate_problem

log = logging.getLogger("console.server.sites")

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT = 10.0
#: Seconds a site's heartbeat may go unanswered, with nothing at all from the site meanwhile, before the site is
#: late (``ConnectedSite.late``): a live site answers within milliseconds, a loaded one well within this (half
#: the drop's limit: room for a loaded CI machine). A late site (frozen, or its network went) is not waited for
#: by admin commands that ask sites (``targets.ask_sites``, ``check_status client``): it is answered "no reply"
#: at once, as one dropped for silence is, instead of holding the other sites' answers for the command timeout
#: (final user, session 12: one frozen site held every row of ``top`` ~20 s). Its heartbeat is then more than
#: HEARTBEAT_SECONDS plus this old; it is dropped once HEARTBEAT_TIMEOUT has passed.
LATE_HEARTBEAT_SECONDS = 5.0
#: How long a connected site's link gets to answer a heartbeat when a new connection comes for the
#: same site: answered, the newcomer is refused (two processes with one kit); not, the old link is
#: taken as lost and the newcomer is let in (a site back after a network loss the server missed).
PROBE_SECONDS = 3.0
#: A heartbeat the connected site answered this recently answers for it to a new connection.
PROBE_FRESH_SECONDS = 1.0


@dataclass
class ConnectedSite:
    name: str
    org: str
    link: Requester
    address: Any = None  # the peer address its connection came from
    last_connect_time: float = field(default_factory=time.time)
    last_heartbeat: float = field(default_factory=time.time)  # epoch seconds of the last answered heartbeat
    heartbeat: asyncio.Task[None] | None = None
    #: An admin removed it (remove_client, disable_client): its running jobs give it no grace to come back
    #: (dropped_sites.py); ``removed_as`` says how, for job_errors.
    removed: bool = False
    removed_as: str = "removed by an admin"
    #: This server dropped its link because it stopped answering (a missed heartbeat: frozen, or its network
    #: went): not known to be dead or gone, it may connect again. Listed meanwhile as not answering
    #: (``SiteRegistry.not_answering``), as FLARE keeps a silent client listed, "No Reply".
    stopped_answering: bool = False
    #: The heartbeat in flight: epoch seconds it went out (None: none is), and the link's ``frames_read`` then.
    beat_sent: float | None = None
    beat_frames: int = 0

    def late(self, now: float) -> float | None:
        """Seconds its heartbeat in flight has gone unanswered at ``now`` (epoch seconds) with nothing at all
        read from the site meanwhile, once that is more than ``LATE_HEARTBEAT_SECONDS``; None while it is not
        late (no heartbeat in flight, or the site sent something since: busy, not silent)."""
        sent = self.beat_sent
        if sent is None or self.link.frames_read != self.beat_frames or now - sent <= LATE_HEARTBEAT_SECONDS:
            return None
        return now - sent

    def info(self) -> dict[str, Any]:
        return {"client_name": self.name, "client_last_conn_time": self.last_connect_time, "fqcn": self.name,
                "client_last_heartbeat": self.last_heartbeat}


class SiteRegistry:
    def __init__(self, server: SitesHost, ssl_context: ssl.SSLContext) -> None:
        self.server = server
        self._ssl = ssl_context
        period = server.kit.connection_limits.refusal_log_seconds
        # Each also in the audit trail, as the log has it: the first of a quiet spell, then summaries.
        self.handshake_failures = HandshakeFailureLog("site TLS handshake", period, record=server.audit.refused)
        # Sites that connect but do not log in (or log in wrongly): a site's certificate may open
        # hundreds of such connections again and again, so these are summed up as handshakes are.
        self.login_failures = HandshakeFailureLog("site login", period, logger=log, record=server.audit.refused)
        # A second process with a site's kit is refused while the first answers: said once a period.
        self.duplicates = HandshakeFailureLog("site connection", period, logger=log, record=server.audit.refused)
        self.sites: dict[str, ConnectedSite] = {}
        #: Each site away, its last link (how it ended: ``console.server.dropped_sites``); one per site name.
        self.departed: dict[str, ConnectedSite] = {}
        self._dropping: set[asyncio.Task[None]] = set()  # dead links being closed, stale jobs being stopped
        self._probes: dict[str, asyncio.Future[str | None]] = {}  # heartbeat probes under way, by site
        self._listener: asyncio.base_events.Server | None = None
        self.port: int | None = None
        # Orgs of sites that are away, and the sites an admin disabled: kept beside the job store,
        # so they outlive a restart.
        self.directory = SiteDirectory(server.kit.root, server.store.root)
        # Workspaces of deleted jobs still on sites that were away: removed when they connect.
        self._pending_file = server.store.root / "pending_workspace_deletes.json"
        self.pending_deletes: dict[str, list[str]] = load_site_jobs(self._pending_file)

    def _save_pending(self) -> None:
        save_site_jobs(self._pending_file, self.pending_deletes)

    async def delete_job_workspaces(self, job_id: str, expected: set[str]) -> None:
        """Remove a deleted job's workspace on every connected site, and on each ``expected`` site
        (one it was deployed to) that is away or failed, when it connects again."""
        connected, args = list(self.sites.values()), self.deleted_args(job_id)  # one store read, not one a site
        done = await asyncio.gather(*(self._delete_workspace(site, job_id, args) for site in connected))
        removed = {site.name for site, ok in zip(connected, done, strict=True) if ok}
        for name in sorted(expected - removed):
            self.pending_deletes.setdefault(name, []).append(job_id)
        if expected - removed:
            self._save_pending()

    def deleted_args(self, job_id: str) -> dict[str, str]:
        """``delete_workspace``'s arguments for a deleted job: with its submitter from the store's record
        of the delete, by whom the site sums up its lines about deletes."""
        record = self.server.store.deleted(job_id)
        return {"job_id": job_id, "submitter_name": record.submitter_name if record is not None else ""}

    async def _delete_workspace(self, site: ConnectedSite, job_id: str, args: dict[str, str] | None = None) -> bool:
        try:
            await site.link.request("delete_workspace", args or self.deleted_args(job_id), timeout=HEARTBEAT_TIMEOUT)
        except Exception as exc:
            log.warning("site %s could not remove the workspace of deleted job %s: %s", site.name, job_id, exc)
            return False
        return True

    async def _flush_pending(self, site: ConnectedSite) -> None:
        jobs = self.pending_deletes.get(site.name, [])
        kept = [job_id for job_id in jobs if not await self._delete_workspace(site, job_id)]
        if kept != jobs:
            self.pending_deletes[site.name] = kept
            self._save_pending()

    @property
    def disabled(self) -> dict[str, str]:
        return self.directory.disabled

    def online(self) -> set[str]:
        return set(self.sites)

    def get(self, name: str) -> ConnectedSite | None:
        return self.sites.get(name)

    def not_answering(self) -> list[ConnectedSite]:
        """The sites away whose link this server dropped because they stopped answering (``not_answering``),
        but for those an admin disabled since (turned away: not waited for)."""
        return [site for site in not_answering(self.departed.values(), time.time()) if site.name not in self.disabled]

    def late(self) -> dict[str, float]:
        """The connected sites whose heartbeat is late (``ConnectedSite.late``): seconds unanswered, by name."""
        now = time.time()
        found = {name: site.late(now) for name, site in self.sites.items()}
        return {name: seconds for name, seconds in found.items() if seconds is not None}

    def last_link(self, name: str) -> ConnectedSite | None:
        """The site's link now, else the last one it had while it is away (None: none since this start)."""
        return self.sites.get(name) or self.departed.get(name)

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._accept, self.server.kit.host, self.server.kit.fed_learn_port)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for site in list(self.sites.values()):
            await self._drop(site, "server stopping")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Counted until the site is registered or refused: a registered site holds one place per
        # site name (a new connection replaces the old), so those are bounded by the project.
        admission = Admission(self.server.gate.site, writer)
        async with admission as ticket:
            if ticket is None:
                return
            # Closed by the handshake as it failed: a TLS alert for a refused certificate still goes out.
            if await admission.handshake(self._ssl, self.handshake_failures):
                await self._admit(reader, writer, writer.get_extra_info("peername"))

    async def _admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Any) -> None:
        problem = peer_certificate_problem(writer)
        if problem:
            self.handshake_failures.failed(peer, problem)
            writer.transport.abort()
            return
        identity = identity_from_peercert(writer.get_extra_info("peercert") or {})
        if identity.role:
            self.handshake_failures.failed(peer, f"{identity.cn!r} holds an admin certificate")
            writer.transport.abort()
            return
        host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        place = self.server.gate.claim_site_login(identity.cn, host, writer.transport.abort)
        try:
            await self._log_in(reader, writer, peer, identity, place)
        finally:
            self.server.gate.release_site_login(place)

    async def _log_in(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Any,
                      identity: CertIdentity, place: SiteLogin) -> None:
        link = Requester(peer=identity.cn, first_limits=SITE_BEFORE_LOGIN)
        link.attach(reader, writer)
        refusal = await self._duplicate(identity.cn)
        if refusal is not None:
            self.duplicates.failed(peer, refusal)
            await self._tell_refused(link, refusal)
            return
        try:
            # ``features``: what this server reads from a site beyond protocol 1 (its ``bye``).
            hello = site_answers.login(await link.request("login", {"username": self.server.kit.identity,
                                                                    "features": [BYE]}, timeout=HEARTBEAT_TIMEOUT))
        except ValueError as exc:  # what the site's code never sends: that site is refused, the rest go on
            self.login_failures.failed(peer, f"site {identity.cn!r} sent a malformed answer to login: {exc}")
            await link.close()
            return
        except Exception as exc:
            self.login_failures.failed(peer, f"site {identity.cn!r} did not log in: {exc or type(exc).__name__}")
            await link.close()
            return
        if hello.get("site") != identity.cn:
            self.login_failures.failed(peer, f"it calls itself {hello['site']!r} but its certificate says "
                                             f"{identity.cn!r}")
            await link.close()
            return
        self.directory.saw(identity.cn, identity.org)  # its org, for rights on it while it is away
        if identity.cn in self.disabled:
            # Summed up, as other refusals: a disabled site (or its key) may try again and again.
            self.login_failures.failed(peer, f"site {identity.cn} is disabled (enable_client lets it in)")
            await link.close()
            return
        link.peer_features = hello["features"]
        site = ConnectedSite(identity.cn, identity.org, link, peer)
        self.server.gate.release_site_login(place)  # registered: its place is its name's, never dropped
        await self._register(site)
        claimed = [entry["job_id"] for entry in hello.get("jobs", [])]
        # Jobs the server abandoned in a crash: stopped there and their workspaces collected.
        collected = self.server.abandoned.on_login(site.name, link, set(claimed))
        self._judge_claims(site, claimed, collected | set(self.pending_deletes.get(site.name, [])))
        if self.pending_deletes.get(site.name):
            await self._flush_pending(site)

    async def _duplicate(self, name: str) -> str | None:
        """Why a new connection for site ``name`` is refused: that site is connected and its link
        answers a heartbeat within PROBE_SECONDS. A link that does not is dropped (None: let the
        newcomer in), so a site back after a network loss gets in within seconds.

        Newcomers for one site share one probe, and one answered within PROBE_FRESH_SECONDS
        stands: a flood of connections with the site's key cannot pile heartbeats onto the real
        site's link until one is late and the real site dropped for it."""
        old = self.sites.get(name)
        if old is None:
            return None
        if time.time() - old.last_heartbeat < PROBE_FRESH_SECONDS:
            return self._connected_already(name, old)
        probe = self._probes.get(name)
        if probe is None:
            probe = self._probes[name] = asyncio.ensure_future(self._probe(name, old))
            probe.add_done_callback(lambda _: self._probes.pop(name, None))
        return await asyncio.shield(probe)

    async def _probe(self, name: str, old: ConnectedSite) -> str | None:
        try:
            await answers_heartbeat(old.link, PROBE_SECONDS)
        except Exception as exc:
            if self.sites.get(name) is old:
                # Not awaited: closing a dead link waits for its TLS goodbye, which never comes.
                dropping = asyncio.create_task(self._drop(old, f"a new connection came for it and its link did not "
                                                               f"answer within {PROBE_SECONDS:g} s "
                                                               f"({exc or type(exc).__name__})"))
                self._dropping.add(dropping)
                dropping.add_done_callback(self._dropping.discard)
            return None
        old.last_heartbeat = time.time()
        return self._connected_already(name, old)

    @staticmethod
    def _connected_already(name: str, old: ConnectedSite) -> str:
        where = old.address[0] if isinstance(old.address, tuple) and old.address else old.address
        port = f" port {old.address[1]}" if isinstance(old.address, tuple) and len(old.address) > 1 else ""
        return (f"site {name} is connected already, from {where}{port}, and answers its heartbeat: is a second "
                f"process running with a copy of its startup kit? Stop one of them")

    async def _tell_refused(self, link: Requester, why: str) -> None:
        """Say ``why`` to a site being turned away (in its login, which it then refuses), so it
        says so and backs off; then close its connection."""
        try:
            await link.request("login", {"username": self.server.kit.identity, "refused": why},
                               timeout=PROBE_SECONDS)
        except Exception:  # the site's refusal of that login, as expected, or a site that said nothing
            pass
        await link.close()

    def _judge_claims(self, site: ConnectedSite, claimed: list[str], handled: set[str]) -> None:
        """What a site says it runs is only its claim (``console.server.site_claims``): each job the server
        sent it (or deleted) that is not running here with it is stopped there, in the background; the
        rest, one line. ``claimed``: the login answer's job IDs, checked (``site_answers.login``);
        ``handled``: jobs the server's own lists deal with at this login."""
        claims = site_claims.judge(site.name, claimed, self.server.runner.jobs, self.server.store, handled)
        site_claims.say_ignored(site.name, claims)
        if claims.stale:
            task = asyncio.create_task(site_claims.stop_stale(site.name, site.link, claims.stale, self.deleted_args))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _register(self, site: ConnectedSite) -> None:
        old = self.sites.get(site.name)
        if old is not None:
            await self._drop(old, "replaced by a new connection")
        self.sites[site.name] = site
        self.departed.pop(site.name, None)
        site.link.add_state_listener(lambda up: None if up else self._lost(site))
        site.link.add_event_listener(lambda topic, data: self.server.log_relay.on_site_event(site.name, topic, data))
        site.heartbeat = asyncio.create_task(self._beat(site))
        log.info("site %s (%s) connected; %d site(s) online", site.name, site.org, len(self.sites),
                 extra=per_peer(site.name))  # a site's key (job code can read it) can come and go at will:
        # summed up per site, so that one key's churn hides no other site's coming and going
        self.server.audit.site("site_login", site.name, site.org, site.address)
        self.server.publish("site_status", {"site": site.name, "status": "connected"})
        self.server.scheduler.wake()

    def _lost(self, site: ConnectedSite, why: str | None = None) -> None:
        """``why``: the server's reason to drop it, when it dropped it."""
        if self.sites.get(site.name) is site:
            del self.sites[site.name]
            self.departed[site.name] = site
            dropped_for = site.link.dropped_for or said_bye(site.link)
            log.warning("site %s disconnected%s; %d site(s) online", site.name,
                        f" ({dropped_for})" if dropped_for else "", len(self.sites), extra=per_peer(site.name))
            self.server.audit.site("site_logout", site.name, site.org, site.address,
                                   why or dropped_for or "connection lost")
            # "not_answering": dropped for silence, it may be back (top: "no reply"); else gone.
            self.server.publish("site_status", {"site": site.name, "status": "disconnected",
                                                "not_answering": site.stopped_answering and not site.removed})
            if site.heartbeat is not None:
                site.heartbeat.cancel()

    async def _beat(self, site: ConnectedSite) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            site.beat_sent, site.beat_frames = time.time(), site.link.frames_read
            try:
                await answers_heartbeat(site.link, HEARTBEAT_TIMEOUT)
            except Exception as exc:
                if isinstance(exc, TimeoutError | ConnectionError) or not site.link.connected:
                    log.warning("site %s missed its heartbeat (%s)", site.name, exc)
                    site.stopped_answering = True
                    await self._drop(site, "missed heartbeat")
                    return
                # It answered, with an error (a site refusing for "too many requests in flight",
                # from before heartbeats had their own room there): alive, not a missed heartbeat.
                log.info("site %s answered its heartbeat with an error: %s", site.name, exc)
            site.last_heartbeat, site.beat_sent = time.time(), None

    async def _drop(self, site: ConnectedSite, why: str) -> None:
        log.info("dropping site %s: %s", site.name, why)
        self._lost(site, why)
        if site.heartbeat is not None and site.heartbeat is not asyncio.current_task():
            site.heartbeat.cancel()
        await site.link.close()

    async def remove(self, name: str, how: str = "removed by an admin (remove_client)") -> bool:
        """Drop site ``name``'s link (``how``: in the log, and in job_errors of the jobs it was in); False
        when it is not connected."""
        site = self.sites.get(name)
        if site is None:
            return False
        site.removed, site.removed_as = True, how
        await self._drop(site, how)
        return True


async def answers_heartbeat(link: Requester, timeout: float) -> None:
    """A heartbeat on a site's ``link``: answered within ``timeout`` s, or frames came from the site meanwhile.
    Its answer queues behind what the site sent before it: a site pushing 50,000 job_log events to a loaded
    server had them read over more than HEARTBEAT_TIMEOUT, its answer after them, and was dropped for a missed
    heartbeat while it was plainly alive (as the console's own heartbeat, ``console.wire.heartbeat``: any frame
    counts). Raises what the request raised (NoAnswer when nothing came at all)."""
    read = link.frames_read
    try:
        await link.request("heartbeat", timeout=timeout)
    except NoAnswer:
        if not link.connected or link.frames_read == read:
            raise
