"""The site endpoint: sites connect on ``fed_learn_port`` with their own certificates.

The server refuses admin certificates here (they carry a role), logs in to the site over
the connection the site opened (the site serves, the server asks), checks that the name
the site gives is its certificate's CN, and keeps a heartbeat; a site that misses it, or
whose connection drops, is gone until it connects again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from console.provision.certs import identity_from_peercert
from console.server import site_answers
from console.server.interfaces import SitesHost
from console.wire.admission import Admission
from console.wire.requesting import Requester
from console.wire.tls import HandshakeFailureLog, peer_certificate_problem

log = logging.getLogger("console.server.sites")

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT = 10.0


@dataclass
class ConnectedSite:
    name: str
    org: str
    link: Requester
    last_connect_time: float = field(default_factory=time.time)
    last_heartbeat: float = field(default_factory=time.time)  # epoch seconds of the last answered heartbeat
    heartbeat: asyncio.Task[None] | None = None

    def info(self) -> dict[str, Any]:
        return {"client_name": self.name, "client_last_conn_time": self.last_connect_time, "fqcn": self.name,
                "client_last_heartbeat": self.last_heartbeat}


class SiteRegistry:
    def __init__(self, server: SitesHost, ssl_context: ssl.SSLContext) -> None:
        self.server = server
        self._ssl = ssl_context
        period = server.kit.connection_limits.refusal_log_seconds
        self.handshake_failures = HandshakeFailureLog("site TLS handshake", period)
        # Sites that connect but do not log in (or log in wrongly): a site's certificate may open
        # hundreds of such connections again and again, so these are summed up as handshakes are.
        self.login_failures = HandshakeFailureLog("site login", period, logger=log)
        self.sites: dict[str, ConnectedSite] = {}
        self._listener: asyncio.base_events.Server | None = None
        self.port: int | None = None
        # Sites an admin disabled: the set is kept beside the job store, so it outlives a restart.
        self._disabled_file = server.store.root / "disabled_sites.json"
        self.disabled = self._load_disabled()
        # Workspaces of deleted jobs still on sites that were away: removed when they connect.
        self._pending_file = server.store.root / "pending_workspace_deletes.json"
        self.pending_deletes: dict[str, list[str]] = self._load_pending()

    def _load_pending(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self._pending_file.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {site: [j for j in jobs if isinstance(j, str)] for site, jobs in data.items() if isinstance(jobs, list)}

    def _save_pending(self) -> None:
        tmp = self._pending_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({site: jobs for site, jobs in self.pending_deletes.items() if jobs}))
        os.replace(tmp, self._pending_file)

    async def delete_job_workspaces(self, job_id: str, expected: set[str]) -> None:
        """Remove a deleted job's workspace on every connected site, and on each ``expected`` site
        (one it was deployed to) that is away or failed, when it connects again."""
        connected = list(self.sites.values())
        done = await asyncio.gather(*(self._delete_workspace(site, job_id) for site in connected))
        removed = {site.name for site, ok in zip(connected, done, strict=True) if ok}
        for name in sorted(expected - removed):
            self.pending_deletes.setdefault(name, []).append(job_id)
        if expected - removed:
            self._save_pending()

    async def _delete_workspace(self, site: ConnectedSite, job_id: str) -> bool:
        try:
            await site.link.request("delete_workspace", {"job_id": job_id}, timeout=HEARTBEAT_TIMEOUT)
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

    def _load_disabled(self) -> set[str]:
        try:
            names = json.loads(self._disabled_file.read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{self._disabled_file} cannot be read ({exc}); fix or delete it") from None
        return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()

    def set_disabled(self, name: str, disabled: bool) -> bool:
        """Turn a site away (or let it in again), surviving restarts; whether it was disabled before."""
        was = name in self.disabled
        self.disabled.add(name) if disabled else self.disabled.discard(name)
        tmp = self._disabled_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.disabled)))
        os.replace(tmp, self._disabled_file)
        return was

    def online(self) -> set[str]:
        return set(self.sites)

    def get(self, name: str) -> ConnectedSite | None:
        return self.sites.get(name)

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
        link = Requester(peer=identity.cn)
        link.attach(reader, writer)
        try:
            hello = site_answers.login(await link.request("login", {"username": self.server.kit.identity},
                                                          timeout=HEARTBEAT_TIMEOUT))
        except ValueError as exc:  # what the site's code never sends: that site is refused, the rest go on
            self.login_failures.failed(peer, f"site {identity.cn!r} sent a malformed answer to login: {exc}")
            await link.close()
            return
        except Exception as exc:
            self.login_failures.failed(peer, f"site {identity.cn!r} did not log in: {exc or type(exc).__name__}")
            await link.close()
            return
        if identity.cn in self.disabled:
            log.warning("refused site %s from %s: it is disabled (enable_client lets it in)", identity.cn, peer)
            await link.close()
            return
        if hello.get("site") != identity.cn:
            self.login_failures.failed(peer, f"it calls itself {hello['site']!r} but its certificate says "
                                             f"{identity.cn!r}")
            await link.close()
            return
        site = ConnectedSite(identity.cn, identity.org, link)
        await self._register(site)
        self._abort_stale_jobs(identity.cn, link, hello.get("jobs", []))
        if self.pending_deletes.get(site.name):
            await self._flush_pending(site)

    def _abort_stale_jobs(self, name: str, link: Requester, jobs: list[dict[str, Any]]) -> None:
        """After a cut, a site may still run a job that went on without it (or ended): stop those.
        ``jobs``: the login answer's, checked (``site_answers.login``)."""
        for entry in jobs:
            job_id = entry["job_id"]
            job = self.server.runner.jobs.get(job_id)
            if job is None or name not in job.sites:
                log.info("site %s still runs job %s, which went on without it: stopping it there", name, job_id)
                task = asyncio.create_task(link.request("abort_job", {"job_id": job_id}, timeout=HEARTBEAT_TIMEOUT))
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _register(self, site: ConnectedSite) -> None:
        old = self.sites.get(site.name)
        if old is not None:
            await self._drop(old, "replaced by a new connection")
        self.sites[site.name] = site
        site.link.add_state_listener(lambda up: None if up else self._lost(site))
        site.link.add_event_listener(lambda topic, data: self.server.log_relay.on_site_event(site.name, topic, data))
        site.heartbeat = asyncio.create_task(self._beat(site))
        log.info("site %s (%s) connected; %d site(s) online", site.name, site.org, len(self.sites))
        self.server.publish("site_status", {"site": site.name, "status": "connected"})
        self.server.scheduler.wake()

    def _lost(self, site: ConnectedSite) -> None:
        if self.sites.get(site.name) is site:
            del self.sites[site.name]
            why = site.link.dropped_for
            log.warning("site %s disconnected%s; %d site(s) online", site.name, f" ({why})" if why else "",
                        len(self.sites))
            self.server.publish("site_status", {"site": site.name, "status": "disconnected"})
            if site.heartbeat is not None:
                site.heartbeat.cancel()

    async def _beat(self, site: ConnectedSite) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await site.link.request("heartbeat", timeout=HEARTBEAT_TIMEOUT)
                site.last_heartbeat = time.time()
            except Exception as exc:
                log.warning("site %s missed its heartbeat (%s)", site.name, exc)
                await self._drop(site, "missed heartbeat")
                return

    async def _drop(self, site: ConnectedSite, why: str) -> None:
        log.info("dropping site %s: %s", site.name, why)
        self._lost(site)
        if site.heartbeat is not None and site.heartbeat is not asyncio.current_task():
            site.heartbeat.cancel()
        await site.link.close()

    async def remove(self, name: str) -> bool:
        site = self.sites.get(name)
        if site is None:
            return False
        await self._drop(site, "removed by an admin")
        return True
