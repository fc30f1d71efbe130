"""FLARE 2.9 Session methods our engine has no counterpart for: each checks its arguments as FLARE's
does (so a bad one raises what FLARE raises), then raises FLARE's CommandError saying what our engine
lacks and that FLARE's engine has it. Never a made-up result, never AttributeError.

Owns only those methods (``FlareOnlyMethods``, a base of ``console.api.session.Session``); the FLARE kit's
Session (``console.backends.nvflare_script``) runs FLARE's own instead. Must not talk to the server.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from console.api.arguments import check_job_id
from console.api.errors import CommandError, InvalidArgumentError, InvalidValue

#: ``CommandError.error_code`` of a FLARE command this engine does not offer.
NOT_SUPPORTED = "COMMAND_NOT_SUPPORTED"

#: FLARE 2.9's built-in log modes (its ``LogMode``); a level is a name of ``logging`` or a number 0-50.
_LOG_MODES = frozenset({"reload", "full", "concise", "msg_only", "verbose"})


def _check_site_log_config(config: Any) -> None:
    """FLARE 2.9's ``validate_site_log_config`` (ValueError): a log level or a built-in log mode."""
    text = config.strip() if isinstance(config, str) else ""
    level = int(text) if text.isdigit() else getattr(logging, text.upper(), None) if text else None
    if text not in _LOG_MODES and (not isinstance(level, int) or not 0 <= level <= 50):
        raise InvalidValue("configure_site_log only supports log levels and built-in log modes")


def unsupported(method: str, lacks: str) -> CommandError:
    """The error for ``method``, which needs ``lacks`` (a phrase: what our engine does not have)."""
    return CommandError(
        NOT_SUPPORTED,
        f"{method} is not supported by flare-console's own engine: it has no {lacks}; NVIDIA FLARE's engine "
        "has it (a Session made with FLARE's admin kit runs FLARE's own)",
        hint="use a FLARE deployment's admin kit for this command",
    )


def _check_study(study: Any) -> None:
    if not isinstance(study, str):
        raise InvalidArgumentError(f"study must be str but got {type(study)}")
    if not study:
        raise InvalidArgumentError("study is required but not specified.")


def _check_sites(sites: Any, site_orgs: Any) -> None:
    """FLARE 2.9's study checks (InvalidArgumentError): site_orgs if given, else sites, a non-empty list of str."""
    if sites and site_orgs:
        raise InvalidArgumentError("sites and site_orgs are mutually exclusive; provide only one")
    name, value = ("site_orgs", site_orgs) if site_orgs else ("sites", sites)
    if not isinstance(value, list):
        raise InvalidArgumentError(f"{name} must be list but got {type(value)}")
    if not value:
        raise InvalidArgumentError(f"{name} are required but not specified.")
    for item in value:
        if not isinstance(item, str) or not item:
            raise InvalidArgumentError(f"invalid {name[:-1]} value: {item}")


def _check_user(user: Any) -> None:
    if not isinstance(user, str):
        raise InvalidArgumentError(f"user must be str but got {type(user)}")
    if not user:
        raise InvalidArgumentError("user is required but not specified.")


_STUDIES = "studies (every job is in FLARE's default study)"
_COMPONENTS = "additional job components (ERRORLOG_site-1 and the like): a job's logs are get_job_logs'"
_LOG_CONFIG = "command that changes a log's level or mode while it runs"


class FlareOnlyMethods:
    """FLARE 2.9's Session methods our server lacks, name for name (``nvflare.fuel.flare_api.flare_api``)."""

    def list_job_components(self, job_id: str) -> list[str]:
        check_job_id(job_id)
        raise unsupported("list_job_components", _COMPONENTS)

    def download_job_components(self, job_id: str) -> str:
        check_job_id(job_id)
        raise unsupported("download_job_components", _COMPONENTS)

    def configure_job_log(self, job_id: str, config: Any, target: str = "all") -> None:
        check_job_id(job_id)
        raise unsupported("configure_job_log", _LOG_CONFIG)

    def configure_site_log(self, config: Any, target: str = "all") -> None:
        _check_site_log_config(config)
        raise unsupported("configure_site_log", _LOG_CONFIG)

    def do_app_command(self, job_id: str, topic: str, cmd_data: Any) -> dict[str, Any]:
        if cmd_data:  # FLARE 2.9 checks only this before sending
            try:
                json.dumps(cmd_data)
            except (TypeError, ValueError) as exc:
                raise InvalidValue(f"cmd_data cannot be JSON serialized: {exc}") from None
        raise unsupported("do_app_command", "app commands (a job's app here answers no command of its own)")

    def do_command(self, command: str, props: Any = None) -> dict[str, Any]:
        """As FLARE 2.9's, ``self.api.do_command``: on our engine it names the Session method to call instead."""
        api = getattr(self, "api", None)
        if api is None:
            raise unsupported("do_command", "FLARE admin command lines")
        return api.do_command(command, props)

    def register_study(self, study: str, sites: list[str] | None = None,
                       site_orgs: list[str] | None = None) -> dict[str, Any]:
        _check_study(study)
        _check_sites(sites, site_orgs)
        raise unsupported("register_study", _STUDIES)

    def add_study_site(self, study: str, sites: list[str] | None = None,
                       site_orgs: list[str] | None = None) -> dict[str, Any]:
        _check_study(study)
        _check_sites(sites, site_orgs)
        raise unsupported("add_study_site", _STUDIES)

    def remove_study_site(self, study: str, sites: list[str] | None = None,
                          site_orgs: list[str] | None = None) -> dict[str, Any]:
        _check_study(study)
        _check_sites(sites, site_orgs)
        raise unsupported("remove_study_site", _STUDIES)

    def remove_study(self, study: str) -> dict[str, Any]:
        _check_study(study)
        raise unsupported("remove_study", _STUDIES)

    def list_studies(self) -> dict[str, Any]:
        raise unsupported("list_studies", _STUDIES)

    def show_study(self, study: str) -> dict[str, Any]:
        _check_study(study)
        raise unsupported("show_study", _STUDIES)

    def add_study_user(self, study: str, user: str) -> dict[str, Any]:
        _check_study(study)
        _check_user(user)
        raise unsupported("add_study_user", _STUDIES)

    def remove_study_user(self, study: str, user: str) -> dict[str, Any]:
        _check_study(study)
        _check_user(user)
        raise unsupported("remove_study_user", _STUDIES)
