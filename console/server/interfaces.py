"""What each part of the server needs from the rest of it, as small Protocols.

The parts (the site registry, the scheduler, the job runner and its deployments, the log
relay) are wired together by ``console.server.app.Server``, which satisfies every interface
here; each part names only the interface it uses, so no part imports the ``Server`` (they
imported it for typing, and through it one another). Members are read-only properties: a
part reads the wiring, it never replaces a neighbour. Runtime-checkable, so a test can hold
the ``Server`` to them. Owns no behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from console.server.audit import AuditLog
from console.server.authz import Policy
from console.server.running_job import RunningJob
from console.server.status import JobStatus
from console.server.store import JobStore
from console.wire.gate import ConnectionGate
from console.wire.kit import ServerKit
from console.wire.requesting import Requester

# -- what the parts are to one another ------------------------------------------------------


@runtime_checkable
class SiteLink(Protocol):
    """A connected site: its certificate's name and org, and the server's link to it."""

    @property
    def name(self) -> str: ...

    @property
    def org(self) -> str: ...

    @property
    def removed(self) -> bool: ...

    @property
    def removed_as(self) -> str:
        """How an admin took it out (``removed``), in words: "removed by an admin (remove_client)"."""
        ...

    @property
    def link(self) -> Requester: ...


@runtime_checkable
class Sites(Protocol):
    """The connected sites (``console.server.sites.SiteRegistry``)."""

    def get(self, name: str) -> SiteLink | None: ...

    def last_link(self, name: str) -> SiteLink | None:
        """Its link now, else the last one while it is away: how that ended (``console.server.dropped_sites``)."""
        ...

    def online(self) -> set[str]: ...


@runtime_checkable
class Jobs(Protocol):
    """The running jobs (``console.server.runner.JobRunner``)."""

    @property
    def jobs(self) -> Mapping[str, RunningJob]: ...

    @property
    def active_count(self) -> int: ...

    def start(self, meta: dict[str, Any], targets: list[str]) -> None: ...


@runtime_checkable
class SiteLogEvents(Protocol):
    """Where a site's ``job_log`` pushes go (``console.server.log_relay.LogRelay``)."""

    def on_site_event(self, site: str, topic: str, data: dict[str, Any]) -> None: ...


@runtime_checkable
class Wakeable(Protocol):
    """The scheduler, as a part that changed what can run tells it to look again."""

    def wake(self) -> None: ...


# -- what each part needs -------------------------------------------------------------------


@runtime_checkable
class StatusChanges(Protocol):
    def change_status(self, job_id: str, status: JobStatus, **updates: Any) -> dict[str, Any] | None:
        """The one way a job's status changes (guarded write, then a push); None if it was final."""
        ...


@runtime_checkable
class SchedulerHost(StatusChanges, Protocol):
    """What ``Scheduler`` reads: the queue, the limits, the sites online, the runner's slots."""

    @property
    def kit(self) -> ServerKit: ...

    @property
    def store(self) -> JobStore: ...

    @property
    def sites(self) -> Sites: ...

    @property
    def runner(self) -> Jobs: ...


@runtime_checkable
class DeploymentHost(Protocol):
    """What a job's ``Deployment`` needs: the links to its sites, the job limits, and a later collection of
    the workspaces of sites away at the job's end."""

    @property
    def kit(self) -> ServerKit: ...

    @property
    def sites(self) -> Sites: ...

    def expect_collects(self, sites_of: dict[str, set[str]]) -> None:
        """Each job's workspace is to be collected from each of ``sites_of[job]`` as it connects again."""


@runtime_checkable
class AppEventsHost(StatusChanges, Protocol):
    """What a server app's event lines act on (``console.server.server_app_events``): the job's status,
    its meta (round metrics) and the sessions' pushes (progress)."""

    @property
    def store(self) -> JobStore: ...

    def publish(self, topic: str, data: dict[str, Any], job: dict[str, Any] | None = None) -> None: ...


@runtime_checkable
class RunnerHost(DeploymentHost, AppEventsHost, Protocol):
    """What ``JobRunner`` needs: where jobs live, the policy (BYOC), what its server app's events act on,
    and the scheduler to wake when a job it was given never starts."""

    @property
    def workspace(self) -> Path: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def scheduler(self) -> Wakeable: ...


@runtime_checkable
class RelayHost(Protocol):
    """What ``LogRelay`` reads: the server's job logs, the jobs and the sites it follows them on."""

    @property
    def workspace(self) -> Path: ...

    @property
    def store(self) -> JobStore: ...

    @property
    def runner(self) -> Jobs: ...

    @property
    def sites(self) -> Sites: ...


class LateCollects(Protocol):
    """Abandoned jobs' workspaces still on sites (``console.server.abandoned.AbandonedJobs``)."""

    def on_login(self, site: str, link: Requester, running: set[str]) -> set[str]: ...


@runtime_checkable
class SitesHost(Protocol):
    """What ``SiteRegistry`` needs: its endpoint's settings and gate, the running jobs (to stop
    what a returning site still runs without them), and whom to tell of sites and their pushes."""

    @property
    def kit(self) -> ServerKit: ...

    @property
    def store(self) -> JobStore: ...

    @property
    def gate(self) -> ConnectionGate: ...

    @property
    def runner(self) -> Jobs: ...

    @property
    def log_relay(self) -> SiteLogEvents: ...

    @property
    def scheduler(self) -> Wakeable: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def abandoned(self) -> LateCollects: ...

    def publish(self, topic: str, data: dict[str, Any], job: dict[str, Any] | None = None) -> None: ...
