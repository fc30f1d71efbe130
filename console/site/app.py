"""The site process: connect, register, serve the server's commands, reconnect when cut off."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import time
from pathlib import Path
from typing import Any

from console.commands import Right
from console.commands.site_link import SITE_COMMANDS
from console.jobdef.signing import load_crl, verify_archive, verify_signer
from console.jobdef.validate import JobDefinitionError
from console.log_floods import per_peer
from console.private_files import TIGHTENED, keep_private
from console.process import process_info, root_warning, setup_logging
from console.provision.certs import cert_identity, load_cert
from console.runtime.adoption import ADOPTING, NOT_ADOPTING, SWEEPER
from console.runtime.job_mark import workspace_tag
from console.runtime.target_commands import TargetCommandError
from console.runtime.target_runner import run_confined
from console.server.authz import Policy, Principal
from console.site.jobs import SiteJobs
from console.site.leftovers import FolderLock, clear_at_start, incoming_zip, outgoing_zip
from console.site.log_push import SiteLogPush
from console.wire.budget import ReplyBudget
from console.wire.errors import ErrorType, RemoteError
from console.wire.features import ANSWER_WITHIN, FEATURES
from console.wire.goodbye import BYE, ByeReason, bye_frame, lists_bye
from console.wire.kit import SiteKit
from console.wire.request_context import Download, Handler, Peer, RequestContext, User, build_to_send
from console.wire.serving import ServedConnection
from console.wire.tls import client_context, server_certificate_problem
from console.within import within

log = logging.getLogger("console.site")

#: A server that sent nothing (not even a heartbeat) for this long is taken as gone; its running jobs
#: go on here, and the server waits for this site to connect again (connection_limits.site_reconnect_grace_seconds).
#: FLARE_CONSOLE_SITE_SILENCE_SECONDS sets another (a test that freezes the server for longer).
SILENCE_LIMIT_SECONDS = float(os.environ.get("FLARE_CONSOLE_SITE_SILENCE_SECONDS") or 20.0)
MAX_BACKOFF_SECONDS = 5.0
#: ... and for a site the server turns away because that site is connected already (a second
#: process with the same kit): it keeps trying, so it takes over once the other one is gone.
TURNED_AWAY_BACKOFF_SECONDS = 30.0

#: Log and shell reads relayed by the server that a site builds at once.
SITE_LARGE_REPLIES = 2


class Site:
    def __init__(self, kit: SiteKit) -> None:
        self.kit = kit
        self.jobs = SiteJobs(kit.name, kit.root, kit.job_limits, kit.job_process_limits)
        self.log_push = SiteLogPush(kit.name, self.jobs.workspace)
        self.specs = SITE_COMMANDS
        self.handlers: dict[str, Handler] = {name: getattr(self, f"_cmd_{name}") for name in SITE_COMMANDS}
        # The server relays admins' log and shell reads here: a site builds only a few at once,
        # so a flood of them can neither grow it nor hold up its heartbeat.
        self.reply_budget = ReplyBudget(total=SITE_LARGE_REPLIES, per_identity=SITE_LARGE_REPLIES)
        self.large_replies = frozenset({"shell"})
        # Its heartbeat is never refused for "too many requests in flight": only the server talks
        # here, and a site busy with the server's many follows must still say it is alive.
        self.always_served = frozenset({"heartbeat"})
        self.start_time = time.time()
        self.last_heard = time.monotonic()
        self._stop = asyncio.Event()
        self.restart_requested = False
        self._ssl = client_context(kit.tls.cert, kit.tls.key, kit.tls.ca, kit.tls.crl)
        self._welcomed = False  # the server logged in on the current link
        self._refused: str | None = None  # the last reason the server gave no login, logged once
        self._turned_away: str | None = None  # why the server turned this link away, as it said
        self._server_reads_bye = False  # the server's login on the current link listed ``bye``
        self.folder_lock = FolderLock(kit.root)
        self._lock_refused_said = False
        policy_path = kit.root / "local" / "authorization.json"
        # The site's own copy of the policy: its operator may be stricter than the server (no byoc).
        self.policy = Policy.load(policy_path, kit.org) if policy_path.exists() else Policy.load_default(kit.org)

    # -- Host ----------------------------------------------------------------------------

    def login(self, connection: Peer, args: dict[str, Any]) -> dict[str, Any]:
        peer = connection.identity
        if peer.role or peer.cn != self.kit.server_identity:
            raise RemoteError(ErrorType.AUTHENTICATION, f"{peer.cn!r} is not this project's server")
        if args.get("refused") is not None:  # the server turns this link away and says why
            self._turned_away = str(args["refused"])[:1000]
            raise RemoteError(ErrorType.AUTHENTICATION, "turned away by the server")
        connection.user = User(peer.cn, peer.org, "server")
        self._welcomed = True
        self._refused = None
        self._server_reads_bye = lists_bye(args.get("features"))
        log.info("connected to the server at %s:%s", self.kit.host, self.kit.fed_learn_port)
        # ``bye``: this site says why before it closes a link in order (console.wire.goodbye).
        return {"site": self.kit.name, "org": self.kit.org, "jobs": self.jobs.status(),
                "features": [*FEATURES, BYE, ANSWER_WITHIN]}

    def authorize(self, connection: Peer, spec: Any) -> None:
        """Only the server talks to a site; what its admins may do is checked per command below."""

    # -- connection loop ---------------------------------------------------------------------

    def _tidy_folder(self) -> None:
        """Clear what a site process that died mid-work left in this folder, once this process holds
        the folder's lock (another process with this kit may be working in it: then nothing is touched)."""
        if self.folder_lock.held:
            return
        try:
            if clear_at_start(self.kit.root, self.folder_lock, frozenset(self.jobs.jobs)):
                return
            why = f"another site process works in {self.kit.root} (it holds {self.folder_lock.path.name})"
        except OSError as exc:  # a folder it cannot write: the site still runs, as before
            why = f"cannot lock {self.folder_lock.path} ({exc.strerror or exc})"
        if not self._lock_refused_said:
            self._lock_refused_said = True
            log.warning("%s: temporary files a stopped site process left here are left alone", why)

    async def run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            await asyncio.to_thread(self._tidy_folder)
            try:
                reader, writer = await within(asyncio.open_connection(
                    self.kit.host, self.kit.fed_learn_port, ssl=self._ssl, server_hostname=self.kit.server_identity,
                    limit=1 << 22), 10)
            except ssl.SSLCertVerificationError as exc:
                log.error("%s", server_certificate_problem(exc))
            except (OSError, TimeoutError) as exc:
                log.info("server %s:%s not reachable (%s); retrying in %.1f s", self.kit.host,
                         self.kit.fed_learn_port, exc, delay)
            else:
                if await self._serve(reader, writer):
                    delay = 0.2  # it was a working link: the next drop is retried quickly
                elif self._turned_away is None:
                    log.info("no login from the server on that link; retrying in %.1f s", delay)
            if self._stop.is_set():
                break
            try:
                await within(self._stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, MAX_BACKOFF_SECONDS if self._turned_away is None else TURNED_AWAY_BACKOFF_SECONDS)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve the server on one link until it drops; whether the server logged in on it."""
        connection = ServedConnection(reader, writer, self)
        self._welcomed = False
        self._server_reads_bye = False
        self._turned_away = None
        self.last_heard = time.monotonic()
        serving = asyncio.create_task(connection.serve())
        stopping = asyncio.create_task(self._stop.wait())
        bye: dict[str, Any] | None = None  # why this site closes the link, for the server
        unsent = 0  # bytes of this site's own frames waiting for room in the socket, at the last look
        try:
            while not serving.done():
                await asyncio.wait({serving, stopping}, timeout=SILENCE_LIMIT_SECONDS / 4,
                                   return_when=asyncio.FIRST_COMPLETED)
                if self._stop.is_set():
                    bye = self._stopping_bye()
                    break
                # Fewer now: the socket was full and the server read from it since, so it is there. A site whose
                # pushes fill the link is not read from meanwhile (``ServedConnection`` waits for room first),
                # so the server's heartbeats wait unread: under load its 50,000 log pushes took over 20 s to read.
                transport = writer.transport
                unsent, before = 0 if transport.is_closing() else transport.get_write_buffer_size(), unsent
                if unsent < before:
                    self._heard()
                if time.monotonic() - self.last_heard > SILENCE_LIMIT_SECONDS:
                    log.warning("no word from the server for %.0f s; reconnecting", SILENCE_LIMIT_SECONDS)
                    bye = bye_frame(ByeReason.RECONNECTING, f"no word from the server for "
                                    f"{SILENCE_LIMIT_SECONDS:.0f} s; connecting again, its running jobs go on")
                    break
        finally:
            stopping.cancel()
            # Said before the close, so a server frozen meanwhile reads it when it runs again (the bytes
            # wait in the socket's buffers); only to a server that reads it (an older one would take
            # the unknown frame for a broken answer).
            if bye is not None and self._welcomed and self._server_reads_bye and not serving.done():
                connection.say_bye(bye)
            await connection.close()
            await asyncio.gather(serving, return_exceptions=True)
        if self._welcomed:
            log.info("disconnected from the server")
        else:
            self._not_welcomed(connection.lost_by)
        return self._welcomed

    def _not_welcomed(self, why: BaseException | None) -> None:
        """The server closed the link before logging in: said once per reason, not at every retry."""
        # TLS 1.3 checks a client's certificate after the client's side of the handshake is done, so
        # a refusal usually arrives as a bare reset: the alert's name is there only now and then.
        if self._turned_away is not None:
            reason = f"the server turns this site away: {self._turned_away}"
            if reason != self._refused:
                self._refused = reason
                log.error("%s; retrying with a growing pause, at most every %.0f s", reason,
                          TURNED_AWAY_BACKOFF_SECONDS)
            return
        if "CERTIFICATE_REVOKED" in str(why):
            reason = ("the server refuses this site's certificate as revoked: a newer provisioning replaced "
                      "this kit (or removed the site); start the site from its latest kit")
        else:
            reason = ("the server closed the connection before logging in: it refuses this site (its certificate "
                      "revoked by a newer provisioning, or the site disabled); the server's log says which")
        if reason != self._refused:
            self._refused = reason
            log.error("%s; retrying with a growing pause, at most every %.0f s", reason, MAX_BACKOFF_SECONDS)

    def _stopping_bye(self) -> dict[str, Any]:
        running = len(self.jobs.jobs)
        jobs = f"its {running} running job(s) end with it" if running else "no job runs here"
        if self.restart_requested:
            return bye_frame(ByeReason.RESTARTING, f"{self.kit.name} is restarting; {jobs}")
        return bye_frame(ByeReason.SHUTTING_DOWN, f"{self.kit.name} is shutting down; {jobs}")

    def request_stop(self, restart: bool = False) -> None:
        self.restart_requested = self.restart_requested or restart
        self._stop.set()

    async def shutdown(self) -> None:
        await self.jobs.stop_all()
        self.folder_lock.release()

    # -- commands from the server ------------------------------------------------------------

    def _heard(self) -> None:
        self.last_heard = time.monotonic()

    async def _cmd_heartbeat(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        self._heard()
        return {"site": self.kit.name, "jobs": len(self.jobs.jobs)}

    async def _cmd_deploy_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        self._heard()
        submitter = Principal(args["submitter_name"], args["submitter_org"], args["submitter_role"])
        if args["byoc"]:
            self.policy.require_here(submitter, Right.BYOC, f"job {args['job_id']} (custom code) on {self.kit.name}")
        archive = incoming_zip(self.kit.root, args["job_id"])
        try:
            await ctx.receive_upload(archive, 4 << 30)
            signer = await asyncio.to_thread(self._verify_job, archive, args)
            # The code is the signer's (a clone's is its source's submitter's): this site's policy
            # must let both the one who runs the job and the one who wrote it run code here.
            if args["byoc"] and signer != submitter:
                self.policy.require_here(signer, Right.BYOC,
                                         f"job {args['job_id']} (custom code signed by {signer.name}) on {self.kit.name}")
            await self.jobs.deploy(args["job_id"], args["job_name"], args["app_name"], archive,
                                   custom_allowed=self._byoc_allowed(submitter) and self._byoc_allowed(signer),
                                   submitter=submitter.name)
        finally:
            archive.unlink(missing_ok=True)

    def _byoc_allowed(self, who: Principal) -> bool:
        """Whether this site's own policy lets ``who`` run job code here."""
        try:
            self.policy.require_here(who, Right.BYOC)
        except RemoteError:
            return False
        return True

    def _verify_job(self, archive: Path, args: dict[str, Any]) -> Principal:
        """The archive must be what its submitter (for a clone: its source's submitter) signed, and
        the signer a current admin of this project (signing.py); the signer, as its certificate says."""
        try:
            root = load_cert(self.kit.tls.ca)
            # Only the server knows a clone's source; a job that is no clone must carry its submitter's signature.
            expected = args["signed_by"] if args.get("cloned_from") else args["submitter_name"]
            cert = verify_signer(args["signer_pem"], root, args["signed_by"], expected,
                                 crl=load_crl(self.kit.tls.crl, root))
            verify_archive(archive, args["signature"], cert)
        except JobDefinitionError as exc:
            log.error("job %s refused: %s", args["job_id"], exc)
            raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, f"{self.kit.name}: {exc}") from None
        identity = cert_identity(cert)
        return Principal(identity.cn, identity.org, identity.role or "")

    async def _cmd_task(self, ctx: RequestContext, args: dict[str, Any]) -> Download:
        self._heard()
        await self.jobs.receive_task(args["job_id"], args["task_id"], args["round"], args["num_rounds"],
                                     args["max_result_bytes"], ctx.receive_upload)
        path, head = await self.jobs.task_result(args["job_id"], args["task_id"])
        self._heard()
        return Download(path, head)

    async def _cmd_end_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        await self.jobs.stop(args["job_id"], abort=False)
        await self.log_push.job_ended(args["job_id"])

    async def _cmd_abort_job(self, ctx: RequestContext, args: dict[str, Any]) -> None:
        await self.jobs.stop(args["job_id"], abort=True)
        await self.log_push.job_ended(args["job_id"])

    async def _cmd_follow_log(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any] | None:
        user = Principal(args["user_name"], args["user_org"], args["user_role"])
        self.policy.require(user, Right.VIEW, site_org=self.kit.org, what=self.kit.name)
        return self.log_push.follow(ctx.connection, args["job_id"], args["lines"], args["offset"])

    async def _cmd_read_log(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        user = Principal(args["user_name"], args["user_org"], args["user_role"])
        self.policy.require(user, Right.VIEW, site_org=self.kit.org, what=self.kit.name)
        return await asyncio.to_thread(self.log_push.lines_from, args["job_id"], args["offset"], args.get("end"))

    async def _cmd_unfollow_log(self, ctx: RequestContext, args: dict[str, Any]) -> bool:
        return await self.log_push.unfollow(args["job_id"])

    async def _cmd_get_workspace(self, ctx: RequestContext, args: dict[str, Any]) -> Download:
        out = outgoing_zip(self.kit.root, args["job_id"])
        # (a server that gives up on it meanwhile, its link cut, leaves no zip behind here)
        await build_to_send(lambda path: self.jobs.pack_workspace(args["job_id"], path, args["max_bytes"],
                                                                  args.get("max_entries"), args["submitter_name"]),
                            out)
        return Download(out, {"job_id": args["job_id"]})

    async def _cmd_delete_workspace(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # The server deleted the job: if it still runs here (its end never reached this site), it stops now.
        await self.jobs.stop(args["job_id"], abort=True)
        existed = await asyncio.to_thread(self.jobs.delete_workspace, args["job_id"])
        # Asked once per delete_job, which a lead can repeat at will (clone + delete): summed up per
        # submitter, as the site's other lines about a job are.
        log.info("job %s deleted: its workspace %s", args["job_id"], "removed" if existed else "was not here",
                 extra=per_peer(args["submitter_name"]))
        return {"removed": existed}

    async def _cmd_status(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return {"site": self.kit.name, "jobs": self.jobs.status()}

    async def _cmd_stats(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.job(args["job_id"])
        return {"ClientRunner": {"job_id": job.job_id, "status": job.status, "current_tasks": job.current_tasks}}

    async def _cmd_sys_info(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        return process_info(self.start_time)

    async def _cmd_env(self, ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
        # FLARE's report_env keys, for scripts that configure third-party systems from them.
        return {"site_name": self.kit.name, "workspace": str(self.kit.root),
                "root_url": f"tls://{self.kit.host}:{self.kit.fed_learn_port}", "secure_mode": True}

    async def _cmd_shell(self, ctx: RequestContext, args: dict[str, Any]) -> str:
        user = Principal(args["user_name"], args["user_org"], args["user_role"])
        try:
            right = Right(args["right"])
        except ValueError:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, f"unknown right {args['right']!r}") from None
        self.policy.require(user, right, site_org=self.kit.org, what=self.kit.name)
        try:
            root = self.kit.root if not args["job_id"] else self.jobs.workspace(args["job_id"])
            return await run_confined(root, args["command"], args["options"], args["path"], args["pattern"],
                                      user=str(args["user_name"]), answer_within=args["answer_within"])
        except TargetCommandError as exc:
            raise RemoteError(ErrorType.INVALID_ARGUMENT, str(exc)) from None

    async def _cmd_shutdown(self, ctx: RequestContext, args: dict[str, Any]) -> str:
        asyncio.get_running_loop().call_later(0.1, self.request_stop)
        return f"{self.kit.name} is shutting down"

    async def _cmd_restart(self, ctx: RequestContext, args: dict[str, Any]) -> str:
        asyncio.get_running_loop().call_later(0.1, self.request_stop, True)
        return f"{self.kit.name} is restarting"


async def run_site(kit_dir: str | Path) -> bool:
    """Run until SIGINT/SIGTERM or a shutdown command; True if a restart was asked for."""
    kit = SiteKit.load(kit_dir)
    kit.tls.check()
    SWEEPER.owner = workspace_tag(kit.root)  # its jobs' leftovers are this daemon's to end, no other's
    tightened = keep_private(kit.root)  # before anything is written: for this user only
    setup_logging(kit.root)
    if warning := root_warning("site", str(kit.tls.key)):
        log.warning(warning)
    if tightened:
        log.info(TIGHTENED, tightened)
    site = Site(kit)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, site.request_stop)
    log.info("site %s of project %s starting; server %s:%s", kit.name, kit.project_name, kit.host,
             kit.fed_learn_port)
    sweeping = asyncio.create_task(SWEEPER.run()) if SWEEPER.enabled else None
    log.info(ADOPTING if SWEEPER.enabled else NOT_ADOPTING)
    try:
        await site.run()
    finally:
        await site.shutdown()
        if sweeping is not None:
            sweeping.cancel()
    log.info("site %s stopped", kit.name)
    return site.restart_requested
