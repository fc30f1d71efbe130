"""The backend interface: everything the shell and batch mode ask of an engine.

Small on purpose: one generic ``request`` for registry commands whose answer is shown as
it is, and named operations only where the console does work of its own around the call
(uploading a job folder, unpacking a download, following a job, filling completion data).

Errors are the exceptions of ``console.api.errors`` (``JobNotFound``, ``NoConnection``,
``AuthorizationError``, ...), whatever the engine: a backend translates its engine's
exceptions into those, so the shell and batch mode handle one set.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from console.api.errors import NoConnection
from console.api.spec import MonitorReturnCode
from console.commands import Engine
from console.wire.answers import MalformedAnswer

#: ``listener(topic, data)``. Topics: ``job_status`` (data: job_id, name, status),
#: ``job_deleted`` (job_id), ``site_status`` (site, status "connected"/"disconnected"; ours adds, to
#: "disconnected", not_answering: True when it dropped the site for missing its heartbeat, which may come back).
#: Ours pushes them from the server; FLARE's backend derives them from its polls.
EventListener = Callable[[str, dict[str, Any]], None]
#: ``listener(up)``: the connection to the server came up (True) or went down (False).
StateListener = Callable[[bool], None]
#: ``cb(meta) -> keep_going``, called after every status check of a followed job.
MonitorCallback = Callable[[dict[str, Any]], Awaitable[bool] | bool]
#: ``on_lines(target, lines)``: new lines of a followed job log; ``target`` is "server" or a site. When it has a
#: ``note(target, text)`` method, a backend may say with it what it learnt of a target itself (FLARE: a site that
#: stopped answering, or answers again: ``nvflare_logs``).
LogLines = Callable[[str, list[str]], None]
#: The key of a meta a monitor's callback gets naming the job's sites that did not answer the engine's last check
#: of them (a list; absent: not known). FLARE's monitor checks them (``nvflare_monitor``); the shell says when a
#: site stops answering and when it answers again (``console.shell.monitors``).
SITES_SILENT = "sites_not_answering"
#: The key of a meta naming the job's sites that answer but no longer run the RUNNING job (a site restarted, its
#: job process killed: FLARE's job waits for it); a list, absent when not known (``nvflare_monitor``).
SITES_WITHOUT_JOB = "sites_without_the_job"


def note_round(seen: dict[str, dict[str, Any]], job_id: str, at: int, num_rounds: int | None,
               metrics: dict[str, float] | None = None) -> None:
    """Keep round ``at`` (counted from 1) of ``job_id`` in ``seen`` (``Backend.rounds_seen``) unless a later
    one is kept already: rounds only go up. ``metrics``, when given, are that round's."""
    known = seen.get(job_id)
    if known is not None and isinstance(known.get("round"), int) and known["round"] > at:
        return
    kept = {"round": at, "num_rounds": num_rounds or (known or {}).get("num_rounds"),
            "metrics": dict(metrics or {})}
    if known is not None and known.get("round") == at and not metrics:
        kept["metrics"] = known.get("metrics") or {}
    seen[job_id] = kept


class LogStream:
    """A followed job log (``Backend.follow_log``): which job and targets, and when it is over.

    ``done`` is set once every target's log has ended with the job (the last line was
    delivered), or when following failed (``error`` says why, e.g. ``NoConnection``);
    ``close()`` stops following earlier. ``resume`` says where each target's delivered log
    ended (the backend's own data: byte offsets on ours, FLARE's polling cursors): handed back
    to ``follow_log`` after a dropped connection, following goes on from there. Made by
    backends only.
    """

    def __init__(self, job_id: str, name: str, targets: list[str],
                 closer: Callable[[], Awaitable[None]]) -> None:
        self.job_id = job_id
        self.name = name
        self.targets = targets
        self.done = asyncio.Event()
        self.error: BaseException | None = None
        self.resume: dict[str, Any] = {}
        self._closer = closer
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._closer()


class Backend(ABC):
    """One logged-in admin session on one engine, used from one asyncio loop.

    Attributes set by implementations: ``engine``; ``user`` and ``server`` (the login
    name and the server's identity, for the prompt and the toolbar); ``pushes``.
    """

    engine: Engine
    user: str
    server: str
    #: Whether the server pushes job and site events (ours); without, they come from polls and
    #: completion data is refreshed now and then.
    pushes: bool = True
    #: Whether ``request``'s ``on_answer`` runs on a thread of the backend's own (FLARE's worker)
    #: rather than on the loop: the loop may then wait for it without holding it up.
    answers_off_loop: bool = False
    #: Whether, after this console's own ``shutdown server|all``, the shell reconnects when the server
    #: is started again. FLARE's server keeps taking logins for seconds after its shutdown: a
    #: reconnect then said "reconnected" to a server on its way out, then "lost" (flare9 item 4).
    reconnects_after_own_shutdown: bool = True
    #: This session shut its server down (``shutdown server|all``, set by the shell's executor) and the
    #: server has not come back since: a lost connection is that shutdown, not a fault.
    shut_down_by_you: bool = False
    #: This session restarted its server (``restart server|all``, set by the shell's executor) and has not
    #: reconnected since: the loss of the connection is that restart (the shell says so once, then "reconnected").
    restarting_by_you: bool = False
    #: Sites this session disabled (``disable_client``) and has not enabled since, set by the shell's executor:
    #: neither engine lists a site it turns away, so top shows them from here (flare10 item 17).
    disabled_sites: frozenset[str] = frozenset()
    #: The kit's upload folder (``transfer/``): ``submit_job NAME`` takes a job folder of that
    #: name from there when NAME is no folder here (as FLARE's console does); None when unknown.
    upload_dir: Path | None = None

    # -- connection ----------------------------------------------------------------------

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether the last exchange with the server worked (the toolbar's state)."""

    @property
    def silent(self) -> bool:
        """Whether the server, connected still, has answered nothing for a while, not even a heartbeat
        (ours: ``console.wire.heartbeat``); False where the engine cannot tell."""
        return False

    @property
    def silent_for(self) -> int | None:
        """Whole seconds the server, connected still, has answered nothing, once that is known (ours: a
        heartbeat unanswered past ``console.wire.heartbeat.NOTICE_SECONDS``); None otherwise, and where
        the engine cannot tell. The toolbar says it in place of "connected"."""
        return None

    def add_silence_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (on the shell's loop) whenever ``silent_for`` changes; returns its remover.
        An engine that cannot tell never calls it."""
        return lambda: None

    @property
    def tells_silence(self) -> bool:
        """Whether ``silent_for`` tells this session when the server is silent (ours, with the shell's
        heartbeat). Without (FLARE), a view can only judge by how long its own requests go unanswered; with,
        a request that waits long waits for something else (a frozen site it asked), not for a silent server."""
        return False

    @property
    @abstractmethod
    def closed(self) -> bool:
        """True once ``close`` was called: nothing reconnects any more."""

    @abstractmethod
    async def connect(self) -> None:
        """Connect and log in (again). Raises ``NoConnection`` or ``AuthenticationError``."""

    def refuse_after_own_shutdown(self) -> None:
        """``NoConnection`` at once, nothing asked, after this session's own shutdown of a server that must not
        be reconnected to (``reconnects_after_own_shutdown`` False: FLARE's takes logins for seconds while
        going down). Called first by ``connect``: every background poller (monitors, follows, top, the
        completion refresher) reconnects through it, so none turns "shut down by you" into "reconnecting"
        (flare10 item 5)."""
        if self.shut_down_by_you and not self.reconnects_after_own_shutdown:
            raise NoConnection("the server was shut down by you; leave with bye, and open the console again once "
                               "the server is started again")

    @abstractmethod
    async def close(self) -> None:
        """Log out and release everything; idempotent."""

    @abstractmethod
    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener`` on every connection change; returns a function that removes it."""

    @abstractmethod
    def add_event_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` on job and site events (see ``EventListener``); returns its remover."""

    # -- commands ------------------------------------------------------------------------

    @abstractmethod
    async def request(self, command: str, args: dict[str, Any], on_answer: Callable[[Any], None] | None = None) -> Any:
        """Run a registry command (``CATALOG[command]``) with its wire arguments; its answer.

        Only commands whose ``engines`` include this backend's engine are sent; job IDs may
        be unique prefixes. ``on_answer(answer)``, when given, may be called with the answer as
        soon as it arrives, before this returns and on another thread (FLARE's worker: the
        shell shows the answer from there, ``early.py``); a backend may also never call it.
        Such a backend calls ``on_answer.handed_over()``, when it has one, on the loop's thread
        right after the request went to that thread: the caller may hold the loop there, off
        the GIL, until the answer is shown (``nvflare_worker``).
        """

    @abstractmethod
    async def submit_job(self, job_folder: str, submit_token: str | None = None) -> str:
        """Upload a local job folder; the new job's ID (with ``submit_token``, the one that token
        already made, as FLARE 2.9). ``InvalidJobDefinition`` if it is not one."""

    @abstractmethod
    async def clone_job(self, job_id: str) -> str:
        """Submit a copy of a job; the new job's ID."""

    @abstractmethod
    async def download_job(self, job_id: str, destination: str | None) -> str:
        """Download a job's definition and workspaces; the local folder they are in."""

    def download_probe(self, job_id: str, destination: str | None) -> Callable[[], int] | None:
        """For a ``download_job`` about to start: a function giving the bytes received so far (for a
        progress line), or None when this engine's download cannot be watched (``backends.spools``)."""
        return None

    @abstractmethod
    async def get_job_meta(self, job_id: str) -> dict[str, Any]:
        """The job's meta (FLARE's keys: job_id, name, status, ...); the ID may be a unique prefix."""

    @abstractmethod
    async def list_jobs(self, newest: int | None = None) -> list[dict[str, Any]]:
        """Every job (the ``newest`` only, when given), newest first, as rows with at least job_id, a
        name and status (completion data). With ``newest``, at most that many rows whatever the
        server sends, read without holding the event loop for long (a person types meanwhile)."""

    async def refuse_before_asking(self, command: str, args: dict[str, Any]) -> None:  # noqa: B027 (a hook)
        """Raise the error the server would refuse destructive ``command`` with, where the backend can tell
        before the console asks "are you sure?" (FLARE: running jobs, sites still up); by default nothing."""

    @abstractmethod
    async def site_names(self, most: int | None = None) -> list[str]:
        """Names of the sites connected now (at most ``most``, read as ``list_jobs`` with ``newest``)."""

    @abstractmethod
    async def folder_names(self, target: str, folder: str) -> list[str]:
        """Names in ``folder`` (a relative path, "" for the participant's folder itself) on ``target``
        ("server" or a site), hidden ones included, a folder's ending in ``/``, in no set order: for
        completing a file command's path. Asked with the engine's own ``ls``, so what it names is
        confined and authorized as the file commands are (none where ``ls`` refuses or finds no folder;
        ``console.backends.folder_listing``). Raises as ``request`` does (``AuthorizationError``, ...)."""

    @abstractmethod
    async def monitor_job(self, job_id: str, timeout: float, interval: float,
                          cb: MonitorCallback | None) -> tuple[MonitorReturnCode, dict[str, Any] | None]:
        """Follow a job until it ends, ``timeout`` seconds pass (0: never) or ``cb`` says stop.

        ``cb(meta)`` runs after every check; ``interval`` bounds the seconds between checks.
        Returns why it ended and the last meta seen. ``NoConnection`` if the link drops.
        """

    @abstractmethod
    async def follow_log(self, job_id: str, target: str, lines: int, on_lines: LogLines,
                         resume: dict[str, Any] | None = None) -> LogStream:
        """Follow a job's log (``log.txt``) on ``target`` ("server", a site of the job, or "all").

        ``on_lines`` first gets the last ``lines`` lines (or, with ``resume`` from an earlier
        stream's ``LogStream.resume``, every line after those it delivered), then only lines written since (ours:
        pushed by the server; FLARE: polled with FLARE's own ``ls``/``tail`` by size, never the
        whole log). ``JobNotFound`` for an unknown job, ``InvalidTarget`` for a target that is
        not one of the job's. On a finished job the stream is done once what exists was sent.
        """

    @property
    def rounds_seen(self) -> dict[str, dict[str, Any]]:
        """The last round the console saw of each job this session, ``{job_id: {"round": k (from 1),
        "num_rounds": n or None, "metrics": {...}}}``: views opened later (``top``) start from it. FLARE
        records no rounds in a job's meta, so once its job ended nothing else would tell them again."""
        seen = self.__dict__.get("_rounds_seen")
        if seen is None:
            seen = self.__dict__["_rounds_seen"] = {}
        return seen

    def right_condition(self, right: str) -> str | None:
        """This user's condition on a right (FLARE's: "any", "none", "n:submitter", "o:submitter",
        "o:site") as the server's policy grants it, or None when the engine does not say.

        Lets the console refuse a command before asking to confirm it; the server checks again.
        """
        return None

    @property
    def org(self) -> str:
        """The logged-in user's organisation ("" when unknown)."""
        return ""

    def supports(self, command: str) -> bool:
        from console.commands import NAMES

        spec = NAMES.get(command)
        return spec is not None and spec.supports(self.engine)


def client_names(status: Any, limit: int | None = None) -> list[str]:
    """The sites named in a ``check_status server`` answer (``clients``: ``{"client_name": ...}``
    each), sorted, the first ``limit`` of them; an entry without a name is passed over.
    MalformedAnswer for an answer that is no status with a list of clients."""
    clients = status.get("clients", []) if isinstance(status, dict) else None
    if not isinstance(clients, list):
        raise MalformedAnswer("the server's answer to check_status is no status with a list of clients")
    names = [c["client_name"] for c in clients[:limit] if isinstance(c, dict) and isinstance(c.get("client_name"), str)
             and c["client_name"]]
    return sorted(names)
