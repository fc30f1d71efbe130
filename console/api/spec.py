"""FLARE API value types: return codes, target types and the system-info objects."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum


class MonitorReturnCode(int, Enum):
    JOB_FINISHED = 0
    TIMEOUT = 1
    ENDED_BY_CB = 2


class TargetType:
    ALL = "all"
    SERVER = "server"
    CLIENT = "client"


def _when(epoch: float | None) -> str:
    return time.asctime(time.localtime(epoch)) if epoch else "N/A"


@dataclass
class ServerInfo:
    status: str
    start_time: float

    def __str__(self) -> str:
        return f"status: {self.status}, start_time: {_when(self.start_time)}"


@dataclass
class ClientInfo:
    name: str
    last_connect_time: float

    def __str__(self) -> str:
        return f"{self.name}(last_connect_time: {_when(self.last_connect_time)})"


@dataclass
class JobInfo:
    job_id: str
    app_name: str

    def __str__(self) -> str:
        return f"JobInfo:\n  job_id: {self.job_id}\n  app_name: {self.app_name}"


@dataclass
class SystemInfo:
    server_info: ServerInfo
    client_info: list[ClientInfo] = field(default_factory=list)
    job_info: list[JobInfo] = field(default_factory=list)

    def __str__(self) -> str:
        clients = "\n".join(str(c) for c in self.client_info)
        jobs = "\n".join(str(j) for j in self.job_info)
        return f"SystemInfo\nserver_info:\n{self.server_info}\nclient_info:\n{clients}\njob_info:\n{jobs}"
