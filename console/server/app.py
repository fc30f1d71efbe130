"""The server process: wiring of endpoint, store, scheduler and runner; start and stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from typing import Any

from console.commands import CATALOG, CommandSpec, Engine, ParamKind, Right, Where
from console.jobdef.deploy_map import server_app_name
from console.log_floods import per_peer
from console.private_files import TIGHTENED, keep_private
from console.process import root_warning, setup_logging
from console.runtime.adoption import ADOPTING, NOT_ADOPTING, SWEEPER
from console.runtime.job_mark import workspace_tag
from console.server import (  # noqa: F401  (they register handlers)
    deleted_job_commands,
    job_commands,
    log_relay,
    shell_commands,
    site_admin_commands,
    system_commands,
)
from console.server.abandoned import AbandonedJobs
from console.server.audit import AuditLog
from console.server.authz import Policy, Principal, principal
from console.server.handlers import HANDLERS
from console.server.job_access import may_view
from console.server.kept_workspace import job_folders, tidy_at_start
from console.server.runner import JobRunner
from console.server.scheduler import Scheduler
from console.server.sites import SiteRegistry
from console.server.status import JobStatus
from console.server.store import JobStore
from console.wire.admission import Admission
from console.wire.budget import ReplyBudget
from console.wire.errors import ErrorType, RemoteError
from console.wire.features import FEATURES
from console.wire.frames import BEFORE_LOGIN, FrameError, encode_frame, read_frame
from console.wire.gate import ConnectionGate
from console.wire.kit import ServerKit
from console.wire.pace import Pace
from console.wire.request_budget import RequestBudget
from console.wire.request_context import Peer, User
from console.wire.serving import PROTOCOL_VERSION, ServedConnection
from console.wire.tls import HandshakeFailureLog, peer_certificate_problem, server_context
from console.wire.upload_budget import UploadBudget
from console.within import within

log = logging.getLogger("console.server")

#: Commands whose answer may be megabytes (a job's log, a file): they take a slot of the reply budget.
LARGE_REPLIES = frozenset(name for name, spec in CATALOG.items() if spec.large_reply)


def _check_registry() -> None:
    wanted = {name for name, spec in CATALOG.items() if spec.where is Where.SERVER and spec.supports(Engine.OURS)}
    missing, extra = wanted - set(HANDLERS), set(HANDLERS) - wanted
    if missing or extra:
        raise RuntimeError(f"command registry and server handlers disagree: missing {missing}, extra {extra}")


class Server:
    def __init__(self, kit: ServerKit) -> None:
        _check_registry()
        self.kit = kit
        self.workspace = kit.root
        self.start_time = time.time()
        self.max_upload_bytes = kit.max_upload_bytes
        limits = kit.connection_limits
        # An upload keeps the pace a site's answers keep, and one identity's uploads under way are
        # bounded in bytes: a stalled submit_job neither holds its partial file nor its slot for long.
        self.upload_pace = Pace(limits.transfer_floor_seconds, limits.min_transfer_bytes_per_second)
        self.upload_budget = UploadBudget(max(limits.max_upload_bytes_per_identity, kit.max_upload_bytes))
        self.handlers = HANDLERS
        self.specs = CATALOG
        self.policy = Policy.load(kit.root / "local" / "authorization.json", home_org=kit.org)
        self.store = JobStore(kit.root / "store")
        limits = kit.connection_limits
        self.audit = AuditLog(kit.root, burst_bytes=limits.audit_burst_bytes,
                              bytes_per_second=limits.audit_bytes_per_second,
                              change_burst_bytes=limits.audit_change_burst_bytes,
                              change_bytes_per_second=limits.audit_change_bytes_per_second,
                              summary_seconds=limits.refusal_log_seconds)
        self.connections: set[ServedConnection] = set()
        # One gate, a budget per endpoint: no flood of the admin port can keep a site from reconnecting.
        self.gate = ConnectionGate(kit.connection_limits, record=self.audit.refused)
        # Anyone can fail a handshake, as often as they like: logged once a period, not once each.
        # The audit trail has them as the log does (a revoked certificate, a login never sent).
        self.handshake_failures = HandshakeFailureLog("TLS handshake", kit.connection_limits.refusal_log_seconds,
                                                      record=self.audit.refused)
        # Any certificate holder can fail a login (or send none) as often: summed up the same way.
        self.login_failures = HandshakeFailureLog("admin login", kit.connection_limits.refusal_log_seconds, log,
                                                  record=self.audit.refused)
        self.max_in_flight = kit.connection_limits.max_in_flight  # read by each ServedConnection
        self.request_budget = RequestBudget(limits.max_open_requests_per_identity,
                                            limits.max_open_request_bytes_per_identity)
        # Answers of up to a few MB each (a job's log, cat): bounded per identity and in total.
        self.reply_budget = ReplyBudget()
        self.large_replies = LARGE_REPLIES
        self.runner = JobRunner(self)
        self.log_relay = log_relay.LogRelay(self)
        self.scheduler = Scheduler(self)
        self._ssl = server_context(kit.tls.cert, kit.tls.key, kit.tls.ca, kit.tls.crl)
        if kit.tls.crl is not None:
            log.info("revocation list %s checked at every handshake", kit.tls.crl)
        self.abandoned = AbandonedJobs(self)
        self.sites = SiteRegistry(self, self._ssl)
        self._listener: asyncio.base_events.Server | None = None
        self.admin_port: int | None = None
        self.stopping = asyncio.Event()
        self.restart_requested = False
        self._status_tasks: set[asyncio.Future[dict[str, Any] | None]] = set()
        self._tidying: asyncio.Future[None] | None = None

    def request_stop(self, restart: bool = False) -> None:
        self.restart_requested = self.restart_requested or restart
        self.stopping.set()

    # -- status and events ---------------------------------------------------------------

    def change_status(self, job_id: str, status: JobStatus, **updates: Any) -> asyncio.Future[dict[str, Any] | None]:
        """The one way a job's status changes: guarded write, then a push to every session.

        The write runs on the store's writer thread, in order with the job's other writes (its
        fsync never holds up the event loop), and the change is published once it is stored.
        Await the result for the new meta (None: refused, the job was final already); a caller
        that does not await it still has its later writes stored after this one."""
        written = asyncio.wrap_future(self.store.write(self.store.set_status, job_id, status, **updates))
        task = asyncio.ensure_future(self._status_stored(job_id, status, written))
        self._status_tasks.add(task)
        task.add_done_callback(self._status_tasks.discard)
        return task

    async def _status_stored(self, job_id: str, status: JobStatus,
                             written: asyncio.Future[dict[str, Any] | None]) -> dict[str, Any] | None:
        try:
            meta = await written
        except Exception:  # logged by the store; the job's record keeps its last stored status
            return None
        # Its submitter can make job lives at will (clone_job + delete_job, abort_job racing the job's
        # end): these lines are summed up per submitter.
        if meta is None:
            final = self.store.get(job_id)  # (None: deleted since)
            log.info("job %s: %s refused, the job is already final", job_id, status.value,
                     extra=per_peer(final and final.get("submitter_name")))
            return None
        log.info("job %s (%s): %s", job_id, meta.get("name"), status.value, extra=per_peer(meta.get("submitter_name")))
        if status.is_final:
            self.scheduler.wake()
        try:  # stored first; a push that fails never undoes or blocks the change
            self.publish("job_status", {"job_id": job_id, "name": meta.get("name"), "status": status.value,
                                        "time": time.time()}, meta)
        except Exception:
            log.exception("job %s: the status change to %s could not be published", job_id, status.value)
        return meta

    def expect_collects(self, sites_of: dict[str, set[str]]) -> None:
        self.abandoned.expect(sites_of)

    def publish(self, topic: str, data: dict[str, Any], job: dict[str, Any] | None = None) -> None:
        """Push an event to every session that may see it. ``job``: the meta of the job it is about,
        when the caller has it (a deleted job's is no longer in the store)."""
        self.log_relay.on_event(topic, data)  # a job's end first ends its followed logs
        about_job = "job_id" in data
        for connection in list(self.connections):
            user = connection.user
            # Pushes describe jobs: only sessions whose view right covers this one receive them.
            if user is None or self.policy.condition(user.role, Right.VIEW) == "none":
                continue
            if about_job and self.policy.condition(user.role, Right.VIEW) != "any":
                if job is None:  # looked up once, only when a session's view is scoped
                    job = self.store.get(str(data["job_id"])) or {}
                if not may_view(self.policy, Principal(user.name, user.org, user.role), job):
                    continue
            connection.push_event(topic, data)

    # -- sessions ------------------------------------------------------------------------

    def authorize(self, connection: Peer, spec: CommandSpec) -> None:
        if spec.right is not None and connection.user is not None:
            self.policy.require(principal(connection), spec.right)

    def audit_request(self, connection: Peer, cmd: Any, args: Any, notes: dict[str, Any],
                      error: BaseException | None) -> None:
        """The audit trail's line for one request (called by the serving side once it has ended)."""
        identity = connection.identity
        who = (identity.cn, identity.org, identity.role)
        if cmd == "login":  # with the name it sent (a refused one, a second login on the connection)
            self.audit.session("login", who, connection.peer, None if error is None else str(error),
                               args.get("username") if isinstance(args, dict) else None)
            return
        spec = self.specs.get(cmd) if isinstance(cmd, str) else None
        # (a flag tells nothing worth leaving out: check_only shows as it is)
        left_out = frozenset(p.name for p in spec.params if not p.typed and p.kind is not ParamKind.BOOL) \
            if spec is not None else frozenset()
        self.audit.command(who, connection.peer, cmd, args, notes, error, left_out,
                           changes=spec is not None and spec.changes_state)

    def login(self, connection: Peer, args: dict[str, Any]) -> dict[str, Any]:
        identity = connection.identity
        username = args.get("username")
        if connection.refusal:
            self.login_failures.failed(connection.peer, f"{identity.cn!r}: {connection.refusal}")
            raise RemoteError(ErrorType.AUTHENTICATION, f"certificate refused: {connection.refusal}")
        if not identity.role:
            self.login_failures.failed(connection.peer, f"certificate of {identity.cn!r} carries no admin role")
            raise RemoteError(
                ErrorType.AUTHENTICATION,
                f"certificate of '{identity.cn}' is not an admin certificate; use an admin startup kit",
            )
        if username != identity.cn:
            self.login_failures.failed(connection.peer, f"username {str(username)[:200]!r} is not the certificate "
                                                        f"CN {identity.cn!r}")
            raise RemoteError(
                ErrorType.AUTHENTICATION,
                f"username '{username}' does not match the certificate's CN '{identity.cn}'; "
                "log in with the name the kit was provisioned for",
            )
        connection.user = User(identity.cn, identity.org, identity.role)
        # A certificate holder can log in again and again: summed up per identity (session 10, item 4).
        log.info("admin %s (%s, %s) logged in from %s", identity.cn, identity.org, identity.role, connection.peer,
                 extra=per_peer(identity.cn))
        return {
            "protocol": PROTOCOL_VERSION,
            "features": list(FEATURES),
            "server": self.kit.identity,
            "project": self.kit.project_name,
            "user": {"name": identity.cn, "org": identity.org, "role": identity.role},
            # The role's rights as this server's policy grants them: a console can refuse a command
            # the user may not run before asking "are you sure?" (the server still checks every one).
            "rights": {r.value: self.policy.condition(identity.role, r) for r in Right},
            "server_start_time": self.start_time,
        }

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        admission = Admission(self.gate.admin, writer)
        async with admission as ticket:
            if ticket is None:
                return
            if not await admission.handshake(self._ssl, self.handshake_failures):
                return
            connection = ServedConnection(reader, writer, self)
            cn = connection.identity.cn or "?"
            over = self.gate.claim_identity(cn, ticket.peer)
            if over is not None:
                # The answer to its login, so the admin reads why, not "connection lost"; the login
                # is read first, since closing with unread data would reset the connection.
                error = RemoteError(ErrorType.AUTHENTICATION, f"{over} (connection_limits.max_per_identity on "
                                    "the server); close some of its sessions, or ask the operator to raise it")
                # No login line of its own: a certificate holder can open such connections again and
                # again, and the gate has logged and recorded the refusal, summed up once a period.
                try:
                    login = await within(read_frame(reader, limits=BEFORE_LOGIN), 2.0)
                    if login is not None:
                        writer.write(encode_frame({"k": "res", "id": login.header.get("id"), "ok": False,
                                                   "error": error.to_wire()}))
                        await within(writer.drain(), 2.0)
                except (FrameError, ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
                    pass
                await connection.close()
                return
            # Refused at login, not here: the admin gets an AuthenticationError that says why.
            connection.refusal = peer_certificate_problem(writer)
            self.connections.add(connection)
            try:
                await connection.serve()
            finally:
                self.connections.discard(connection)
                if connection.user is not None:
                    user = connection.user
                    self.audit.session("logout", (user.name, user.org, user.role), connection.peer)
                self.gate.release_identity(cn)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        # Each abandoned job's sites: their workspaces are collected as they connect again.
        abandoned = {job_id: job_commands.deployed_sites(self.store.get(job_id) or {})
                     for job_id in self.store.abandon_active()}
        for job_id in abandoned:
            log.warning("job %s was running when the server stopped: FINISHED:ABANDONED", job_id)
        self.abandoned.expect(abandoned)
        # Listed before any job runs; archived and trimmed in the background, so a big abandoned
        # workspace never holds up the start (a download meanwhile waits for its job's archive).
        folders = job_folders(self.workspace)
        if folders or abandoned:
            loop = asyncio.get_running_loop()
            self.abandoned.archiving(folders)
            self._tidying = asyncio.ensure_future(asyncio.to_thread(
                tidy_at_start, self.workspace, self.store, self.kit.job_limits, folders, abandoned,
                lambda meta: server_app_name(meta.get("deploy_map") or {}) or "",
                lambda job_id: loop.call_soon_threadsafe(self.abandoned.archived, job_id)))
            self._tidying.add_done_callback(lambda _: self.abandoned.all_archived())
        await self.sites.start()
        self._listener = await asyncio.start_server(self._accept, self.kit.host, self.kit.admin_port)
        self.admin_port = self._listener.sockets[0].getsockname()[1]
        self.scheduler.start()
        log.info("site endpoint listening on %s:%s", self.kit.host, self.sites.port)
        log.info("admin endpoint listening on %s:%s (project %s, %d jobs stored)", self.kit.host,
                 self.admin_port, self.kit.project_name, self.store.count())

    async def stop(self) -> None:
        log.info("server stopping")
        if self._listener is not None:
            self._listener.close()
        await self.scheduler.stop()
        await self.runner.stop_all()
        if self._tidying is not None:  # it writes to the store: done before the store closes
            await asyncio.gather(self._tidying, return_exceptions=True)
        await self.abandoned.stop()
        await self.sites.stop()
        if self._status_tasks:  # stored and published before the sessions close
            await asyncio.gather(*self._status_tasks, return_exceptions=True)
        for connection in list(self.connections):
            await connection.close()
        self.store.close()
        self.audit.close()
        log.info("server stopped")


async def serve(kit_dir: str | Path) -> bool:
    """Run until SIGINT/SIGTERM or a shutdown command; True if a restart was asked for."""
    kit = ServerKit.load(kit_dir)
    kit.tls.check()
    SWEEPER.owner = workspace_tag(kit.root)  # its jobs' leftovers are this daemon's to end, no other's
    tightened = keep_private(kit.root)  # before anything is written: for this user only
    setup_logging(kit.root, flood_seconds=kit.connection_limits.refusal_log_seconds)
    if warning := root_warning("server", str(kit.tls.key)):
        log.warning(warning)
    if tightened:
        log.info(TIGHTENED, tightened)
    server = Server(kit)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_stop)
    sweeping = asyncio.create_task(SWEEPER.run()) if SWEEPER.enabled else None
    log.info(ADOPTING if SWEEPER.enabled else NOT_ADOPTING)
    await server.stopping.wait()
    await server.stop()
    if sweeping is not None:
        sweeping.cancel()
    return server.restart_requested
