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
from console.wire.flare_kin import KinConnectionError, KinException, adopt


class AuthenticationError(KinException):
    pass


class AuthorizationError(KinException):
    pass


class ClientsStillRunning(KinException):
    pass


class CommandError(KinException):
    """FLARE 2.9's: a command the server refused with a code (``error_code``), what to do (``hint``) and the
    exit code its CLI gives; also what a command our engine lacks raises (``unsupported``)."""

    def __init__(self, error_code: str = "", message: str = "", hint: str = "", exit_code: int = 1) -> None:
        super().__init__(message or error_code)
        self.error_code = error_code
        self.message = message or error_code
        self.hint = hint
        self.exit_code = exit_code


class FLCommunicationError(KinException):
    """FLARE 2.9's (``nvflare.apis.fl_exception``), which its try_connect lets through when a connection
    fails other than by "cannot connect"; ours raises NoConnection for every failed connection."""


class InternalError(KinException):
    pass


class InvalidArgumentError(KinException):
    pass


# Where FLARE 2.9's Session raises a builtin for a bad argument (ValueError for a wrong value or type it
# checks, SyntaxError for a target, option or path its command-line checks refuse, TypeError for an
# unknown keyword, AssertionError from its constructor), ours raises one of these: a script's ``except
# ValueError`` written for FLARE catches it, and the console's ``except InvalidArgumentError`` too.


class InvalidValue(InvalidArgumentError, ValueError):
    pass


class InvalidSyntax(InvalidArgumentError, SyntaxError):
    pass


class InvalidType(InvalidArgumentError, TypeError):
    pass


class InvalidAssertion(InvalidArgumentError, AssertionError):
    pass


#: The builtin FLARE raises -> ours, most specific first (``as_ours``).
_BUILTIN_ARGUMENT_ERRORS: tuple[tuple[type[Exception], type[InvalidArgumentError]], ...] = (
    (SyntaxError, InvalidSyntax), (TypeError, InvalidType), (AssertionError, InvalidAssertion),
    (ValueError, InvalidValue),
)


def argument_error(exc: BaseException) -> InvalidArgumentError | None:
    """``exc`` (a builtin argument error FLARE raised) as ours, keeping its builtin class; None if it is none."""
    if isinstance(exc, InvalidArgumentError):
        return exc
    for builtin, ours in _BUILTIN_ARGUMENT_ERRORS:
        if isinstance(exc, builtin):
            return ours(str(exc))
    return None


class InvalidJobDefinition(KinException):
    pass


class InvalidTarget(KinException):
    pass


class JobNotDone(KinException):
    pass


class JobNotFound(KinException):
    pass


class JobNotRunning(KinException):
    pass


class JobTimeout(KinException):
    pass


class NoClientsAvailable(KinException):
    pass


class NoConnection(KinConnectionError):
    pass


class NoAnswer(NoConnection):
    """A request's answer did not come within its deadline (``Requester.request_timeout``); the
    connection is kept, and an answer that comes later is dropped."""


class NoReply(KinException):
    pass


class SessionClosed(KinException):
    pass


class SessionExpired(SessionClosed):
    pass


class SubmitTokenConflict(KinException):
    """The submit token was already used, by the same submitter, for a job of other content (FLARE 2.9)."""

    def __init__(self, message: str, existing_job_id: str | None = None) -> None:
        super().__init__(message)
        self.existing_job_id = existing_job_id


class SubmitTokenJobDeleted(KinException):
    """The submit token names a job that was deleted since (FLARE 2.9)."""

    def __init__(self, message: str, job_id: str | None = None, state: str | None = None,
                 deleted_time: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        self.deleted_time = deleted_time


# FLARE's classes of these names become their bases when FLARE's modules load (flare_kin's docstring).
adopt("nvflare.fuel.flare_api.api_spec", {cls.__name__: cls for cls in (
    AuthenticationError, AuthorizationError, ClientsStillRunning, CommandError, InternalError, InvalidArgumentError,
    InvalidJobDefinition, InvalidTarget, JobNotDone, JobNotFound, JobNotRunning, JobTimeout, NoClientsAvailable,
    NoConnection, NoReply, SessionClosed, SessionExpired, SubmitTokenConflict, SubmitTokenJobDeleted)})
adopt("nvflare.apis.fl_exception", {"FLCommunicationError": FLCommunicationError})

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
    ErrorType.NO_REPLY: NoReply,
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
