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
    PROTOCOL = "ProtocolError"


class RemoteError(Exception):
    """Raised by a server handler; travels to the client as ``{"type", "message"}``."""

    def __init__(self, error_type: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.error_type.value, "message": self.message}

    @classmethod
    def from_wire(cls, payload: Any) -> RemoteError:
        if not isinstance(payload, dict):
            return cls(ErrorType.PROTOCOL, f"malformed error payload: {payload!r}")
        try:
            error_type = ErrorType(payload.get("type"))
        except ValueError:
            error_type = ErrorType.INTERNAL
        return cls(error_type, str(payload.get("message", "")))
