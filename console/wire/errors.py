"""Error types that cross the wire.

The values are the FLARE API exception class names, so the client maps a server error
to the exception a FLARE script expects without a translation table of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    AUTHENTICATION = "AuthenticationError"
    AUTHORIZATION = "AuthorizationError"
    INVALID_ARGUMENT = "InvalidArgumentError"
    INVALID_JOB_DEFINITION = "InvalidJobDefinition"
    JOB_NOT_FOUND = "JobNotFound"
    JOB_NOT_RUNNING = "JobNotRunning"
    JOB_NOT_DONE = "JobNotDone"
    INVALID_TARGET = "InvalidTarget"
    NO_CLIENTS_AVAILABLE = "NoClientsAvailable"
    CLIENTS_STILL_RUNNING = "ClientsStillRunning"
    INTERNAL = "InternalError"
    #: A site the server asked did not answer in time (FLARE's "no reply from client"); a console
    #: older than this type reads it as InternalError, with the same message.
    NO_REPLY = "NoReply"
    PROTOCOL = "ProtocolError"
    SUBMIT_TOKEN_CONFLICT = "SubmitTokenConflict"
    SUBMIT_TOKEN_JOB_DELETED = "SubmitTokenJobDeleted"


class RemoteError(Exception):
    """Raised by a server handler; travels to the client as ``{"type", "message"}`` plus, for
    errors that carry fields (FLARE's SubmitTokenConflict: ``existing_job_id``), ``"detail"``."""

    def __init__(self, error_type: ErrorType, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.detail = detail or {}

    def to_wire(self) -> dict[str, Any]:
        wire = {"type": self.error_type.value, "message": self.message}
        return {**wire, "detail": self.detail} if self.detail else wire

    @classmethod
    def from_wire(cls, payload: Any) -> RemoteError:
        if not isinstance(payload, dict):
            return cls(ErrorType.PROTOCOL, f"malformed error payload: {payload!r}")
        try:
            error_type = ErrorType(payload.get("type"))
        except ValueError:
            error_type = ErrorType.INTERNAL
        detail = payload.get("detail")
        return cls(error_type, str(payload.get("message", "")), detail if isinstance(detail, dict) else None)
