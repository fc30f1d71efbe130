"""The rows ``top`` shows: sites and jobs, updated by events (pushed or polled) and polls.

Pure state, no I/O: ``apply_event`` takes the backend's events (``job_status``,
``job_progress``, ``site_status``, ``job_deleted``), the ``apply_*`` methods the answers of
the feed's polls (``check_status``, ``sys_info``, ``list_jobs``, ``show_stats``). Every
change bumps ``version`` and notes when it happened (``changed_at``, monotonic seconds). The
values in those answers (times, metrics, numbers as strings) are read by ``answers.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from console.backends.base import note_round
from console.backends.nvflare_orphans import ORPHANED, in_words
from console.backends.nvflare_progress import job_sites
from console.durations import duration_seconds
from console.shell.human import seconds
from console.shell.monitors import not_scheduled
from console.shell.top.answers import as_float, epoch, is_number, latest_metrics, per_site

#: A site's states in top, as check_status says them: in the server's client list and answering; in it but not
#: answering ``check_status client`` (FLARE's "No Reply": killed, or shut down, before the server drops it; frozen),
#: or dropped by our server because it stopped answering (its ``clients_not_answering``: frozen, or its network
#: went; it may come back); not in the list (any more: its link closed, it left, an admin removed it); disabled
#: by this console (``disable_client``: turned away until enabled).
CONNECTED, NO_REPLY, GONE, DISABLED = "connected", "no reply", "gone", "disabled"
#: ``check_status client`` statuses that are no answer: FLARE's MetaStatusValue NO_REPLY and ERROR, its
#: table's "No Reply"; ours "error: ...".
_NO_ANSWER = ("no_reply", "no reply", "error")
#: Seconds after a job's start before a site of it that does not run it is marked (FLARE starts a site's job
#: process a few seconds after the job is RUNNING).
START_GRACE = 15.0


def answered(status: str) -> bool:
    """Whether a site's ``check_status client`` status is an answer (a job's status, "no_jobs"), not its absence."""
    return not status.strip().lower().startswith(_NO_ANSWER)


@dataclass
class SiteRow:
    name: str
    state: str = CONNECTED
    last_heartbeat: float | None = None  # epoch seconds
    running_jobs: int = 0
    cpu_percent: float | None = None  # share of one CPU over the last poll interval, %
    memory: str = ""  # "123 MiB" (the site's own resident memory) or "43% of RAM" (FLARE: the machine's)
    #: RUNNING jobs deployed to it that it answered two polls in a row without running (restarted: the job waits).
    lost_jobs: list[str] = field(default_factory=list)
    _cpu: tuple[float, float] | None = field(default=None, repr=False)  # (cpu_seconds, monotonic) last seen

    @property
    def connected(self) -> bool:
        """Connected and answering: what "N connected" counts."""
        return self.state == CONNECTED


@dataclass
class JobRow:
    job_id: str
    name: str = ""
    status: str = ""
    round: int | None = None
    num_rounds: int | None = None
    sites_responded: int | None = None
    sites_total: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    start_time: float | None = None  # epoch seconds
    duration: str = ""  # as the server reports it once the job ended
    submit_time: float = 0.0
    #: Listed RUNNING by FLARE, whose restarted server no longer runs it (``nvflare_orphans``).
    orphaned: bool = False
    #: The sites it is deployed to (its meta's deploy_map: ``[]`` every site; None not known).
    sites: list[str] | None = None
    #: Why a SUBMITTED job is not running yet: the scheduler's last word in its meta (``monitors.not_scheduled``).
    not_scheduled: str | None = None
    #: The status the job had when this top sent its abort (accepted); "" when none was sent. The row says
    #: "abort sent" while the status is still that one (FLARE takes ~10 s to end a job).
    abort_sent: str = ""

    @property
    def running(self) -> bool:
        return self.status == "RUNNING" and not self.orphaned

    @property
    def shown_status(self) -> str:
        """The status as people read it: an orphaned job's with what it is (``nvflare_orphans.in_words``), one
        whose abort was sent from here and whose status has not changed since with that said."""
        status = str(in_words({"status": self.status, ORPHANED: self.orphaned})["status"])
        return f"{status}, abort sent" if self.abort_sent and self.status == self.abort_sent else status

    @property
    def waiting(self) -> str | None:
        """Why the job waits, while it is SUBMITTED (a reason read before it ran is no longer one)."""
        return self.not_scheduled if self.status == "SUBMITTED" else None

    @property
    def final(self) -> bool:
        return self.status.startswith("FINISHED")

    def elapsed(self, now: float | None = None) -> str:
        """``H:MM:SS`` by the shell's one rule for durations (``human.seconds``, as the details pane):
        the server's ``duration`` once the job ended, else the time since it started; "" when unknown."""
        if self.final:
            took = duration_seconds(self.duration)
            return seconds(took) if took is not None else ""
        if self.start_time is None:
            return ""
        return seconds(max((now or time.time()) - self.start_time, 0))


class TopModel:
    def __init__(self, rounds_seen: dict[str, dict[str, Any]] | None = None) -> None:
        """``rounds_seen``: the session's last known round of each job (``Backend.rounds_seen``), read
        when a job's row is made and kept up to date: a round once known stays shown (when the job ends,
        when a listing misses it once, when top opens again) until a later one is known."""
        self.rounds_seen = {} if rounds_seen is None else rounds_seen
        self.sites: dict[str, SiteRow] = {}
        self._missing: dict[str, set[str]] = {}  # per site: RUNNING jobs of it it answered without, last poll
        self.jobs: dict[str, JobRow] = {}
        self.selected: str | None = None  # a job ID
        #: Whether the first ``check_status`` / ``list_jobs`` answer came: until then no row is no news.
        self.sites_known = False
        self.jobs_known = False
        self.version = 0
        self.changed_at = time.monotonic()

    def _changed(self) -> None:
        self.version += 1
        self.changed_at = time.monotonic()

    def job(self, job_id: str) -> JobRow:
        row = self.jobs.get(job_id)
        if row is None:
            row = self.jobs[job_id] = JobRow(job_id, submit_time=time.time())
            seen = self.rounds_seen.get(job_id)
            if seen is not None:
                row.round, row.num_rounds = seen.get("round"), seen.get("num_rounds")
                row.metrics = dict(seen.get("metrics") or {})
        return row

    def _seen(self, row: JobRow, at: int | None) -> bool:
        """Whether round ``at`` of ``row``'s job is news (not older than the one shown): rounds only go up."""
        return at is not None and (row.round is None or at >= row.round)

    def _remember(self, row: JobRow) -> None:
        if row.round is not None:
            note_round(self.rounds_seen, row.job_id, row.round, row.num_rounds, row.metrics)

    def abort_sent(self, job_id: str) -> None:
        """This top's abort of ``job_id`` was accepted: its row says so until its status changes."""
        row = self.jobs.get(job_id)
        if row is not None and not row.final:
            row.abort_sent = row.status
            self._changed()

    # -- events --------------------------------------------------------------------------

    def apply_event(self, topic: str, data: dict[str, Any]) -> bool:
        """An event of the backend (see ``console.backends.base.EventListener``); whether it changed a row."""
        job_id = data.get("job_id")
        if topic == "job_status" and isinstance(job_id, str):
            row = self.job(job_id)
            row.name = data.get("name") or row.name
            row.status = str(data.get("status") or row.status)
            if row.running and row.start_time is None:
                row.start_time = epoch(data.get("time")) or time.time()
        elif topic == "job_progress" and isinstance(job_id, str) and isinstance(data.get("data"), dict):
            self.apply_progress(job_id, data["data"])
        elif topic == "job_deleted" and isinstance(job_id, str):
            self.rounds_seen.pop(job_id, None)
            if self.jobs.pop(job_id, None) is None:
                return False
        elif topic == "site_status" and isinstance(data.get("site"), str):
            site = self.sites.setdefault(data["site"], SiteRow(data["site"]))
            # Ours says whether it dropped the site for not answering (it may be back) or the site is gone.
            up, silent = data.get("status") == "connected", data.get("not_answering") is True
            site.state = CONNECTED if up else NO_REPLY if silent else GONE
            if site.connected:
                site.last_heartbeat = time.time()
        else:
            return False
        self._changed()
        return True

    def apply_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        """A job's progress (pushed, or read from ``show_stats``). A round older than the one shown (a
        late push, a workflow's "finished" phase counting again) changes nothing."""
        row = self.job(job_id)
        at = None
        if is_number(progress.get("round")):  # ours: the round under way, counted from 1
            at = int(progress["round"])
        elif is_number(progress.get("current_round")):  # FLARE's controllers count from 0 (start_round)
            at = int(progress["current_round"]) + 1
        planned = int(progress["num_rounds"]) if is_number(progress.get("num_rounds")) else row.num_rounds
        if at is not None and planned:
            at = min(at, planned)  # FLARE's ScatterAndGather, its rounds done ("_finished_"), counts one more
        if at is not None and not self._seen(row, at):
            return
        if at is not None:
            row.round = at
        if is_number(progress.get("num_rounds")):
            row.num_rounds = int(progress["num_rounds"])
        if is_number(progress.get("sites_responded")):
            row.sites_responded = int(progress["sites_responded"])
        metrics = latest_metrics(progress)
        if metrics:
            row.metrics = metrics
        self._remember(row)

    # -- polls ---------------------------------------------------------------------------

    def apply_sites(self, clients: list[dict[str, Any]], running: dict[str, int] | None,
                    statuses: dict[str, str] | None = None, disabled: frozenset[str] = frozenset(),
                    not_answering: list[dict[str, Any]] | None = None) -> None:
        """``check_status server``'s clients (who is connected), how many jobs each runs, and each site's
        ``check_status client`` status (``statuses``; None: not asked this time, the states, and the job counts
        with ``running`` None, stay): the same
        sources check_status has, so top's STATE is what check_status says (flare10 item 4). A listed site
        that did not answer is NO_REPLY, and so is one in ``not_answering`` (ours: ``check_status server``'s
        ``clients_not_answering``, the sites it dropped for not answering, as FLARE lists a silent client
        until it drops it: session 12's user, item 2, a frozen site was "gone" on ours, "no reply" on FLARE);
        one no longer listed GONE; one ``disabled`` by this console shows as DISABLED, listed or not (rather
        than vanishing)."""
        seen = set()
        for client in not_answering or []:
            name = client.get("client_name")
            if isinstance(name, str):
                seen.add(name)
                site = self.sites.setdefault(name, SiteRow(name))
                site.state = NO_REPLY
                site.last_heartbeat = epoch(client.get("client_last_heartbeat")) or site.last_heartbeat
        for client in clients:
            name = client.get("client_name")
            if not isinstance(name, str):
                continue
            seen.add(name)
            site = self.sites.setdefault(name, SiteRow(name))
            if statuses is not None:
                site.state = CONNECTED if answered(statuses.get(name, "no_reply")) else NO_REPLY
            elif site.state not in (CONNECTED, NO_REPLY):
                site.state = CONNECTED
            site.last_heartbeat = epoch(client.get("client_last_heartbeat")) or epoch(
                client.get("client_last_conn_time")) or site.last_heartbeat
            if running is not None:
                site.running_jobs = running.get(name, 0)
        for name in disabled:
            self.sites.setdefault(name, SiteRow(name))
        for name, site in self.sites.items():
            if name in disabled:
                site.state = DISABLED
            elif name not in seen:
                site.state = GONE
            if not site.connected:
                site.running_jobs = 0
        self.sites_known = True
        self._changed()

    def apply_sys_info(self, infos: Any, read_at: float | None = None) -> None:
        """``sys_info client``: ours ``{site: {cpu_seconds, memory_rss_mib, ...}}``; FLARE's
        ``["Client: site-1", {percent, ...}, ...]`` (the machine's memory, numbers as strings). ``read_at``: when
        the answer came (time.monotonic(); None: now), the time of its CPU reading."""
        now = time.monotonic() if read_at is None else read_at
        for name, info in per_site(infos).items():
            if name not in self.sites:
                continue
            site = self.sites[name]
            cpu = as_float(info.get("cpu_seconds"))
            if cpu is not None:
                if site._cpu is not None and now > site._cpu[1]:
                    site.cpu_percent = max(cpu - site._cpu[0], 0.0) / (now - site._cpu[1]) * 100
                site._cpu = (cpu, now)
            rss, percent = as_float(info.get("memory_rss_mib")), as_float(info.get("percent"))
            if rss is not None:
                site.memory = f"{rss:.0f} MiB"
            elif percent is not None:
                site.memory = f"{percent:.0f}% of RAM"
        self._changed()

    def cpu_pending(self) -> bool:
        """Whether a connected site has one CPU reading and no share yet (it takes a second reading)."""
        return any(s.connected and s._cpu is not None and s.cpu_percent is None for s in self.sites.values())

    def apply_jobs(self, rows: list[dict[str, Any]]) -> None:
        """``list_jobs`` rows (newest first): every job listed; those gone are forgotten."""
        listed = set()
        for entry in rows:
            job_id = entry.get("job_id")
            if not isinstance(job_id, str):
                continue
            listed.add(job_id)
            row = self.job(job_id)
            row.name = entry.get("job_name") or entry.get("name") or row.name
            row.status = entry.get("status") or row.status
            row.orphaned = entry.get(ORPHANED) is True
            row.submit_time = epoch(entry.get("submit_time")) or row.submit_time
            # The duration of an ended job only: a running one's (the time since its start, as FLARE 2.9
            # lists it) would stand as the ended job's until the next poll once a push says it ended.
            row.duration = str(entry.get("duration") or "") if row.final else ""
        for job_id in [j for j in self.jobs if j not in listed]:
            del self.jobs[job_id]
        self.jobs_known = True
        self._changed()

    def apply_meta(self, meta: dict[str, Any]) -> None:
        """``get_job_meta``'s answer: the start time, how many sites, and the last round the
        server recorded (ours: ``round_metrics``, as ``plot`` reads them) with its metrics,
        unless a later round was pushed already."""
        row = self.job(meta["job_id"])
        row.start_time = epoch(meta.get("start_time")) or row.start_time
        row.not_scheduled = not_scheduled(meta)
        recorded = [e for e in meta.get("round_metrics") or [] if isinstance(e, dict) and is_number(e.get("round"))]
        if recorded:
            last = max(recorded, key=lambda e: e["round"])
            if self._seen(row, int(last["round"])):
                row.round = int(last["round"])
                metrics = latest_metrics({"aggregated": last.get("aggregated"), "metrics": last.get("sites")})
                if metrics:
                    row.metrics = metrics
                self._remember(row)
        if is_number(meta.get("num_rounds")) and meta["num_rounds"] > 0:  # ours records the rounds planned
            row.num_rounds = int(meta["num_rounds"])
            self._remember(row)
        clients = meta.get("job_clients")
        if isinstance(meta.get("job_deploy_detail"), list):
            row.sites_total = sum(1 for d in meta["job_deploy_detail"] if not str(d).startswith("server"))
        elif isinstance(clients, list):
            row.sites_total = len(clients)
        elif job_sites(meta):  # FLARE 2.9's meta: the sites of its deploy_map (a job on @ALL: not counted)
            row.sites_total = len(job_sites(meta) or ())
        row.sites = job_sites(meta) if row.sites is None else row.sites
        self._changed()

    def apply_site_jobs(self, runs: dict[str, set[str]]) -> None:
        """``runs``: the job IDs each site that answered ``check_status client`` runs. A RUNNING job's site
        that answered without it in this poll and the last is marked (``SiteRow.lost_jobs``): once could be a
        job just starting, or ending (flare11 item 3: a restarted site was shown fine while the job waited)."""
        settled = time.time() - START_GRACE  # a job that just started: its sites may not run it yet
        for name, site in self.sites.items():
            missing = {job.job_id for job in self.jobs.values() if job.running and job.sites is not None
                       and (job.start_time or settled) <= settled and (not job.sites or name in job.sites)
                       and name in runs and job.job_id not in runs[name]}
            lost = sorted(missing & self._missing.get(name, set()))
            self._missing[name] = missing
            if lost != site.lost_jobs:
                site.lost_jobs = lost
                self._changed()

    # -- what is shown -------------------------------------------------------------------

    def sites_title(self) -> str:
        connected = sum(s.connected for s in self.sites.values())
        return f"Sites ({connected} connected)" if self.sites_known else "Sites (loading…)"

    def sites_empty(self) -> str:
        """The line in place of no site rows: none connected, or no answer yet (top's first frame)."""
        return "  (no site connected)" if self.sites_known else "  (loading…)"

    def jobs_title(self, shown: list[JobRow]) -> str:
        if not self.jobs_known and not shown:
            return "Jobs (loading…)"
        return f"Jobs ({sum(j.running for j in shown)} running, {len(shown)} shown)"

    def jobs_empty(self) -> str:
        return "  (no jobs)" if self.jobs_known else "  (loading…)"

    def ordered_jobs(self) -> list[JobRow]:
        """Running first, then queued, then ended; newest first within each."""
        def rank(row: JobRow) -> tuple[int, float]:
            return (0 if row.running else 2 if row.final else 1, -row.submit_time)

        return sorted(self.jobs.values(), key=rank)

    def move(self, step: int) -> None:
        jobs = self.ordered_jobs()
        if not jobs:
            self.selected = None
            return
        ids = [j.job_id for j in jobs]
        at = ids.index(self.selected) if self.selected in ids else -1
        self.selected = ids[min(max(at + step, 0), len(ids) - 1)]
        self._changed()

    def selected_job(self) -> JobRow | None:
        if self.selected not in self.jobs:
            jobs = self.ordered_jobs()
            self.selected = jobs[0].job_id if jobs else None
        return self.jobs.get(self.selected) if self.selected else None
