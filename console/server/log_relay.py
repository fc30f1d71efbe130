"""The server's half of ``follow``: job log lines pushed to the admin sessions that follow them.

An admin session asks with ``follow JOB_ID [TARGET|all] [-n LINES]`` and stops with
``unfollow JOB_ID|all``. From then on the session gets ``job_log`` events
(``{"job_id", "target", "lines", "offset"}``, ``target`` being ``server`` or a site,
``offset`` the bytes of that log up to the end of those lines when known) with only the
lines written since the last one, and a ``job_log_end`` event per target when the job has
ended and the last line of that target was sent. A follow resumed after a dropped
connection names each target's last offset (``resume``: ``["server=1234", ...]``) and gets
every line from there, once: lines a follower already has (by offset) are not sent again;
a site that reconnects is asked from where each follower's log ended. The server's own job log is read here by
offset (``console.logtail``); a site's is pushed by the site (``console.site.log_push``) and
fanned out here: one stream per job and target, however many sessions follow it.

Pushed only to the sessions that follow (never to everyone, as job events are); a session
that reads too slowly gets its new lines read again from the log by offset when it has room
(``console.server.log_pacing``) rather than have them dropped past the connection's backlog or
held in the server's memory; what a resumed follow lacks comes the same way, in parts of at
most ``CHUNK_BYTES`` of log, each sent when the connection has room. A site's own policy may
refuse a follower: then nothing of that follow is sent or kept (``Subscription.pending``).
Here: who follows what, and the streams (the server's tail, the sites asked to push); lines
out to the followers and a site's pushes in are ``console.server.log_fanout``. Owns no job and
no site state: it reads the runner's and the site registry's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.commands import Right
from console.jobdef.deploy_map import site_apps
from console.logtail import LogTail, follow, last_lines
from console.server import site_answers
from console.server.handlers import handles
from console.server.interfaces import RelayHost
from console.server.job_access import resolve_job
from console.server.job_queries import no_such_job
from console.server.log_fanout import LogFanOut
from console.server.log_follows import Subscription, offset_of, refused, resume_offsets, who
from console.server.log_pacing import SITE_REQUEST_TIMEOUT
from console.server.shell_commands import run_on_target
from console.server.site_answers import MalformedAnswer
from console.server.status import JobStatus
from console.server.targets import require_on_target
from console.wire.errors import ErrorType, RemoteError
from console.wire.exceptions import AuthorizationError
from console.wire.request_context import Peer, RequestContext

log = logging.getLogger("console.server.log_relay")

LOG_FILE = "log.txt"
#: Follows one admin session may have at once, and one identity over all its sessions: each costs
#: a site request and a copy of every line it is sent, so one member's thousands of follows on
#: one connection (security report 9, finding 6: 251 MiB of events a minute) are refused instead.
MAX_FOLLOWS_PER_SESSION = 32
MAX_FOLLOWS_PER_IDENTITY = 64


@dataclass
class _ServerTail:
    tail: LogTail
    stop: asyncio.Event
    task: asyncio.Task[None]


class LogRelay(LogFanOut):
    def __init__(self, server: RelayHost) -> None:
        self.server = server
        self.subscriptions: list[Subscription] = []
        self._server_tails: dict[str, _ServerTail] = {}
        self._site_streams: set[tuple[str, str]] = set()  # (job_id, site) a site pushes to us
        self._site_at: dict[tuple[str, str], int] = {}  # (job_id, site) -> the offset its pushes reached
        self._lagging_tasks: set[asyncio.Task[None]] = set()

    def _server_log(self, job_id: str) -> Path:
        return self.server.workspace / job_id / LOG_FILE

    def _stream_end(self, job_id: str, target: str) -> int | None:
        """Where the live stream of ``target``'s log is (the bytes its lines so far end at); None
        once it has ended (the log is complete on disk)."""
        if target == "server":
            running = self._server_tails.get(job_id)
            return running.tail.delivered if running is not None else None
        return self._site_at.get((job_id, target)) if (job_id, target) in self._site_streams else None

    # -- following and unfollowing -----------------------------------------------------------

    def job_targets(self, job_id: str, meta: dict[str, Any]) -> list[str]:
        """The sites of a job: those it runs on, else those its deploy_map names (``@ALL``: those online)."""
        running = self.server.runner.jobs.get(job_id)
        if running is not None and running.sites:
            return list(running.sites)
        clients = meta.get("job_clients")
        if isinstance(clients, list) and clients:
            return [c.get("name") if isinstance(c, dict) else str(c) for c in clients if c]
        deploy_map = meta.get("deploy_map") or {}
        named = {t for targets in deploy_map.values() if isinstance(targets, list) for t in targets}
        candidates = sorted(self.server.sites.online() | (named - {"server", "@ALL"}))
        return sorted(site_apps(deploy_map, candidates)) if isinstance(deploy_map, dict) else []

    async def subscribe(self, ctx: RequestContext, job_id: str, target: str, lines: int,
                        resume: dict[str, int] | None = None) -> dict[str, Any]:
        """Follow ``target``'s log of a job: the last ``lines`` lines, or from the offsets in
        ``resume`` (target -> bytes already delivered), then every new line. Raises RemoteError:
        JobNotFound, InvalidTarget, AuthorizationError (the server's policy, or a site's own,
        naming the site: then nothing of the follow is sent or kept)."""
        self._check_room(ctx.connection)
        meta = self.server.store.get(job_id)
        if meta is None:
            raise no_such_job(job_id)
        sites = self.job_targets(job_id, meta)
        if target == "all":
            targets = ["server", *sites]
        elif target == "server" or target in sites:
            targets = [target]
        else:
            raise RemoteError(ErrorType.INVALID_TARGET, f"{target} is not a target of job {job_id[:8]}: "
                                                        f"'server', 'all' or one of its sites ({', '.join(sites)})")
        for name in targets:
            require_on_target(ctx, Right.VIEW, name, meta)
        final = str(meta.get("status", "")).startswith("FINISHED")
        resume = {name: at for name, at in (resume or {}).items() if name in targets}
        sub = Subscription(ctx.connection, job_id, set(targets), offsets=dict(resume))
        self.subscriptions.append(sub)
        # Each target first answers whether it lets this user follow (and its first lines); what
        # a resumed follow lacks beyond those is read and sent once all have: in bounded events,
        # paced by the connection, while that target's new lines wait (``holding``).
        rests: list[Callable[[], Awaitable[None]]] = []
        for name in targets:  # a site's pushes (another follower's stream) wait for its own answer
            if name != "server":
                sub.holding[name] = []
        try:
            for name in targets:
                if name == "server":
                    rest = self._follow_server(sub, lines, final, resume.get(name))
                else:
                    rest = await self._follow_site(ctx, sub, name, lines, final, resume.get(name))
                if rest is not None:
                    rests.append(rest)
        except BaseException:  # refused (a site's own policy) or failed: nothing stays followed for it
            self._drop(sub)
            raise
        pending, sub.pending = sub.pending or [], None
        for topic, event in pending:
            self._push(sub, topic, event)
        for rest in rests:
            await rest()
        return {"job_id": job_id, "name": meta.get("name"), "status": meta.get("status"), "targets": targets}

    def _check_room(self, connection: Peer) -> None:
        """RemoteError naming the limit when ``connection`` (or its identity) follows as many logs
        as it may (``MAX_FOLLOWS_PER_SESSION``, ``MAX_FOLLOWS_PER_IDENTITY``)."""
        live = [sub for sub in self.subscriptions if sub.live]
        mine = sum(sub.connection is connection for sub in live)
        if mine >= MAX_FOLLOWS_PER_SESSION:
            raise RemoteError(ErrorType.INVALID_ARGUMENT,
                              f"follow: this session follows {mine} logs already (limit {MAX_FOLLOWS_PER_SESSION} "
                              "per session); unfollow some (unfollow JOB_ID, or unfollow all) first")
        cn = connection.identity.cn
        theirs = sum(sub.connection.identity.cn == cn for sub in live)
        if theirs >= MAX_FOLLOWS_PER_IDENTITY:
            raise RemoteError(ErrorType.INVALID_ARGUMENT,
                              f"follow: {cn} follows {theirs} logs already over all its sessions (limit "
                              f"{MAX_FOLLOWS_PER_IDENTITY} per user); unfollow some in its other sessions first")

    def _follow_server(self, sub: Subscription, lines: int, final: bool,
                       start: int | None) -> Callable[[], Awaitable[None]] | None:
        path = self._server_log(sub.job_id)
        running = self._server_tails.get(sub.job_id)
        if final:  # nothing more will come: the lines asked for, the rest of the file, and the end
            if start is None:
                tail, backlog = LogTail.from_last_lines(path, lines, "server")
                self._send(sub, "server", backlog, tail.delivered)
                start = tail.delivered
            sub.holding["server"] = []
            self._end(sub, "server")
            return self._catch_up(sub, "server", self._read_file(path, None, True), start)
        if running is None:
            if start is None:
                tail, backlog = LogTail.from_last_lines(path, lines, "server")
                self._send(sub, "server", backlog, tail.delivered)
            else:  # from the end of its complete lines: the follower's gap comes bounded, below
                tail = LogTail.from_last_lines(path, 1, "server")[0]
            stop = asyncio.Event()
            job_id = sub.job_id
            task = asyncio.create_task(follow(tail, lambda new: self._fan_out(job_id, "server", new, tail.delivered),
                                              stop, notice=lambda line: self._fan_out(job_id, "server", [line])))
            running = self._server_tails[sub.job_id] = _ServerTail(tail, stop, task)
            task.add_done_callback(lambda _t: self._server_tails.pop(sub.job_id, None))
            if start is None:
                return None
        # The running tail carries on for every follower from where it is: what this one lacks
        # up to there (the last lines, or from its offset) is read here.
        end = running.tail.delivered
        if start is None:
            self._send(sub, "server", last_lines(path, end, lines, "server"), end)
            return None
        sub.holding["server"] = []
        return self._catch_up(sub, "server", self._read_file(path, end, False), start)

    async def _follow_site(self, ctx: RequestContext, sub: Subscription, site: str, lines: int, final: bool,
                           start: int | None) -> Callable[[], Awaitable[None]] | None:
        link = self.server.sites.get(site)
        if final and start is not None and link is not None:  # resumed after the job ended: the rest
            sub.holding[site] = []
            try:  # the first part here: a site that refuses this follower refuses the whole follow
                reply = await site_answers.ask(site, link.link, "read_log",
                                               {"job_id": sub.job_id, "offset": start, **who(sub)},
                                               timeout=SITE_REQUEST_TIMEOUT)
            except AuthorizationError as exc:
                sub.holding.pop(site, None)
                raise refused(site, exc) from None
            except Exception as exc:
                self._send(sub, site, [f"[{site}: the rest of its log cannot be read now: {exc}]"], direct=True)
                reply = None
            self._end(sub, site)
            got = [str(line) for line in reply["lines"]] if reply else []
            if not got:
                self._release_held(sub, site)
                return None
            sub.offsets.pop(site, None)  # the gap from its offset (past the log's end: from its start)
            self._send(sub, site, got, offset_of(reply), direct=True)
            if offset_of(reply) == start:  # no advance: the line saying why its log cannot be read
                self._release_held(sub, site)
                return None
            return self._catch_up(sub, site, self._read_site(sub, site, None), offset_of(reply) or start)
        if final or link is None:
            # A finished job's log on a site, or a site away: what the site has now, once (get_job_logs).
            # Resumed with the site away: it is asked from the offset when it is back (_site_back).
            if start is None:
                self._send(sub, site, await self._site_log_now(ctx, sub.job_id, site, lines) if lines else [])
            if final:
                self._end(sub, site)
            self._release_held(sub, site)
            return None
        return await self._ask_site(site, sub, lines, start)

    async def _ask_site(self, site: str, sub: Subscription, lines: int,
                        offset: int | None = None) -> Callable[[], Awaitable[None]] | None:
        """Have ``site`` push its log of the job to this follower; resuming, the rest of what it
        lacks up to the site's stream comes by the callable returned. Raises RemoteError
        (AuthorizationError naming the site) when the site's own policy refuses the follower."""
        link = self.server.sites.get(site)
        if link is None:
            return None
        # Pushes that arrive while the site answers wait: its answer (what this follower lacks
        # up to where the site's stream is) goes first; what the follower has is not sent again.
        sub.holding.setdefault(site, [])
        reply = None
        try:
            reply = await site_answers.ask(site, link.link, "follow_log", {
                "job_id": sub.job_id, "lines": lines, "offset": offset, **who(sub)}, timeout=SITE_REQUEST_TIMEOUT)
            self._site_streams.add((sub.job_id, site))
        except AuthorizationError as exc:  # not one line of that site's log for this follower
            sub.holding.pop(site, None)
            raise refused(site, exc) from None
        except MalformedAnswer as exc:  # that site's log is not followed; the other targets' are
            self._send(sub, site, [f"[{exc.message}: its log is not followed]"], direct=True)
            self._end(sub, site)
            self._release_held(sub, site)
            return None
        except BaseException:  # the site did not answer: what came meanwhile, and an end, still go
            self._release_held(sub, site)
            raise
        if isinstance(reply, dict) and isinstance(reply.get("lines"), list):
            if offset is not None:  # the gap from its offset (past the log's end: from its start)
                sub.offsets.pop(site, None)
            self._send(sub, site, [str(line) for line in reply["lines"]], offset_of(reply), direct=True)
            end, until = offset_of({"offset": reply.get("end")}), offset_of(reply)
            notice = until == offset and bool(reply["lines"])  # why the log cannot be read: nothing follows
            if offset is not None and end is not None and until is not None and until < end and not notice:
                return self._catch_up(sub, site, self._read_site(sub, site, end), until)
        self._release_held(sub, site)
        return None

    async def _site_back(self, site: str) -> None:
        """A site that reconnected pushes nothing yet: ask it again for the logs still followed there,
        from where each follower's log ended (from the end for one that had no line of it yet)."""
        for sub in [s for s in self.subscriptions if s.live and site in s.targets - s.ended]:
            try:  # the site pushes one stream per job however often it is asked
                rest = await self._ask_site(site, sub, 0, sub.offsets.get(site))
                if rest is not None:
                    await rest()
            except RemoteError as exc:  # its policy refuses this follower now: that log ends here for it
                self._send(sub, site, [f"[{exc.message}: its log is not followed any more]"])
                self._end(sub, site)
            except Exception as exc:
                log.info("site %s did not take up the log of job %s again: %s", site, sub.job_id, exc)

    async def _site_log_now(self, ctx: RequestContext, job_id: str, site: str, lines: int) -> list[str]:
        try:
            text = await run_on_target(ctx, site, "tail", f"-n {lines}", LOG_FILE, None, Right.VIEW, job_id)
        except AuthorizationError as exc:
            raise refused(site, exc) from None
        except Exception as exc:  # the site is away or has no log: say so in the stream
            return [f"[{site}: its log cannot be read now: {exc}]"]
        return text.splitlines()

    def _drop(self, sub: Subscription) -> None:
        """Forget a subscription that did not come about; streams nobody else follows stop."""
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)
        sub.holding.clear()
        asyncio.get_running_loop().create_task(self._release(sub.job_id))

    async def unsubscribe(self, connection: Peer, which: str) -> int:
        chosen = [s for s in self.subscriptions
                  if s.connection is connection and (which == "all" or s.job_id.startswith(which))]
        for sub in chosen:
            self.subscriptions.remove(sub)
        for job_id in {s.job_id for s in chosen}:
            await self._release(job_id)
        return len(chosen)

    async def _release(self, job_id: str) -> None:
        """Stop the streams of a job that nobody follows any more."""
        wanted = {t for s in self.subscriptions if s.job_id == job_id and s.live for t in s.targets - s.ended}
        tail = self._server_tails.get(job_id)
        if tail is not None and "server" not in wanted:
            tail.stop.set()
        for stream in [st for st in self._site_streams if st[0] == job_id and st[1] not in wanted]:
            self._site_streams.discard(stream)
            self._site_at.pop(stream, None)
            site = self.server.sites.get(stream[1])
            if site is not None:
                with contextlib.suppress(Exception):
                    await site.link.request("unfollow_log", {"job_id": job_id}, timeout=SITE_REQUEST_TIMEOUT)

    def on_event(self, topic: str, data: dict[str, Any]) -> None:
        """Every event the server publishes passes here: a final status ends the job's streams, a
        site that connects again is asked for the logs still followed there."""
        if topic == "site_status" and data.get("status") == "connected" and self.subscriptions:
            asyncio.get_running_loop().create_task(self._site_back(str(data.get("site"))))
            return
        if topic != "job_status" or not JobStatus(data["status"]).is_final:
            return
        job_id = data["job_id"]
        tail = self._server_tails.pop(job_id, None)
        if tail is not None:  # the server app has exited: the rest of its log is on disk now
            tail.task.cancel()
            while rest := tail.tail.read(final=True):
                self._fan_out(job_id, "server", rest, tail.tail.delivered)
        for sub in [s for s in self.subscriptions if s.job_id == job_id]:
            for target in sorted(sub.targets - sub.ended):
                self._end(sub, target)
        self._site_streams = {st for st in self._site_streams if st[0] != job_id}
        self._site_at = {st: at for st, at in self._site_at.items() if st[0] != job_id}


@handles("follow")
async def follow_handler(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("job_id"):  # (the console names the one job not ended itself; a request must name it)
        raise RemoteError(ErrorType.INVALID_ARGUMENT, "follow needs a job: follow JOB [all|server|SITE]")
    job_id = resolve_job(ctx, args["job_id"])
    return await ctx.server.log_relay.subscribe(ctx, job_id, args["target"] or "server", args["lines"],
                                                resume_offsets(args.get("resume")))


@handles("unfollow")
async def unfollow_handler(ctx: RequestContext, args: dict[str, Any]) -> int:
    return await ctx.server.log_relay.unsubscribe(ctx.connection, args["job_id"])
