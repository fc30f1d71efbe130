"""FLARE API value types: return codes, target types and the system-info objects."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

from console.wire.flare_kin import Kin, adopt

#: The study a job is in unless one is named (FLARE 2.9's ``nvflare.apis.job_def.DEFAULT_STUDY``).
DEFAULT_STUDY = "default"

#: FLARE 2.9's reply statuses for a submit token's conflicts (its flare_api module's names).
SUBMIT_TOKEN_CONFLICT_STATUS = "submit_token_conflict"
SUBMIT_TOKEN_JOB_DELETED_STATUS = "submit_token_job_deleted"


class SessionSpec:
    """FLARE's abstract Session, the base of ``console.api.session.Session`` (``isinstance`` checks)."""


class MonitorReturnCode(int, Enum):
    JOB_FINISHED = 0
    TIMEOUT = 1
    ENDED_BY_CB = 2


class TargetType(Kin):
    ALL = "all"
    SERVER = "server"
    CLIENT = "client"


def _when(epoch: float | None) -> str:
    return time.asctime(time.localtime(epoch)) if epoch else "N/A"


@dataclass
class ServerInfo(Kin):
    status: str
    start_time: float

    def __str__(self) -> str:
        return f"status: {self.status}, start_time: {_when(self.start_time)}"


@dataclass
class ClientInfo(Kin):
    name: str
    last_connect_time: float

    def __str__(self) -> str:
        return f"{self.name}(last_connect_time: {_when(self.last_connect_time)})"


@dataclass
class JobInfo(Kin):
    job_id: str
    app_name: str

    def __str__(self) -> str:
        return f"JobInfo:\n  job_id: {self.job_id}\n  app_name: {self.app_name}"


@dataclass
class SystemInfo(Kin):
    server_info: ServerInfo
    client_info: list[ClientInfo] = field(default_factory=list)
    job_info: list[JobInfo] = field(default_factory=list)

    def __str__(self) -> str:
        clients = "\n".join(str(c) for c in self.client_info)
        jobs = "\n".join(str(j) for j in self.job_info)
        return f"SystemInfo\nserver_info:\n{self.server_info}\nclient_info:\n{clients}\njob_info:\n{jobs}"


# A script holding FLARE's classes (isinstance(info, api_spec.SystemInfo), TargetType) finds ours theirs;
# FLARE's MonitorReturnCode is an enum (no subclass possible): ours compares equal member for member.
adopt("nvflare.fuel.flare_api.api_spec", {cls.__name__: cls for cls in (
    SessionSpec, TargetType, ServerInfo, ClientInfo, JobInfo, SystemInfo)})
