"""The rows ``top`` shows: sites and jobs, updated by events (pushed or polled) and polls.

Pure state, no I/O: ``apply_event`` takes the backend's events (``job_status``,
``job_progress``, ``site_status``, ``job_deleted``), the ``apply_*`` methods the answers of
the feed's polls (``check_status``, ``sys_info``, ``list_jobs``, ``show_stats``). Every
change bumps ``version`` and notes when it happened (``changed_at``, monotonic seconds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.backends.base import note_round
from console.durations import duration_seconds
from console.shell.human import seconds


@dataclass
class SiteRow:
    name: str
    connected: bool = True
    last_heartbeat: float | None = None  # epoch seconds
    running_jobs: int = 0
    cpu_percent: float | None = None  # share of one CPU over the last poll interval, %
    memory: str = ""  # "123 MiB" (the site's own resident memory) or "43% of RAM" (FLARE: the machine's)
    _cpu: tuple[float, float] | None = field(default=None, repr=False)  # (cpu_seconds, monotonic) last seen


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

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"

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


def epoch(value: Any) -> float | None:
    """A time as epoch seconds, from a number or an ISO 8601 string (FLARE's and ours)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value and value != "N/A":
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def latest_metrics(progress: dict[str, Any]) -> dict[str, float]:
    """A round's metrics in one dict: the aggregated ones, else the mean over the sites' numbers."""
    aggregated = progress.get("aggregated")
    if isinstance(aggregated, dict) and aggregated:
        return {k: float(v) for k, v in aggregated.items() if _number(v)}
    per_site = progress.get("metrics")
    sums: dict[str, list[float]] = {}
    if isinstance(per_site, dict):
        for values in per_site.values():
            for key, value in (values.items() if isinstance(values, dict) else ()):
                if _number(value):
                    sums.setdefault(key, []).append(float(value))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float(value: Any) -> float | None:
    if _number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _per_site(infos: Any) -> dict[str, dict[str, Any]]:
    if isinstance(infos, dict):
        return {k: v for k, v in infos.items() if isinstance(v, dict)}
    found: dict[str, dict[str, Any]] = {}
    name = None
    for item in infos if isinstance(infos, list) else []:
        if isinstance(item, str) and item.startswith("Client: "):
            name = item[len("Client: "):].strip()
        elif isinstance(item, dict) and name:
            found[name], name = item, None
    return found


def find_round(stats: Any) -> dict[str, Any] | None:
    """The part of ``show_stats`` that tells the round: ours (``Workflow``: round, num_rounds, ...)
    or FLARE's controllers (``current_round``, ``num_rounds``), wherever it is nested."""
    if isinstance(stats, dict):
        if "num_rounds" in stats and ("round" in stats or "current_round" in stats):
            return stats
        for value in stats.values():
            found = find_round(value)
            if found is not None:
                return found
    return None


class TopModel:
    def __init__(self, rounds_seen: dict[str, dict[str, Any]] | None = None) -> None:
        """``rounds_seen``: the session's last known round of each job (``Backend.rounds_seen``), read
        when a job's row is made and kept up to date: a round once known stays shown (when the job ends,
        when a listing misses it once, when top opens again) until a later one is known."""
        self.rounds_seen = {} if rounds_seen is None else rounds_seen
        self.sites: dict[str, SiteRow] = {}
        self.jobs: dict[str, JobRow] = {}
        self.selected: str | None = None  # a job ID
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
            site.connected = data.get("status") == "connected"
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
        if _number(progress.get("round")):  # ours: the round under way, counted from 1
            at = int(progress["round"])
        elif _number(progress.get("current_round")):  # FLARE's controllers count from 0 (start_round)
            at = int(progress["current_round"]) + 1
        planned = int(progress["num_rounds"]) if _number(progress.get("num_rounds")) else row.num_rounds
        if at is not None and planned:
            at = min(at, planned)  # FLARE's ScatterAndGather, its rounds done ("_finished_"), counts one more
        if at is not None and not self._seen(row, at):
            return
        if at is not None:
            row.round = at
        if _number(progress.get("num_rounds")):
            row.num_rounds = int(progress["num_rounds"])
        if _number(progress.get("sites_responded")):
            row.sites_responded = int(progress["sites_responded"])
        metrics = latest_metrics(progress)
        if metrics:
            row.metrics = metrics
        self._remember(row)

    # -- polls ---------------------------------------------------------------------------

    def apply_sites(self, clients: list[dict[str, Any]], running: dict[str, int]) -> None:
        """``check_status server``'s clients (who is connected) and how many jobs each runs."""
        seen = set()
        for client in clients:
            name = client.get("client_name")
            if not isinstance(name, str):
                continue
            seen.add(name)
            site = self.sites.setdefault(name, SiteRow(name))
            site.connected = True
            site.last_heartbeat = epoch(client.get("client_last_heartbeat")) or epoch(
                client.get("client_last_conn_time")) or site.last_heartbeat
            site.running_jobs = running.get(name, 0)
        for name, site in self.sites.items():
            if name not in seen:
                site.connected = False
                site.running_jobs = 0
        self._changed()

    def apply_sys_info(self, infos: Any) -> None:
        """``sys_info client``: ours ``{site: {cpu_seconds, memory_rss_mib, ...}}``; FLARE's
        ``["Client: site-1", {percent, ...}, ...]`` (the machine's memory, numbers as strings)."""
        now = time.monotonic()
        for name, info in _per_site(infos).items():
            if name not in self.sites:
                continue
            site = self.sites[name]
            cpu = _float(info.get("cpu_seconds"))
            if cpu is not None:
                if site._cpu is not None and now > site._cpu[1]:
                    site.cpu_percent = max(cpu - site._cpu[0], 0.0) / (now - site._cpu[1]) * 100
                site._cpu = (cpu, now)
            rss, percent = _float(info.get("memory_rss_mib")), _float(info.get("percent"))
            if rss is not None:
                site.memory = f"{rss:.0f} MiB"
            elif percent is not None:
                site.memory = f"{percent:.0f}% of RAM"
        self._changed()

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
            row.submit_time = epoch(entry.get("submit_time")) or row.submit_time
            # The duration of an ended job only: a running one's (the time since its start, as FLARE 2.9
            # lists it) would stand as the ended job's until the next poll once a push says it ended.
            row.duration = str(entry.get("duration") or "") if row.final else ""
        for job_id in [j for j in self.jobs if j not in listed]:
            del self.jobs[job_id]
        self._changed()

    def apply_meta(self, meta: dict[str, Any]) -> None:
        """``get_job_meta``'s answer: the start time, how many sites, and the last round the
        server recorded (ours: ``round_metrics``, as ``plot`` reads them) with its metrics,
        unless a later round was pushed already."""
        row = self.job(meta["job_id"])
        row.start_time = epoch(meta.get("start_time")) or row.start_time
        recorded = [e for e in meta.get("round_metrics") or [] if isinstance(e, dict) and _number(e.get("round"))]
        if recorded:
            last = max(recorded, key=lambda e: e["round"])
            if self._seen(row, int(last["round"])):
                row.round = int(last["round"])
                metrics = latest_metrics({"aggregated": last.get("aggregated"), "metrics": last.get("sites")})
                if metrics:
                    row.metrics = metrics
                self._remember(row)
        clients = meta.get("job_clients") or meta.get("deploy_map")
        if isinstance(meta.get("job_deploy_detail"), list):
            row.sites_total = sum(1 for d in meta["job_deploy_detail"] if not str(d).startswith("server"))
        elif isinstance(clients, list):
            row.sites_total = len(clients)
        self._changed()

    # -- what is shown -------------------------------------------------------------------

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
