"""FLARE 2.9's study and log-configuration commands on the FLARE backend: each one a call of FLARE's own
``flare_api`` Session (``register_study`` ... ``remove_study_user``, ``configure_job_log``,
``configure_site_log``); registered into ``nvflare_registry.COMMANDS`` when imported.

Our own server has no studies (every job is in FLARE's default study) and no log configuration
command: these are FLARE-only in the registry. Also the words for a login FLARE refused in a study
(``study_refusal``). Imports nothing from nvflare at import time.
"""

from __future__ import annotations

from typing import Any

from console.backends.nvflare_registry import command


def _listed(value: Any) -> list[str] | None:
    """``--sites a,b`` (FLARE's own console's form) as FLARE's API takes it: a list, None when not given."""
    if not value:
        return None
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _members(s: Any, a: dict[str, Any], method: str) -> Any:
    groups = str(a.get("site_orgs") or "").split() or None  # "org1:a,b org2:c": FLARE's repeated --site-org
    return getattr(s, method)(a["study"], sites=_listed(a.get("sites")), site_orgs=groups)


@command("list_studies")
def _list_studies(s: Any, a: dict[str, Any]) -> Any:
    return s.list_studies()


@command("show_study")
def _show_study(s: Any, a: dict[str, Any]) -> Any:
    return s.show_study(a["study"])


@command("register_study")
def _register_study(s: Any, a: dict[str, Any]) -> Any:
    return _members(s, a, "register_study")


@command("add_study_site")
def _add_study_site(s: Any, a: dict[str, Any]) -> Any:
    return _members(s, a, "add_study_site")


@command("remove_study_site")
def _remove_study_site(s: Any, a: dict[str, Any]) -> Any:
    return _members(s, a, "remove_study_site")


@command("remove_study")
def _remove_study(s: Any, a: dict[str, Any]) -> Any:
    return s.remove_study(a["study"])


@command("add_study_user")
def _add_study_user(s: Any, a: dict[str, Any]) -> Any:
    return s.add_study_user(a["study"], a["user"])


@command("remove_study_user")
def _remove_study_user(s: Any, a: dict[str, Any]) -> Any:
    return s.remove_study_user(a["study"], a["user"])


@command("configure_job_log")
def _configure_job_log(s: Any, a: dict[str, Any]) -> Any:
    target = a.get("target") or "all"
    s.configure_job_log(a["job_id"], a["config"], target)  # FLARE answers nothing: say what was asked
    return f"log of job {a['job_id']} on {target}: {a['config']}"


@command("configure_site_log")
def _configure_site_log(s: Any, a: dict[str, Any]) -> Any:
    target = a.get("target") or "all"
    s.configure_site_log(a["config"], target)
    return f"site log on {'every site' if target == 'client' else target}: {a['config']}"


def study_refusal(flare_says: str, study: str, user: str, where: str, studies: list[str] | None) -> str:
    """Why FLARE 2.9's server refused a login in ``study`` (its ``fuel/hci/server/login.py``: a study it does not
    have, no study registry at all, or a study ``user`` is not mapped to), with ``studies``: those its list_studies
    gives ``user`` (None: not known). list_studies lists for a lead or member the studies they are mapped to,
    for an org admin those with a site of their org, for a project admin every one."""
    listed = ("" if studies is None else f"; the studies FLARE lists for {user}: {', '.join(studies)}" if studies
              else f"; FLARE lists no study for {user} (only its default one)")
    if "is not mapped to study" in flare_says:
        said = (f"study {study} exists on the FLARE server at {where}, but {user} is not in it ({flare_says}){listed}; "
                f"a project admin adds users to a study (add_study_user {study} {user})")
    elif "is not configured on the server" in flare_says:
        said = f"the FLARE server at {where} has no studies configured ({flare_says})"
    else:
        said = f"the FLARE server at {where} has no study {study} ({flare_says}){listed}"
    return f"--study {study}: {said}; leave out --study for FLARE's default study"
