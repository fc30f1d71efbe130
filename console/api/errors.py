"""FLARE API exceptions, name for name, and the mapping from wire error types."""

from __future__ import annotations

from console.wire.errors import ErrorType, RemoteError


class AuthenticationError(Exception):
    pass


class AuthorizationError(Exception):
    pass


class ClientsStillRunning(Exception):
    pass


class CommandError(Exception):
    pass


class InternalError(Exception):
    pass


class InvalidArgumentError(Exception):
    pass


class InvalidJobDefinition(Exception):
    pass


class InvalidTarget(Exception):
    pass


class JobNotDone(Exception):
    pass


class JobNotFound(Exception):
    pass


class JobNotRunning(Exception):
    pass


class JobTimeout(Exception):
    pass


class NoClientsAvailable(Exception):
    pass


class NoConnection(ConnectionError):
    pass


class NoReply(Exception):
    pass


class SessionClosed(Exception):
    pass


class SessionExpired(SessionClosed):
    pass


class SubmitTokenConflict(Exception):
    pass


class SubmitTokenJobDeleted(Exception):
    pass


_BY_TYPE: dict[ErrorType, type[Exception]] = {
    ErrorType.AUTHENTICATION: AuthenticationError,
    ErrorType.AUTHORIZATION: AuthorizationError,
    ErrorType.INVALID_ARGUMENT: InvalidArgumentError,
    ErrorType.INVALID_JOB_DEFINITION: InvalidJobDefinition,
    ErrorType.JOB_NOT_FOUND: JobNotFound,
    ErrorType.JOB_NOT_RUNNING: JobNotRunning,
    ErrorType.JOB_NOT_DONE: JobNotDone,
    ErrorType.INVALID_TARGET: InvalidTarget,
    ErrorType.NO_CLIENTS_AVAILABLE: NoClientsAvailable,
    ErrorType.CLIENTS_STILL_RUNNING: ClientsStillRunning,
    ErrorType.INTERNAL: InternalError,
    ErrorType.PROTOCOL: InternalError,
}


def exception_for(error: RemoteError) -> Exception:
    return _BY_TYPE.get(error.error_type, InternalError)(error.message)
