"""The FLARE API's argument checks, before anything is sent, and the shapes of its answers.

Each check raises what FLARE's ``flare_api`` raises for the same mistake (ValueError for a
wrong type where FLARE asserts, InvalidArgumentError, JobNotFound), with its wording where it
has one. Used by ``console.api.async_session``; nothing here talks to the server.
"""

from __future__ import annotations

import os
import re
from typing import Any

from console.api.errors import InvalidArgumentError, JobNotFound
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
    if extra:
        raise InvalidArgumentError(f"list_jobs: unknown argument(s) {', '.join(sorted(extra))}")
    return {"detailed": detailed, "reverse": reverse, "limit": limit or None, "mine": mine,
            "id_prefix": id_prefix or None, "name_prefix": name_prefix or None, "submit_token": submit_token}


def system_info(data: dict[str, Any]) -> SystemInfo:
    return SystemInfo(
        server_info=ServerInfo(status=data.get("server_status"), start_time=data.get("server_start_time")),
        client_info=[ClientInfo(c.get("client_name"), c.get("client_last_conn_time")) for c in data.get("clients", [])],
        job_info=[JobInfo(job_id=j.get("job_id"), app_name=j.get("app_name")) for j in data.get("jobs", [])],
    )


def load_kit(startup_path: Any) -> AdminKit:
    if not isinstance(startup_path, str | os.PathLike):
        raise InvalidArgumentError("startup_path must be str")
    try:
        return AdminKit.load(startup_path)
    except KitError as exc:
        raise InvalidArgumentError(str(exc)) from None


def checked_target_type(value: Any, *, both: bool) -> str:
    allowed = (TargetType.SERVER, TargetType.CLIENT, TargetType.ALL) if both else (TargetType.SERVER, TargetType.CLIENT)
    if value not in allowed:
        raise ValueError(f"invalid target_type {value!r}: must be one of {list(allowed)}")
    return str(value)


def checked_site_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"client_name must be a site name, not {name!r}")
    return name


def checked_site_names(names: Any) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) and n for n in names):
        raise InvalidArgumentError(f"site names must be a list of str, not {names!r}")
    return list(names) or None
