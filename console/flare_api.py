"""FLARE API, name for name: ``from console.flare_api import new_secure_session``.

A script written for ``nvflare.fuel.flare_api`` runs against flare-console by changing only its import,
on our engine (our admin kit) or on NVIDIA FLARE (FLARE's admin kit: FLARE's own Session underneath).
Every name of FLARE 2.9's flare_api module that a script uses is here (its Session, session factories,
exceptions, value types and constants; not FLARE's plumbing such as AdminAPI or its protocol keys).
Errors are exceptions of FLARE's classes; where FLARE raises a builtin (ValueError, SyntaxError, ...)
for a bad argument, ours raises a subclass of that builtin (InvalidValue, InvalidSyntax, ...).
``monitor_job`` keeps FLARE's contract and also reacts at once to status changes pushed by the server.
"""

from console.api.errors import (
    AuthenticationError,
    AuthorizationError,
    ClientsStillRunning,
    CommandError,
    FLCommunicationError,
    InternalError,
    InvalidArgumentError,
    InvalidAssertion,
    InvalidJobDefinition,
    InvalidSyntax,
    InvalidTarget,
    InvalidType,
    InvalidValue,
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
from console.api.new_session import basic_cb_with_print, new_insecure_session, new_secure_session, new_session
from console.api.session import Session
from console.api.spec import (
    DEFAULT_STUDY,
    SUBMIT_TOKEN_CONFLICT_STATUS,
    SUBMIT_TOKEN_JOB_DELETED_STATUS,
    ClientInfo,
    JobInfo,
    MonitorReturnCode,
    ServerInfo,
    SessionSpec,
    SystemInfo,
    TargetType,
)
from console.backends import nvflare_script  # noqa: F401  (Session for FLARE's kit; imports no nvflare)
from console.wire.kit import KitError as ConfigError

__all__ = [
    "DEFAULT_STUDY",
    "SUBMIT_TOKEN_CONFLICT_STATUS",
    "SUBMIT_TOKEN_JOB_DELETED_STATUS",
    "AuthenticationError",
    "AuthorizationError",
    "ClientInfo",
    "ClientsStillRunning",
    "CommandError",
    "ConfigError",
    "FLCommunicationError",
    "IncompleteDownload",
    "InternalError",
    "InvalidArgumentError",
    "InvalidAssertion",
    "InvalidJobDefinition",
    "InvalidSyntax",
    "InvalidTarget",
    "InvalidType",
    "InvalidValue",
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
    "SessionSpec",
    "SubmitTokenConflict",
    "SubmitTokenJobDeleted",
    "SystemInfo",
    "TargetType",
    "basic_cb_with_print",
    "new_insecure_session",
    "new_secure_session",
    "new_session",
]
