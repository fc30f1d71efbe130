"""The exceptions a requesting end raises: FLARE API's, name for name, and the mapping from the
wire's error types (``console.wire.errors.ErrorType`` values are these class names).

Here, with the wire, because both requesting ends raise them: an admin's session (the FLARE
API re-exports them as ``console.api.errors``) and the server's link to a site, whose
answers the server's parts catch (a site's JobNotRunning, AuthorizationError, NoConnection).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

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
    """The submit token was already used, by the same submitter, for a job of other content (FLARE 2.9)."""

    def __init__(self, message: str, existing_job_id: str | None = None) -> None:
        super().__init__(message)
        self.existing_job_id = existing_job_id


class SubmitTokenJobDeleted(Exception):
    """The submit token names a job that was deleted since (FLARE 2.9)."""

    def __init__(self, message: str, job_id: str | None = None, state: str | None = None,
                 deleted_time: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        self.deleted_time = deleted_time


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
    detail = error.detail
    if error.error_type is ErrorType.SUBMIT_TOKEN_CONFLICT:
        return SubmitTokenConflict(error.message, detail.get("existing_job_id"))
    if error.error_type is ErrorType.SUBMIT_TOKEN_JOB_DELETED:
        return SubmitTokenJobDeleted(error.message, detail.get("job_id"), detail.get("state"),
                                     detail.get("deleted_time"))
    return _BY_TYPE.get(error.error_type, InternalError)(error.message)


class CancelTooLate(Exception):
    """A cancel (Ctrl-C) came after the command could no longer be stopped, so it went on.

    ``reason`` says why it could not be stopped; ``result`` is what the command returned, or None
    when it is not known (a second cancel, or the answer never came). Raised instead of
    ``CancelledError`` so that nobody is told a command was cancelled when it was not.
    """

    def __init__(self, command: str, reason: str, result: object = None) -> None:
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.reason = reason
        self.result = result


#: ``listener(command, reason)``: told the moment a cancel is found too late to stop ``command``,
#: before its outcome is awaited (which then ends in ``CancelTooLate``, or the command's own error).
#: The interactive shell sets it, to give the prompt back at once and show the outcome when it comes;
#: the tasks it starts inherit it (a context variable). Unset (a batch, a script): nothing is told.
too_late_listener: ContextVar[Callable[[str, str], None] | None] = ContextVar("too_late_listener", default=None)


def tell_too_late(command: str, reason: str) -> None:
    """Tell ``too_late_listener`` (if any) that ``command`` goes on in spite of a cancel, and why."""
    listener = too_late_listener.get()
    if listener is not None:
        listener(command, reason)
