"""FLARE API, name for name: ``from console.flare_api import new_secure_session``.

A script written for ``nvflare.fuel.flare_api.flare_api`` runs against flare-console by
changing only its import. Errors are exceptions; ``monitor_job`` keeps FLARE's contract
and also reacts at once to status changes pushed by the server.
"""

from console.api.errors import (
    AuthenticationError,
    AuthorizationError,
    ClientsStillRunning,
    CommandError,
    InternalError,
    InvalidArgumentError,
    InvalidJobDefinition,
    InvalidTarget,
    JobNotDone,
    JobNotFound,
    JobNotRunning,
    JobTimeout,
    NoClientsAvailable,
    NoConnection,
    NoReply,
    SessionClosed,
    SessionExpired,
    SubmitTokenConflict,
    SubmitTokenJobDeleted,
)
from console.api.job_result import IncompleteDownload
from console.api.session import Session, basic_cb_with_print, new_secure_session
from console.api.spec import ClientInfo, JobInfo, MonitorReturnCode, ServerInfo, SystemInfo, TargetType

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ClientInfo",
    "ClientsStillRunning",
    "CommandError",
    "IncompleteDownload",
    "InternalError",
    "InvalidArgumentError",
    "InvalidJobDefinition",
    "InvalidTarget",
    "JobInfo",
    "JobNotDone",
    "JobNotFound",
    "JobNotRunning",
    "JobTimeout",
    "MonitorReturnCode",
    "NoClientsAvailable",
    "NoConnection",
    "NoReply",
    "ServerInfo",
    "Session",
    "SessionClosed",
    "SessionExpired",
    "SubmitTokenConflict",
    "SubmitTokenJobDeleted",
    "SystemInfo",
    "TargetType",
    "basic_cb_with_print",
    "new_secure_session",
]
