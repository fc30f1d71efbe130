"""The backend on NVIDIA FLARE 2.9: FLARE's own ``flare_api`` Session, never its wire protocol.

FLARE's calls block and its Session is not meant for concurrent calls, so every call runs
on one dedicated worker thread, one after another (``nvflare_worker``); the asyncio loop (the
prompt, the toolbar, monitors) only awaits them. Logging in is ``nvflare_login``'s, resolving job ID
prefixes ``nvflare_job_ids``', a monitor's loop ``nvflare_monitor``'s. FLARE has no push: job status changes come from ONE
shared poll (``nvflare_poll.JobPoll``) that checks each followed job at its own pace (fast
where a change is likely), however many monitors follow it, and turns changes into the same
``job_status`` events our server pushes. The poll has a FLARE Session and worker of its own
(``nvflare_side``), so that its checks and the user's commands never wait for each other.

Importing this module imports nvflare (the ``[nvflare]`` extra); ``opening`` imports it
only for a FLARE kit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.api import errors
from console.api.async_session import CHANGES_JOBS
from console.api.spec import MonitorReturnCode
from console.backends import nvflare_shutdown
from console.backends.base import (
    Backend,
    EventListener,
    LogLines,
    LogStream,
    MonitorCallback,
    StateListener,
    client_names,
)
from console.backends.folder_listing import long_listing_names
from console.backends.kits import KitInfo
from console.backends.nvflare_commands import COMMANDS, list_jobs, refuse_remove_client, submit_a_copy
from console.backends.nvflare_errors import reworded, server_address, translate
from console.backends.nvflare_job_ids import resolve_job_id, with_job_ids_resolved
from console.backends.nvflare_login import login
from console.backends.nvflare_monitor import monitor_job
from console.backends.nvflare_owner import CLONE_JOB, DOWNLOAD_JOB
from console.backends.nvflare_poll import JobPoll
from console.backends.nvflare_shutdown import server_started
from console.backends.nvflare_side import SideSession
from console.backends.nvflare_site_timeout import server_answers, site_silence, worth_asking
from console.backends.nvflare_worker import FlareWorker
from console.backends.spools import UUID_GLOB, spool_probe
from console.commands import CATALOG, Engine
from console.local_paths import missing_job_folder
from console.within import within

#: Seconds allowed for FLARE's logouts when the console leaves.
CLOSE_TIMEOUT = 3.0
#: The same when the link is down already (the server stopped or unreachable): nothing would answer.
CLOSE_WHEN_DOWN = 0.5
#: Seconds the user's Session is idle before the poll's logs in ahead (``FlareBackend._warm_up_when_idle``).
WARM_UP_IDLE = 1.0


class FlareBackend(Backend):
    engine = Engine.NVFLARE
    pushes = False
    reconnects_after_own_shutdown = False  # (``Backend``'s: FLARE's server answers while going down)
    answers_off_loop = True  # (``nvflare_worker``: FLARE's calls and their answers run on its thread)

    def __init__(self, kit: KitInfo, user: str, timeout: float = 10.0, study: str | None = None) -> None:
        self.kit = kit
        self.user = user
        self.study = study  # FLARE's study of the Session (and the poll's); None: FLARE's default
        self.server = _server_identity(kit)
        self.upload_dir = kit.root / str(_admin_section(self.kit).get("upload_dir") or "transfer")
        self.address = server_address(kit.root)  # host:port, for messages
        self.timeout = timeout
        self._session: Any = None
        self._worker = FlareWorker("flare-api", translate)
        self._connected = False
        self._closed = False
        self._connect_lock: asyncio.Lock | None = None
        self._state_listeners: list[StateListener] = []
        self._event_listeners: list[EventListener] = []
        self.poll = JobPoll(self)
        self._side = SideSession(self._login, translate, "flare-poll")
        self._warm_up: asyncio.Task[None] | None = None
        #: server_start_time (epoch s) of the server this console restarted, until it is back (``_unless_the_old_server``).
        self._restarted_from: float | None = None
        self._in_flight = 0  # the user's calls under way (on the worker or queued for it)
        self._last_call = 0.0  # time.monotonic() the last one ended

    # -- connection ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def closed(self) -> bool:
        return self._closed

    def _set_state(self, up: bool) -> None:
        if up != self._connected:
            self._connected = up
            for listener in list(self._state_listeners):
                listener(up)

    async def connect(self) -> None:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:  # monitors and the shell may all ask at once after a drop
            if self._closed:
                raise errors.SessionClosed("session closed")
            if self._connected and self._session is not None:
                return
            self.refuse_after_own_shutdown()
            old, self._session = self._session, None
            self._session = await self._worker.run(self._login, old)
            if self._restarted_from is not None:
                await self._unless_the_old_server()
        self._set_state(True)

    async def _unless_the_old_server(self) -> None:
        """After this console's ``restart server|all``: the login is kept only on the restarted server (a later
        ``server_start_time``). FLARE's server takes logins for seconds while it goes down: reconnecting to it
        then said "reconnected", then "lost" again (flare10 item 17). NoConnection while it is the old one."""
        started = await self._worker.run(server_started, self._session)
        if started is not None and self._restarted_from is not None and started <= self._restarted_from:
            session, self._session = self._session, None
            with contextlib.suppress(Exception):
                await within(self._worker.run(session.close), CLOSE_WHEN_DOWN)
            raise errors.NoConnection(f"the FLARE server at {self.address} is still restarting")
        self._restarted_from = None

    def _login(self, old: Any) -> Any:
        return login(self.user, self.kit.root, self.timeout, old, **({"study": self.study} if self.study else {}))

    async def close(self) -> None:
        """Log both Sessions out, at once and within ``CLOSE_TIMEOUT`` s; ``CLOSE_WHEN_DOWN`` s when the link is
        known to be down (a logout would only wait for FLARE's timeouts). What is still under way then (a
        reconnect's login, a logout) is left to its thread; the program does not wait for it
        (``console.quick_exit``)."""
        if self._closed:
            return
        self._closed = True
        was_up = self._connected
        await self.poll.stop()
        if self._warm_up is not None:
            self._warm_up.cancel()
        budget = CLOSE_TIMEOUT if was_up else CLOSE_WHEN_DOWN
        session, self._session = self._session, None
        logouts = [self._side.close(budget)]
        if session is not None:
            logouts.append(self._worker.run(session.close))
        with contextlib.suppress(Exception):
            await within(asyncio.gather(*logouts, return_exceptions=True), budget)
        self._worker.shutdown()
        self._set_state(False)

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener)

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        for listener in list(self._event_listeners):
            listener(topic, data)

    def note_status(self, meta: dict[str, Any]) -> None:
        """A job's meta was seen: publish ``job_status`` when its status is new to us."""
        job_id, status = meta.get("job_id"), meta.get("status")
        if isinstance(job_id, str) and isinstance(status, str) and self.poll.statuses.get(job_id) != status:
            self.poll.statuses[job_id] = status
            self._publish("job_status", {"job_id": job_id, "name": meta.get("name"), "status": status})

    # -- calls on the worker ---------------------------------------------------------------

    async def call(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any],
                   goes_on: str | None = None, then: Callable[[Any], None] | None = None, what: str = "") -> Any:
        """``func(session, args)`` with the live FLARE Session; marks the link down on ``NoConnection`` (not when
        only a site was silent: ``nvflare_site_timeout``).
        ``then(result)`` runs on the worker as soon as the call returned (``FlareWorker.run``). A failure is
        raised in our words (``nvflare_errors.reworded``) naming ``what`` was asked (default: ``func``'s
        name), on the first failed call as on later ones."""
        if self._closed:
            raise errors.SessionClosed("session closed")
        if self._session is None or not self._connected:
            # As our client: the next call after a drop logs in again (a new Session; the old one
            # would only queue calls on the worker behind FLARE's connection timeouts) or raises.
            await self.connect()
        session = self._session
        self._in_flight += 1
        try:
            result = await self._worker.run(func, session, args, goes_on=goes_on, then=then)
        except errors.CancelTooLate:
            raise
        except Exception as exc:
            if isinstance(exc, errors.NoConnection | errors.SessionClosed):
                if self._closed:
                    raise
                if worth_asking(exc, args) and await server_answers(
                        lambda: self._side.call(COMMANDS["check_status"], {"target_type": "server"})):
                    raise site_silence(exc, what or func.__name__.lstrip("_"), args, True) or exc from exc
                if session is self._session:
                    self._set_state(False)
            raise reworded(exc, what or func.__name__.lstrip("_"), self.address) from exc
        finally:
            self._in_flight -= 1
            self._last_call = time.monotonic()
        if not self.shut_down_by_you:  # (a call sent before this console's shutdown, answered on the way down)
            self._set_state(True)
        return result

    async def call_aside(self, func: Callable[[Any, dict[str, Any]], Any], args: dict[str, Any],
                         what: str = "") -> Any:
        """As ``call``, on the poll's own Session (``nvflare_side``): never queued behind the user's calls."""
        if self._closed:
            raise errors.SessionClosed("session closed")
        if self._session is None or not self._connected:
            await self.connect()  # the user's Session says whether FLARE is reachable
        try:
            return await self._side.call(func, args)
        except Exception as exc:
            if isinstance(exc, errors.NoConnection | errors.SessionClosed):
                if self._closed:
                    raise
                self._set_state(False)
            raise reworded(exc, what or func.__name__.lstrip("_"), self.address) from exc

    # -- job IDs -----------------------------------------------------------------------------

    async def resolve_job_id(self, id_or_prefix: str) -> str:
        """The full job ID for a unique prefix, as our server resolves them (``nvflare_job_ids``)."""
        return await resolve_job_id(self.call, id_or_prefix)

    # -- the Backend operations ------------------------------------------------------------------

    async def request(self, command: str, args: dict[str, Any], on_answer: Callable[[Any], None] | None = None) -> Any:
        handler = COMMANDS.get(command)
        if handler is None or not CATALOG[command].supports(self.engine):
            raise errors.InvalidArgumentError(f"{command} is not available on NVIDIA FLARE")
        args = await with_job_ids_resolved(self.call, command, args)
        restarting = command == "restart" and args.get("target_type") in ("server", "all")
        started = await self.call(server_started, {}, what=command) if restarting else None
        try:
            result = await self.call(handler, args, goes_on=command if command in CHANGES_JOBS else None,
                                     then=on_answer, what=command)
            if started is not None:  # reconnected only to the restarted server (``_unless_the_old_server``)
                self._restarted_from = started
        except errors.CancelTooLate:
            if started is not None:  # (sent all the same)
                self._restarted_from = started
            with contextlib.suppress(asyncio.CancelledError):  # a second Ctrl-C: its outcome is known all the same
                await self._after(command, args)
            raise
        return await self._followed(command, result, self._after(command, args))

    async def _followed(self, command: str, result: Any, follow_up: Awaitable[None]) -> Any:
        """``result`` of ``command`` once ``follow_up`` (what the console learns from it: a refreshed
        status) ended. FLARE has done a job-changing command by now, so a cancel during the follow-up
        comes too late: CancelTooLate with ``result`` (as ``nvflare_worker``'s), never a "cancelled"
        that is untrue; the follow-up is given up."""
        if command not in CHANGES_JOBS | {"submit_job"}:
            await follow_up
            return result
        try:
            await follow_up
        except asyncio.CancelledError:
            verb = command.removesuffix("_job").replace("_", " ")
            raise errors.CancelTooLate(command, f"the cancel came after FLARE's {verb} was done",
                                       "done" if result is None else result) from None
        return result

    async def _after(self, command: str, args: dict[str, Any]) -> None:
        """What the console learns from a command that was done: a job gone, a status changed."""
        if command == "delete_job":
            self.poll.statuses.pop(args["job_id"], None)
            self._publish("job_deleted", {"job_id": args["job_id"]})
        elif command == "abort_job":
            await self._refresh_status(args["job_id"])
        elif command in ("shutdown", "restart") and args.get("target_type") in ("server", "all"):
            self._set_state(False)  # FLARE's Session logs out when it stops the server

    async def _refresh_status(self, job_id: str) -> None:
        with contextlib.suppress(Exception):
            self.note_status(await self.call(COMMANDS["get_job_meta"], {"job_id": job_id}))

    async def submit_job(self, job_folder: str, submit_token: str | None = None) -> str:
        job_id = await self.call(submit_a_copy, {"folder": self._job_folder(job_folder), "token": submit_token},
                                 goes_on="submit_job", what="submit_job")
        return await self._followed("submit_job", job_id, self._refresh_status(job_id))

    def _job_folder(self, job_folder: str) -> Path:
        """The local folder, or (as FLARE) a folder of that name in the kit's upload dir."""
        given = path = Path(job_folder).expanduser()
        if not path.is_dir() and not path.is_absolute():
            path = self.upload_dir / path if (self.upload_dir / path).is_dir() else path
        if not path.is_dir():
            looked = [given.absolute()] + ([] if given.is_absolute() else [self.upload_dir / given])
            raise errors.InvalidJobDefinition(missing_job_folder(job_folder, looked))
        return path.resolve()

    async def clone_job(self, job_id: str) -> str:
        source = await self.resolve_job_id(job_id)
        new_id = await self.call(CLONE_JOB, {"job_id": source}, goes_on="clone_job", what="clone_job")
        return await self._followed("clone_job", new_id, self._refresh_status(new_id))

    async def download_job(self, job_id: str, destination: str | None) -> str:
        full = await self.resolve_job_id(job_id)
        where = str(Path(destination).expanduser()) if destination else None
        path = await self.call(DOWNLOAD_JOB, {"job_id": full, "destination": where}, goes_on="download_job",
                               what="download_job")
        if not path:
            raise errors.InternalError(f"FLARE returned no download location for {full}")
        return str(path)

    def download_probe(self, job_id: str, destination: str | None) -> Callable[[], int] | None:
        # FLARE receives each file into the temporary folder, then moves it to the kit's download_dir (whatever
        # the destination: it moves the result there after), where it is unzipped.
        prefix = job_id.strip().lower()
        if not prefix or set(prefix) - set("0123456789abcdef-"):  # no job ID (prefix): nothing to look for
            return None
        folder = self.kit.root / str(_admin_section(self.kit).get("download_dir") or "transfer")
        return spool_probe((Path(tempfile.gettempdir()), UUID_GLOB), (folder, f"{prefix}*__*/*.zip"))

    async def get_job_meta(self, job_id: str) -> dict[str, Any]:
        meta = await self.call(COMMANDS["get_job_meta"], {"job_id": await self.resolve_job_id(job_id)})
        self.note_status(meta)
        return meta

    async def list_jobs(self, newest: int | None = None) -> list[dict[str, Any]]:
        # FLARE's Session reads its answer in FLARE's own thread; what it hands on is cut to ``newest``
        # there too (a server that ignores the limit), so nothing big reaches this loop.
        rows = await self.call(lambda s, a: _first(list_jobs(s, a), newest), {"reverse": True, "limit": newest},
                               what="list_jobs")
        if self._warm_up is None:
            # Completion data: only the interactive console asks for it, first right after its
            # prompt showed. From here it may follow a job at any moment: the poll's Session logs in
            # ahead, so that the first monitor is as quick as later ones. (A batch never logs in
            # twice unless it follows a job; an idle console's second Session costs FLARE's server
            # a session entry and nothing per second.)
            self._warm_up = asyncio.get_running_loop().create_task(self._warm_up_when_idle())
        for row in rows:
            if isinstance(row, dict) and isinstance(row.get("job_id"), str) and isinstance(row.get("status"), str):
                self.poll.statuses[row["job_id"]] = row["status"]
        return rows

    async def _warm_up_when_idle(self) -> None:
        """The poll's Session logs in once the user's has been idle ``WARM_UP_IDLE`` s: a command sent
        while a FLARE login runs took 90 ms instead of 8 (benchmarks/flare_first_check.py)."""
        while not self._closed:
            wait = self._last_call + WARM_UP_IDLE - time.monotonic()
            if wait <= 0 and not self._in_flight:
                self._side.warm_up()
                return
            await asyncio.sleep(max(wait, 0.25))  # (a long call under way: look again now and then)

    async def refuse_before_asking(self, command: str, args: dict[str, Any]) -> None:
        """FLARE's refusals known before acting, in our server's words (``console.stop_refusals``)."""
        if command in ("shutdown", "restart"):
            await self.call(nvflare_shutdown.refuse_before_asking, {**args, "command": command}, what=command)
        elif command == "remove_client":
            await self.call(refuse_remove_client, args, what=command)

    async def site_names(self, most: int | None = None) -> list[str]:
        return client_names(await self.call(COMMANDS["check_status"], {"target_type": "server"}), most)

    async def folder_names(self, target: str, folder: str) -> list[str]:
        # On the poll's Session: completion never queues behind the user's commands (nor they behind it).
        answer = await self.call_aside(lambda s, a: s.ls_target(a["target"], "-al", a["path"]),
                                       {"target": target, "path": f"{folder}/" if folder else None}, what="ls")
        return await asyncio.to_thread(long_listing_names, answer)

    async def monitor_job(self, job_id: str, timeout: float, interval: float,
                          cb: MonitorCallback | None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        return await monitor_job(self, job_id, timeout, interval, cb)

    async def follow_log(self, job_id: str, target: str, lines: int, on_lines: LogLines,
                         resume: dict[str, Any] | None = None) -> LogStream:
        from console.backends.nvflare_logs import follow_log

        return await follow_log(self, job_id, target, lines, on_lines, resume)


def _first(rows: Any, newest: int | None) -> Any:
    """``rows`` cut to the ``newest`` first (a list, newest first), or as they are."""
    return rows[:newest] if newest is not None and isinstance(rows, list) else rows


def _server_identity(kit: KitInfo) -> str:
    admin = _admin_section(kit)
    return str(admin.get("server_identity") or admin.get("host") or "server")


def _admin_section(kit: KitInfo) -> dict[str, Any]:
    """The ``admin`` section of the kit's ``startup/fed_admin.json``."""
    return json.loads((kit.root / "startup" / "fed_admin.json").read_text()).get("admin", {})
