"""A job command FLARE refused because the job is not the admin's: said so, not blamed on the role.

FLARE 2.9's default authorization (its provisioning's ``default_authz``) lets a lead manage, clone and
download only the jobs they submitted (``n:submitter``), an org admin manage and download those submitted in
their org (``o:submitter``). Its refusal names neither ("user not authorized for the action 'abort_job'"), so
the console said the role does not allow it: wrong for a lead aborting another lead's job. On such a refusal
the job's meta is read (one more call, on this failure only); a job submitted by someone else is said to be
theirs. Owns only that wording; imports nothing of FLARE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.api import errors
from console.backends.nvflare_sites import in_our_words

#: FLARE 2.9's commands whose right is ruled by who submitted the job (security.py's manage_job, clone_job and
#: download_job categories), as the console names them.
BY_SUBMITTER = frozenset({"abort_job", "delete_job", "clone_job", "download_job", "download_job_components",
                          "configure_job_log", "get_job_logs"})


def owned(name: str, func: Callable[[Any, dict[str, Any]], Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """``func`` (a FLARE command function), its authorization refusal of someone else's job said as that."""

    def run(s: Any, a: dict[str, Any]) -> Any:
        try:
            return func(s, a)
        except Exception as exc:
            if type(exc).__name__ != "AuthorizationError" or not a.get("job_id"):
                raise
            said = not_theirs(name, a["job_id"], getattr(s, "username", None), _meta(s, a["job_id"]))
            if said is None:
                raise
            raise said from exc

    return run


#: clone_job and download_job as the backend calls them (not registry commands: ``nvflare.FlareBackend`` has them).
CLONE_JOB = owned("clone_job", lambda s, a: s.clone_job(a["job_id"]))
DOWNLOAD_JOB = owned("download_job", lambda s, a: s.download_job_result(a["job_id"], a["destination"]))


def _meta(s: Any, job_id: str) -> dict[str, Any] | None:
    try:
        meta = s.get_job_meta(job_id)
    except Exception:  # (not known: the refusal is said as FLARE gave it)
        return None
    return meta if isinstance(meta, dict) else None


def not_theirs(command: str, job_id: str, user: str | None, meta: dict[str, Any] | None) -> Exception | None:
    """The refusal of ``command`` on ``job_id`` when its meta names a submitter other than ``user``; None when
    the job is the user's, or who submitted it is not known (then the role is what refused)."""
    submitter = meta.get("submitter_name") if meta else None
    if not user or not isinstance(submitter, str) or not submitter or submitter == user:
        return None
    org = meta.get("submitter_org") if meta else None
    by = f"{submitter} (org {org})" if isinstance(org, str) and org else submitter
    return in_our_words(errors.AuthorizationError(
        f"{command} was refused: job {job_id} is not yours, {by} submitted it; FLARE's default policy lets a lead "
        "manage, clone and download only the jobs they submitted, an org admin those submitted in their org; "
        f"ask {submitter} or a project admin"))
