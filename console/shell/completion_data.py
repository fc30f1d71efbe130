"""What completion knows of the server: its jobs and sites, indexed for a keystroke's lookups.

``CompletionData`` is filled by ``console.shell.refresher`` (replaced whole by a refresh, patched by
pushed job events) and read by ``console.shell.completion``. Job IDs match on ID prefix or name prefix
through sorted indexes, so a keystroke costs a bisection, not a scan of every job. Must not touch the
network, the prompt or how the menu shows an entry.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.commands.spec import JobStates, Offer
from console.natural_order import natural_key
from console.shell.human import ago

#: A menu, not a dump: the menu measures every entry on each redraw, so more costs keystroke time.
MAX_JOB_COMPLETIONS = 25
#: Jobs completion knows: the newest ones (a refresh asks for no more; jobs pushed since are added
#: and the oldest let go). A store of 300,000 jobs would cost seconds of typing to take in whole;
#: an older job is still found by typing its ID (the server resolves a prefix).
MAX_JOBS_KEPT = 5000
#: Sites completion knows (a project has tens; a server answering more is broken or hostile).
MAX_SITES_KEPT = 1000


@dataclass(frozen=True, slots=True)
class JobEntry:
    job_id: str
    name: str
    status: str
    submitted: float = 0.0  # epoch seconds; 0 when unknown


def _epoch(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def age(submitted: float, now: float | None = None) -> str:
    """How long ago a job was submitted, coarsely (``human.ago``: ``42s ago``, ``5m ago``); "" when unknown."""
    return ago((now or time.time()) - submitted) if submitted else ""


@dataclass
class CompletionData:
    """What completion knows of the server; replaced whole by a refresh, patched by pushes."""

    jobs: dict[str, JobEntry] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)
    #: Every site seen since the shell started, connected or not (enable_client names a disabled one).
    seen_sites: set[str] = field(default_factory=set)
    fetched: float = field(default_factory=time.monotonic)
    _ids: list[str] = field(default_factory=list)
    _names: list[tuple[str, str]] = field(default_factory=list)  # (lower-case name, job_id)
    _recent: list[str] = field(default_factory=list)  # job IDs, oldest first (newest at the end)
    #: Jobs not ended (queued, dispatched, running): a few at a time, ranked first without a scan.
    _active: set[str] = field(default_factory=set)

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> CompletionData:
        data = cls()
        data.take(rows)
        data.index()
        return data

    def take(self, rows: Iterable[Any]) -> None:
        """Jobs of list_jobs rows (``job_id``, ``job_name``, ``status``, ``submit_time``), up to
        ``MAX_JOBS_KEPT`` in all; a row of another shape is passed over. ``index`` once all are in:
        a refresh takes them a slice at a time, so typing goes on meanwhile."""
        for row in rows:
            if len(self.jobs) >= MAX_JOBS_KEPT:
                return
            if not isinstance(row, dict) or not isinstance(row.get("job_id"), str):
                continue
            name, status = row.get("job_name") or row.get("name") or "", row.get("status") or ""
            entry = JobEntry(row["job_id"], name if isinstance(name, str) else str(name),
                             status if isinstance(status, str) else str(status), _epoch(row.get("submit_time")))
            self.jobs[entry.job_id] = entry

    def index(self) -> None:
        self._ids = sorted(self.jobs)
        self._names = sorted((e.name.lower(), e.job_id) for e in self.jobs.values())
        self._recent = [e.job_id for e in sorted(self.jobs.values(), key=lambda e: e.submitted)]
        self._active = {e.job_id for e in self.jobs.values() if not e.status.startswith("FINISHED:")}

    def upsert(self, job_id: str, name: str | None, status: str | None) -> None:
        old = self.jobs.get(job_id)
        entry = JobEntry(job_id, name or (old.name if old else ""), status or (old.status if old else ""),
                         old.submitted if old else time.time())
        self.jobs[job_id] = entry
        if entry.status.startswith("FINISHED:"):
            self._active.discard(job_id)
        else:
            self._active.add(job_id)
        if old is None:
            bisect.insort(self._ids, job_id)
            bisect.insort(self._names, (entry.name.lower(), job_id))
            self._recent.append(job_id)
            self._let_go_of_the_oldest()

    def merge(self, rows: list[Any]) -> None:
        """The newest jobs' rows (a poll's top-up, newest first): each job added or its status
        brought up to date; a job known here submitted after the oldest of them and not among
        them was deleted, and goes. The rest is kept as it was."""
        window = CompletionData()
        window.take(rows)
        if not window.jobs:
            return
        oldest = min(e.submitted for e in window.jobs.values())
        # (a row without a submit time dates nothing: then nothing is judged deleted)
        gone = [j for j, e in self.jobs.items() if e.submitted > oldest > 0 and j not in window.jobs]
        for job_id in gone:
            self.remove(job_id)
        for entry in sorted(window.jobs.values(), key=lambda e: e.submitted):  # oldest first: _recent's order
            old = self.jobs.get(entry.job_id)
            if old is None:
                self.jobs[entry.job_id] = entry
                bisect.insort(self._ids, entry.job_id)
                bisect.insort(self._names, (entry.name.lower(), entry.job_id))
                self._recent.append(entry.job_id)
            else:
                self.jobs[entry.job_id] = JobEntry(old.job_id, old.name, entry.status, old.submitted or entry.submitted)
            if entry.status.startswith("FINISHED:"):
                self._active.discard(entry.job_id)
            else:
                self._active.add(entry.job_id)
        self._let_go_of_the_oldest()

    def _let_go_of_the_oldest(self) -> None:
        """Past ``MAX_JOBS_KEPT``: the oldest jobs go (``_recent`` is oldest first)."""
        while len(self.jobs) > MAX_JOBS_KEPT and self._recent:
            self.remove(self._recent.pop(0))

    def remove(self, job_id: str) -> None:
        entry = self.jobs.pop(job_id, None)
        self._active.discard(job_id)
        if entry is None:
            return
        for index_list, key in ((self._ids, job_id), (self._names, (entry.name.lower(), job_id))):
            i = bisect.bisect_left(index_list, key)  # type: ignore[arg-type]
            if i < len(index_list) and index_list[i] == key:
                del index_list[i]
        # _recent keeps the ID; match_jobs skips IDs no longer in jobs.

    def all_sites(self) -> list[str]:
        return sorted(set(self.sites) | self.seen_sites, key=natural_key)

    def match_jobs(self, word: str, limit: int = MAX_JOB_COMPLETIONS) -> list[JobEntry]:
        """Jobs whose ID starts with ``word``, then jobs whose name does (case-insensitive), newest first."""
        found: dict[str, JobEntry] = {}
        if not word:
            for job_id in reversed(self._recent):
                if len(found) >= limit:
                    break
                if job_id in self.jobs:
                    found[job_id] = self.jobs[job_id]
            return list(found.values())
        i = bisect.bisect_left(self._ids, word)
        while i < len(self._ids) and self._ids[i].startswith(word) and len(found) < limit:
            found[self._ids[i]] = self.jobs[self._ids[i]]
            i += 1
        by_id = sorted(found.values(), key=lambda e: -e.submitted)
        lowered = word.lower()
        named: dict[str, JobEntry] = {}
        i = bisect.bisect_left(self._names, (lowered, ""))
        while i < len(self._names) and self._names[i][0].startswith(lowered) and len(found) + len(named) < limit:
            job_id = self._names[i][1]
            if job_id not in found:
                named[job_id] = self.jobs[job_id]
            i += 1
        return by_id + sorted(named.values(), key=lambda e: -e.submitted)

    def ranked_jobs(self, word: str, offer: Offer, limit: int = MAX_JOB_COMPLETIONS,
                    takes: JobStates = JobStates.ANY) -> list[JobEntry]:
        """The jobs matching ``word`` (``match_jobs``) that the argument ``takes`` (by status), those ``offer``
        puts first ahead of the rest, each group in ``match_jobs``'s order. Jobs not ended are few and kept
        apart (``_active``): every one that matches takes part, however many ended jobs are newer, and a set
        of only such jobs (abort_job's) is found among them alone."""
        if offer is Offer.ANY and takes is JobStates.ANY:
            return self.match_jobs(word, limit)
        lowered = word.lower()
        active = [self.jobs[j] for j in self._active
                  if j in self.jobs and (j.startswith(word) or self.jobs[j].name.lower().startswith(lowered))]
        if takes.among_active:
            by_id = sorted((e for e in active if e.job_id.startswith(word)), key=lambda e: -e.submitted)
            named = sorted((e for e in active if not e.job_id.startswith(word)), key=lambda e: -e.submitted)
            found = by_id + named
        else:  # (the jobs left out are among the active ones: asking for that many more fills the menu)
            found = self.match_jobs(word, limit + len(active))
            listed = {e.job_id for e in found}
            found += sorted((e for e in active if e.job_id not in listed), key=lambda e: -e.submitted)
        found = [e for e in found if takes.takes(e.status)]
        return sorted(found, key=lambda e: not offer.first(e.status))[:limit]

    def job_names(self, word: str, limit: int = MAX_JOB_COMPLETIONS) -> list[str]:
        """Distinct job names starting with ``word`` (case-insensitive), in name order."""
        names: dict[str, None] = {}
        lowered = word.lower()
        i = bisect.bisect_left(self._names, (lowered, ""))
        while i < len(self._names) and self._names[i][0].startswith(lowered) and len(names) < limit:
            names.setdefault(self.jobs[self._names[i][1]].name, None)
            i += 1
        return list(names)
