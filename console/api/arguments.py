"""The FLARE API's argument checks, before anything is sent, and the shapes of its answers.

Each check raises what FLARE's ``flare_api`` raises for the same mistake (ValueError for a
wrong type where FLARE asserts, InvalidArgumentError, JobNotFound), with its wording where it
has one. Used by ``console.api.async_session``; nothing here talks to the server.
"""

from __future__ import annotations

import os
import re
from typing import Any

from console.api.errors import (
    InvalidArgumentError,
    InvalidAssertion,
    InvalidSyntax,
    InvalidType,
    InvalidValue,
    JobNotFound,
)
from console.api.spec import ClientInfo, JobInfo, ServerInfo, SystemInfo, TargetType
from console.jobdef.bounds import submit_token_problem
from console.wire.kit import AdminKit, KitError
from console.wire.requesting import MalformedAnswer

#: A full job ID as our server and FLARE make them: ``str(uuid.uuid4())``, lower case. Nothing else
#: an answer calls a job ID may name a file or folder on the admin's machine.
FULL_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def check_job_id(job_id: Any) -> None:
    if not job_id:
        raise JobNotFound("job_id is required but not specified.")
    if not isinstance(job_id, str):
        raise JobNotFound(f"invalid job_id {job_id}")


def answered_job_id(asked: str, answered: Any, cmd: str, peer: str = "the server") -> str:
    """The job ID in ``peer``'s answer to ``cmd`` about ``asked`` (a job ID or a unique prefix), fit
    to name a folder: a full job ID (``FULL_JOB_ID``) that is the job asked for (as the server
    resolves a prefix: lower-cased). Anything else (a path, ``..``, another job) raises
    MalformedAnswer naming the peer and what it sent, before any path is built from it."""
    if not isinstance(answered, str) or not FULL_JOB_ID.fullmatch(answered):
        raise MalformedAnswer(f"{peer} answered {cmd} of job {asked!r:.60} with job_id {answered!r:.80}, "
                              "which is no job ID (a UUID); refused, nothing was written")
    if not answered.startswith(asked.strip().lower()):
        raise MalformedAnswer(f"{peer} answered {cmd} of job {asked!r:.60} with another job, {answered}; "
                              "refused, nothing was written")
    return answered


def check_submit_token(token: Any) -> None:
    """FLARE 2.9's rule, checked before anything is sent (InvalidArgumentError, as FLARE raises)."""
    problem = submit_token_problem(token)
    if problem:
        raise InvalidArgumentError(problem)


def list_jobs_args(detailed: Any, limit: Any, id_prefix: Any, name_prefix: Any, reverse: Any,
                   extra: dict[str, Any]) -> dict[str, Any]:
    """FLARE's argument checks for ``list_jobs`` (ValueError, as FLARE raises), then wire args."""
    if not isinstance(detailed, bool):
        raise ValueError(f"detailed must be bool but got {type(detailed)}")
    if not isinstance(reverse, bool):
        raise ValueError(f"reverse must be bool but got {type(reverse)}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise ValueError(f"limit must be None or int but got {type(limit)}")
    if id_prefix is not None and not isinstance(id_prefix, str):
        raise ValueError(f"id_prefix must be None or str but got {type(id_prefix)}")
    if name_prefix is not None and not isinstance(name_prefix, str):
        raise ValueError(f"name_prefix must be None or str but got {type(name_prefix)}")
    extra = dict(extra)
    mine = bool(extra.pop("mine", False))
    submit_token = extra.pop("submit_token", None)
    check_submit_token(submit_token)
    if extra:  # FLARE 2.9 raises TypeError, as Python does for an unknown keyword
        raise InvalidType(f"unsupported list_jobs kwargs: {sorted(extra)}")
    return {"detailed": detailed, "reverse": reverse, "limit": limit or None, "mine": mine,
            "id_prefix": id_prefix or None, "name_prefix": name_prefix or None, "submit_token": submit_token}


def system_info(data: dict[str, Any]) -> SystemInfo:
    return SystemInfo(
        server_info=ServerInfo(status=data.get("server_status"), start_time=data.get("server_start_time")),
        client_info=[ClientInfo(c.get("client_name"), c.get("client_last_conn_time")) for c in data.get("clients", [])],
        job_info=[JobInfo(job_id=j.get("job_id"), app_name=j.get("app_name")) for j in data.get("jobs", [])],
    )


class UnreadableKit(InvalidArgumentError, KitError):
    """An admin kit that cannot be read: a KitError, which ``console.flare_api`` names ``ConfigError`` as
    FLARE 2.9 raises for a kit it cannot read (``nvflare.fuel.common.excepts``).

    ``said`` is what is wrong with it, naming no argument; ``named`` puts first the Python argument it came
    in, as the function the user called calls it (FLARE's names: Session's ``startup_path``,
    new_secure_session's ``startup_kit_location``), never the console's ``--kit``."""

    def __init__(self, said: str, argument: str | None = None) -> None:
        super().__init__(f"{argument}: {said}" if argument else said)
        self.said = said

    def named(self, argument: str) -> UnreadableKit:
        return UnreadableKit(self.said, argument)


def load_kit(startup_path: Any) -> AdminKit:
    if not isinstance(startup_path, str | os.PathLike):
        raise InvalidAssertion("startup_path must be str")
    try:
        return AdminKit.load(startup_path)
    except KitError as exc:
        raise UnreadableKit(str(exc)) from None


#: FLARE 2.9's ``_VALID_TARGET_TYPES`` (``flare_api.py``): what every Session method taking a target_type
#: accepts (check_status, show_stats, show_errors, report_*, restart, shutdown).
VALID_TARGET_TYPES = (TargetType.ALL, TargetType.SERVER, TargetType.CLIENT)


def checked_target_type(value: Any, *, both: bool = True) -> str:
    """A target_type as FLARE 2.9's Session checks it (ValueError): server, client or all. ``both=False`` for
    ``sys_info`` (no FLARE Session method: its console command, whose server answers "invalid target type
    all" to ``all``)."""
    allowed = VALID_TARGET_TYPES if both else (TargetType.SERVER, TargetType.CLIENT)
    if value not in allowed:
        raise ValueError(f"invalid target_type {value!r}: must be one of {list(allowed)}")
    return str(value)


def checked_targets(target_type: str, targets: Any) -> list[str] | None:
    """The site names a command with ``target_type`` sends: as FLARE 2.9's Session, only with ``client``
    (checked then, SyntaxError); with ``server`` or ``all`` they are not looked at (FLARE neither checks
    nor sends them: ``all`` is the server and every site)."""
    return checked_site_names(targets) if target_type == TargetType.CLIENT else None


def checked_site_name(name: Any) -> str:
    """remove/disable/enable_client's ``client_name``: ValueError, as FLARE 2.9 raises."""
    if not isinstance(name, str) or not name:
        raise InvalidValue(f"client_name must be a non-empty str, not {name!r}")
    return name


#: A target as FLARE 2.9's command-line checks take it (``fuel/hci/cmd_arg_utils.py``): no blank, no quote.
_TARGET_WORD = re.compile(r"[^\s'\"]+")


def checked_site_names(names: Any, *, one_str: bool = False) -> list[str] | None:
    """A list of site names (``one_str``: or one name), as FLARE 2.9's ``process_targets_into_str`` checks
    it (SyntaxError)."""
    if not names:
        return None
    if one_str and isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise InvalidSyntax(f"targets is not a list: {names!r:.60}")
    for name in names:
        if not isinstance(name, str):
            raise InvalidSyntax(f"all targets in the list of targets must be strings, not {name!r:.60}")
        if not _TARGET_WORD.fullmatch(name):
            raise InvalidSyntax(f"invalid target {name!r:.60}")
    return list(names) or None


def checked_client_names(names: Any) -> list[str] | None:
    """get_client_env's ``client_names``: a str or a list of str (ValueError otherwise, as FLARE 2.9)."""
    if names is not None and not isinstance(names, str | list):
        raise InvalidValue(f"client_names must be str or list of str but got {type(names)}")
    return checked_site_names(names, one_str=True)


def checked_info_job_id(job_id: Any) -> None:
    """show_stats/show_errors/reset_errors' job ID, as FLARE 2.9's ``_collect_info``: TypeError, ValueError."""
    if not isinstance(job_id, str):
        raise InvalidType(f"job_id must be str but got {type(job_id)}.")
    if not job_id:
        raise InvalidValue("job_id is required but not specified.")


def checked_file_command(command: str, target: Any, options: Any, path: Any, pattern: Any) -> dict[str, Any]:
    """ls/cat/head/tail/grep/pwd's arguments, checked as FLARE 2.9's ``_shell_command_on_target`` does
    (SyntaxError; ValueError for a pattern not a str), as the wire's args."""
    if not target:
        raise InvalidSyntax("target is required but not specified.")
    if not isinstance(target, str):
        raise InvalidSyntax("target is not str.")
    if not _TARGET_WORD.fullmatch(target):
        raise InvalidSyntax("target must be a string of only valid characters and no spaces.")
    if options and not isinstance(options, str):
        raise InvalidSyntax(f"options is not str: {options!r:.40} (give them as one string, e.g. '-n 5')")
    if command == "grep":
        if not pattern:
            raise InvalidSyntax("pattern is required but not specified.")
        if not isinstance(pattern, str):
            raise InvalidValue("pattern is not str.")
    kind = "path" if command == "ls" else "file"
    if command not in ("ls", "pwd") and not path:
        raise InvalidSyntax(f"{kind} is required but not specified.")
    if path:
        if not isinstance(path, str):
            raise InvalidSyntax(f"{kind} is not str.")
        if path.startswith("/"):
            raise InvalidSyntax("absolute path is not allowed")
        if ".." in path.split("/"):
            raise InvalidSyntax(".. in path name is not allowed")
    args: dict[str, Any] = {"target": target}
    if command != "pwd":
        args["options"] = options or None
        args["path" if command == "ls" else "file"] = path or None
    if command == "grep":
        args["pattern"] = pattern
    return args


def check_session_args(username: Any, startup_path: Any, study: Any) -> None:
    """What FLARE 2.9's Session constructor asserts (AssertionError: InvalidAssertion)."""
    if not isinstance(username, str):
        raise InvalidAssertion("username must be str")
    if not isinstance(startup_path, str | os.PathLike):
        raise InvalidAssertion("startup_path must be str")
    if not isinstance(study, str):
        raise InvalidAssertion("study must be str")
    if not os.path.isdir(startup_path):
        raise InvalidAssertion(f"startup kit does not exist at {os.fspath(startup_path)}")


def kit_user(startup_path: str | os.PathLike[str]) -> str:
    """The user an insecure session logs in as: the kit certificate's common name (FLARE's ``UidSource.CERT``)."""
    from console.backends.kits import certificate_cn

    kit = load_kit(startup_path)
    return certificate_cn(kit.tls.cert) or kit.username


def check_polling(timeout: Any, poll_interval: Any) -> None:
    """monitor_job's and wait_for_job's options, as FLARE 2.9 checks them (InvalidArgumentError)."""
    if timeout < 0:
        raise InvalidArgumentError("timeout must be >= 0")
    if poll_interval <= 0:
        raise InvalidArgumentError("poll_interval must be > 0")
