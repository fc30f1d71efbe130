"""What keeps ``top``'s rows current: the backend's events as they come, and polls.

On our server job and site events are pushed and applied at once (the screen follows
within milliseconds); the poll every ``PUSHED_POLL_SECONDS`` fills what is never pushed
(heartbeats, CPU and memory, elapsed times). On FLARE nothing is pushed: everything comes
from the poll, every ``POLLED_POLL_SECONDS``, with FLARE's own calls (``check_status``,
``sys_info``, ``list_jobs``, ``show_stats``, ``get_job_meta``).

A job that ran before top opened (or appears while it is open) has its meta read in the
background, once per status it is seen in, as ``plot`` reads it: its start time, sites, and
the last round the server recorded with that round's metrics, so the row does not wait for
the next pushed round (or shows the last one of a job that ended). Running jobs are read
first, then queued ones, then ended ones, newest first, on both engines: FLARE records no rounds in
a meta, but an ended job's sites (its deploy_map) are there only, and a view that read them only while
the job ran showed SITES of a job that ended while it was open, "-" of one that ended before (and so
did a snapshot: session 12's user, item 1). A queued (SUBMITTED) job's meta is read again every
``WAITING_REREAD_SECONDS`` on both engines: the scheduler's reason to let it wait (its
``schedule_history``, shown in the job's row) changes with each try, not its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from console.backends.base import Backend
from console.shell.top.answers import find_round
from console.shell.top.model import TopModel, answered

PUSHED_POLL_SECONDS = 2.0
POLLED_POLL_SECONDS = 1.0
#: Sites (heartbeats, CPU, memory) are asked every this many polls on an engine without pushes:
#: FLARE's calls queue on one thread, and the jobs' rounds matter more.
SITES_EVERY = 3
#: Jobs listed at most (newest first): top is about what runs now.
MAX_JOBS = 50
#: Sites asked one by one when asking them all at once failed (each silent one costs FLARE's command timeout).
ALONE_SITES = 8
#: How often a queued job's meta is read again for why it waits: FLARE 2.9's scheduler tries a job at most every
#: 10 s (its ``min_schedule_interval``, doubling), ours from 0.5 s doubling to a minute.
WAITING_REREAD_SECONDS = 5.0
#: Seconds between a snapshot's two CPU readings of the sites (the view's come a poll apart).
CPU_SAMPLE_SECONDS = 1.0


class TopFeed:
    def __init__(self, backend: Backend, model: TopModel, on_change: Callable[[], None]) -> None:
        self.backend = backend
        self.model = model
        self.on_change = on_change
        self.interval = PUSHED_POLL_SECONDS if backend.pushes else POLLED_POLL_SECONDS
        self.error: str | None = None  # the last poll's failure, shown in the footer
        self.polled_at: float | None = None
        #: time.monotonic() the last poll that worked ended: how old the rows are (the header says so
        #: when the server stopped answering); None until one did.
        self.fresh_at: float | None = None
        # Metas read, and to be read (in the order seen), per job and status: a job read while queued
        # is read again once it runs (its start time and deployed sites are written then).
        self._metas: set[tuple[str, str]] = set()
        self._unread: dict[tuple[str, str], None] = {}
        self._waits_read: dict[str, int] = {}  # a queued job's last WAITING_REREAD_SECONDS turn it was read in
        self._wake = asyncio.Event()
        self._remove: Callable[[], None] | None = None
        self._polls = 0

    def on_event(self, topic: str, data: dict[str, Any]) -> None:
        if self.model.apply_event(topic, data):
            if topic == "job_status" and isinstance(data.get("job_id"), str):
                self._want_meta(data["job_id"])  # a job that appeared: what has it recorded so far?
            self.on_change()

    def _want_meta(self, job_id: str) -> None:
        row = self.model.jobs.get(job_id)
        if row is None:
            return
        key = (job_id, row.status)
        waiting = row.status == "SUBMITTED"
        if waiting:  # read again every few seconds while it waits: the reason, not the status, changes
            turn = int(time.monotonic() // WAITING_REREAD_SECONDS)
            if self._waits_read.get(job_id) == turn or key in self._unread:
                return
            self._waits_read[job_id] = turn
        elif key in self._metas or key in self._unread:
            return
        self._unread[key] = None
        self._wake.set()

    async def _read_metas(self) -> None:
        """Reads the wanted metas while top is open, as they come to be wanted."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.read_wanted_metas()

    async def read_wanted_metas(self) -> None:
        """Reads the metas wanted so far, one at a time (running jobs first)."""
        while self._unread:
            key = next((k for k in self._unread if k[1] == "RUNNING"), next(iter(self._unread)))
            del self._unread[key]
            job_id = key[0]
            if job_id not in self.model.jobs:
                continue  # deleted, or no longer listed, meanwhile
            self._metas.add(key)  # also when refused: asked again when the status changes, not each poll
            try:
                meta = await self.backend.get_job_meta(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # deleted meanwhile, not to be viewed, or a dropped link: the row stays
                continue
            if job_id in self.model.jobs and isinstance(meta, dict) and meta.get("job_id") == job_id:
                self.model.apply_meta(meta)
                self.on_change()

    async def settle(self) -> None:
        """What the view shows once it has settled, read at once, for a snapshot (``top > FILE``, a batch's
        ``top``): a poll, then what the running view reads after it in the background (the metas of the jobs
        listed: start times, sites, recorded rounds and metrics) and, where the sites report their CPU time,
        a second ``sys_info`` ``CPU_SAMPLE_SECONDS`` after the first (a share of a CPU takes two readings).
        The same rows from the same answers as the view: a snapshot read before them showed SITES, ROUND,
        ELAPSED, METRICS and CPU as "-" where the view had them (session 12's user, item 1). Raises what the
        poll raises."""
        await self.poll()
        self.fresh_at = time.monotonic()
        await self.read_wanted_metas()
        if self.model.cpu_pending():
            await asyncio.sleep(CPU_SAMPLE_SECONDS)
            with contextlib.suppress(Exception):  # as the poll's own: a role without 'operate' sees the rest
                self.model.apply_sys_info(*await self._read_sys_info())

    async def run(self) -> None:
        self._remove = self.backend.add_event_listener(self.on_event)
        reader = asyncio.create_task(self._read_metas())
        try:
            while True:
                began = time.monotonic()
                try:
                    await self.poll()
                    self.error = None
                    self.fresh_at = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the view stays; the footer says what failed
                    self.error = f"{type(exc).__name__}: {exc}"
                self.polled_at = time.time()
                self.on_change()
                await asyncio.sleep(max(self.interval - (time.monotonic() - began), 0.05))
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if self._remove is not None:
                self._remove()

    async def poll(self) -> None:
        self._polls += 1
        if self.backend.pushes or self._polls % SITES_EVERY == 1:
            await self._poll_sites()
        rows = await self.backend.request("list_jobs", {"reverse": True, "limit": MAX_JOBS})
        self.model.apply_jobs(rows if isinstance(rows, list) else [])
        for row in self.model.ordered_jobs():
            self._want_meta(row.job_id)
        for row in [r for r in self.model.jobs.values() if r.running]:
            await self._running_job(row.job_id)

    async def _poll_sites(self) -> None:
        """``check_status server`` (who is connected, their heartbeats), applied as soon as it is read once a poll
        worked; then ``check_status client`` (each site's state and jobs) and ``sys_info client`` (CPU, memory)
        asked at once, not one after the other, the CPU reading dated when it came: a slow answer (a frozen
        site FLARE waits its command timeout for) holds neither the heartbeat ages read before it nor the
        other's answer (session 12: one frozen site showed the healthy site's "connected N s ago" counting up
        ~20 s, two waits in a row)."""
        request = self.backend.request
        status = await request("check_status", {"target_type": "server"})
        clients = [c for c in status.get("clients", []) if isinstance(c, dict)] if isinstance(status, dict) else []
        # Ours: the sites it dropped for not answering, listed apart from the connected ones ("no reply").
        away = status.get("clients_not_answering") if isinstance(status, dict) else None
        silent = [c for c in away if isinstance(c, dict)] if isinstance(away, list) else []
        if self.fresh_at is not None:
            # Who is listed and when each last answered its heartbeat, now: states and job counts stand until asked.
            # Not before a poll worked: rows shown are dated by one ("rows from N s ago" once the server is away).
            self.model.apply_sites(clients, None, None, self.backend.disabled_sites, silent)
            self.on_change()
        if not clients:
            self.model.apply_sites(clients, {}, {}, self.backend.disabled_sites, silent)
            return
        # Both run to their end (sys_info's failure is its own: a role without 'operate' still sees the rest);
        # the states' failure is the poll's.
        rows, infos = await asyncio.gather(self._site_statuses(sorted(str(c.get("client_name")) for c in clients)),
                                           self._read_sys_info(), return_exceptions=True)
        if isinstance(rows, BaseException):
            raise rows
        running: dict[str, int] = {}
        statuses: dict[str, str] = {}
        runs: dict[str, set[str]] = {}  # the jobs each site that answered runs
        for name, job_id, state in rows:
            if answered(state) or name not in statuses:  # a site that runs jobs: one row per job
                statuses[name] = state
            if answered(state):
                runs.setdefault(name, set())
            if answered(state) and job_id and job_id.lower() not in ("no_jobs", "none", "-", "?"):
                running[name] = running.get(name, 0) + 1
                runs[name].add(job_id)
        self.model.apply_sites(clients, running, statuses, self.backend.disabled_sites, silent)
        if not self.backend.pushes:  # (ours pushes a site's loss: its jobs' events say it)
            self.model.apply_site_jobs(runs)
        if isinstance(infos, tuple):
            self.model.apply_sys_info(*infos)

    async def _read_sys_info(self) -> tuple[Any, float]:
        """``sys_info client``'s answer and when it came (time.monotonic()): a CPU share is over the time between
        two readings, not between the polls that applied them."""
        answer = await self.backend.request("sys_info", {"target_type": "client"})
        return answer, time.monotonic()

    async def _site_statuses(self, sites: list[str]) -> list[tuple[str, str, str]]:
        """(site, job ID, status) rows of ``check_status client``. One frozen site fails FLARE's whole call (its
        admin command times out), which would leave every site "connected": then each site is asked alone (at
        most ``ALONE_SITES``), and one that does not answer is a "no_reply" row. None answering: the server
        is the silent one, and the first failure is raised (the footer says it)."""
        try:
            return _site_rows(await self.backend.request("check_status", {"target_type": "client"}))
        except asyncio.CancelledError:
            raise
        except Exception as failed:
            rows: list[tuple[str, str, str]] = []
            for site in sites[:ALONE_SITES]:
                try:
                    rows += _site_rows(await self.backend.request(
                        "check_status", {"target_type": "client", "targets": [site]})) or [(site, "", "no_reply")]
                except asyncio.CancelledError:
                    raise
                except Exception:
                    rows.append((site, "", "no_reply"))
            if all(not answered(status) for _name, _job, status in rows):
                raise failed
            return rows

    async def _running_job(self, job_id: str) -> None:
        row = self.model.jobs.get(job_id)
        if row is None:
            return  # deleted while an earlier job was asked about
        if self.backend.pushes and None not in (row.round, row.num_rounds, row.sites_responded):
            # Rounds are pushed from now on. Not before the round's sites are known too: a row made from the
            # session's rounds seen (``rounds_seen``: a top opened before) has its round but not them, and a
            # stalled round pushes nothing: its SITES stayed "-/2" where a snapshot, which asks, said "2/2".
            return
        with contextlib.suppress(Exception):
            stats = await self.backend.request("show_stats", {"job_id": job_id, "target_type": "server"})
            found = find_round(stats)
            if found is not None:
                self.model.apply_progress(job_id, found)


def _site_rows(answer: Any) -> list[tuple[str, str, str]]:
    """(site, job ID, status) rows of ``check_status client``: ``client_status`` as dicts (ours, and the metas of
    FLARE's rows: status "no_reply" for a site that did not answer), FLARE's ``client_statuses`` as a table
    whose first row names the columns ("No Reply")."""
    if not isinstance(answer, dict):
        return []
    rows = []
    for entry in answer.get("client_status") or []:
        if isinstance(entry, dict):
            rows.append((str(entry.get("client_name", "")), str(entry.get("job_id") or ""),
                         str(entry.get("status") or "")))
    table = answer.get("client_statuses") or []
    if not rows and table and isinstance(table[0], list):
        head = [str(h).lower() for h in table[0]]
        at_site = next((i for i, h in enumerate(head) if "client" in h), 0)
        at_job = next((i for i, h in enumerate(head) if "job" in h), None)
        at_status = next((i for i, h in enumerate(head) if "status" in h), None)
        for row in table[1:]:
            if isinstance(row, list) and len(row) > max(at_site, at_job or 0, at_status or 0):
                rows.append((str(row[at_site]), str(row[at_job] or "") if at_job is not None else "",
                             str(row[at_status] or "") if at_status is not None else ""))
    return rows
