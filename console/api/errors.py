"""FLARE API exceptions, name for name: what a FLARE script imports and catches.

Defined with the wire (``console.wire.exceptions``), since the server's link to a site raises
them too; this is where the API and its users import them from.
"""

from __future__ import annotations

from console.wire.exceptions import (
    AuthenticationError,
    AuthorizationError,
    CancelTooLate,
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
    exception_for,
    tell_too_late,
    too_late_listener,
)

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CancelTooLate",
    "ClientsStillRunning",
    "CommandError",
    "exception_for",
    "InternalError",
    "InvalidArgumentError",
    "InvalidJobDefinition",
    "InvalidTarget",
    "JobNotDone",
    "JobNotFound",
    "JobNotRunning",
    "JobTimeout",
    "NoClientsAvailable",
    "NoConnection",
    "NoReply",
    "SessionClosed",
    "SessionExpired",
    "SubmitTokenConflict",
    "SubmitTokenJobDeleted",
    "tell_too_late",
    "too_late_listener",
]
