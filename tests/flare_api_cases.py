"""Bad inputs to each FLARE API Session method and the exception FLARE 2.9 raises for each, read from its
``nvflare/fuel/flare_api/flare_api.py`` (and the validators it calls). Shared by the test on our engine
(``test_flare_api_names``) and the one on a FLARE POC, which also runs FLARE's own Session over the same
table: the table is checked against FLARE itself, not only against our reading of it.

Each case: (method, args, kwargs, what FLARE raises: a builtin's name or one of its flare_api classes', or
"none" for an input FLARE takes: its ``target_type`` rules, ``all`` and targets looked at only with ``client``).
Only inputs refused, or read-only, before anything changes on the server (no shutdown with a bad timeout: a
slip would stop the POC). Importable without pytest (FLARE's venv runs ``run_cases``).
"""

from __future__ import annotations

import builtins
import json
from typing import Any

NOT_A_JOB = "00000000-0000-0000-0000-00000000dead"

CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("submit_job", (None,), {}, "InvalidJobDefinition"),
    ("submit_job", (123,), {}, "InvalidJobDefinition"),
    ("submit_job", ("/no/such/job/folder",), {}, "InvalidJobDefinition"),
    ("clone_job", ("",), {}, "JobNotFound"),
    ("get_job_meta", (None,), {}, "JobNotFound"),
    ("get_job_meta", (NOT_A_JOB,), {}, "JobNotFound"),
    ("abort_job", (5,), {}, "JobNotFound"),
    ("delete_job", ("",), {}, "JobNotFound"),
    ("download_job_result", (None,), {}, "JobNotFound"),
    ("list_jobs", (), {"detailed": "yes"}, "ValueError"),
    ("list_jobs", (), {"limit": "3"}, "ValueError"),
    ("list_jobs", (), {"reverse": 1}, "ValueError"),
    ("list_jobs", (), {"id_prefix": 5}, "ValueError"),
    ("list_jobs", (), {"name_prefix": 5}, "ValueError"),
    ("list_jobs", (), {"bogus": 1}, "TypeError"),
    ("list_jobs", (), {"submit_token": "bad token with blanks"}, "InvalidArgumentError"),
    ("show_stats", (5, "server"), {}, "TypeError"),
    ("show_stats", ("", "server"), {}, "ValueError"),
    ("show_stats", ("x", "site-a1"), {}, "ValueError"),
    ("show_errors", (None, "client"), {}, "TypeError"),
    ("show_errors", ("x", "nosuch"), {}, "ValueError"),
    ("reset_errors", (None,), {}, "TypeError"),
    ("check_status", ("nosuch",), {}, "ValueError"),
    ("check_status", ("client", "site-1"), {}, "SyntaxError"),
    ("check_status", ("client", [5]), {}, "SyntaxError"),
    ("check_status", ("all",), {}, "none"),
    ("check_status", ("server", [5]), {}, "none"),  # FLARE 2.9 checks (and sends) targets only with client
    ("show_stats", (NOT_A_JOB, "all"), {}, "JobNotFound"),  # all taken: the job is what is wrong
    ("show_errors", (NOT_A_JOB, "all", "site-1"), {}, "JobNotFound"),
    ("report_version", ("all", "site-1"), {}, "none"),
    ("report_resources", ("server", [5]), {}, "none"),
    ("get_client_job_status", ([5],), {}, "SyntaxError"),
    ("report_resources", ("x",), {}, "ValueError"),
    ("report_version", ("x",), {}, "ValueError"),
    ("get_client_job_status", ("site-1",), {}, "SyntaxError"),
    ("ls_target", ("",), {}, "SyntaxError"),
    ("ls_target", (5,), {}, "SyntaxError"),
    ("ls_target", ("server",), {"options": 5}, "SyntaxError"),
    ("ls_target", ("server",), {"path": "/etc"}, "SyntaxError"),
    ("ls_target", ("server",), {"path": "../x"}, "SyntaxError"),
    ("cat_target", ("server",), {}, "SyntaxError"),
    ("head_target", ("server",), {"options": "-n 3"}, "SyntaxError"),
    ("tail_target_log", ("server", 5), {}, "SyntaxError"),
    ("head_target_log", ("server", 5), {}, "SyntaxError"),
    ("grep_target", ("server",), {"file": "log.txt"}, "SyntaxError"),
    ("grep_target", ("server",), {"pattern": 5, "file": "log.txt"}, "ValueError"),
    ("get_working_directory", ("",), {}, "SyntaxError"),
    ("get_job_logs", (None,), {}, "JobNotFound"),
    ("get_job_logs", ("x",), {"target": ""}, "ValueError"),
    ("remove_client", ("",), {}, "ValueError"),
    ("disable_client", (5,), {}, "ValueError"),
    ("enable_client", ("",), {}, "ValueError"),
    ("restart", ("nosuch",), {}, "ValueError"),
    ("shutdown", ("nosuch",), {}, "ValueError"),
    ("set_timeout", ("x",), {}, "TypeError"),
    ("set_timeout", (0,), {}, "ValueError"),
    ("get_client_env", (5,), {}, "ValueError"),
    ("monitor_job", (NOT_A_JOB,), {"timeout": -1}, "InvalidArgumentError"),
    ("monitor_job_and_return_job_meta", (NOT_A_JOB,), {"poll_interval": 0}, "InvalidArgumentError"),
    ("wait_for_job", (NOT_A_JOB,), {"poll_interval": 0}, "InvalidArgumentError"),
    ("list_job_components", ("",), {}, "JobNotFound"),
    ("download_job_components", (None,), {}, "JobNotFound"),
    ("configure_job_log", ("", "INFO"), {}, "JobNotFound"),
    ("configure_site_log", ("nonsense",), {}, "ValueError"),
    ("configure_site_log", (5,), {}, "ValueError"),
    ("do_app_command", (NOT_A_JOB, "hello", {"x": object()}), {}, "ValueError"),
    ("register_study", (5,), {"sites": ["site-1"]}, "InvalidArgumentError"),
    ("register_study", ("st",), {}, "InvalidArgumentError"),
    ("register_study", ("st",), {"sites": ["site-1"], "site_orgs": ["org:site-1"]}, "InvalidArgumentError"),
    ("add_study_site", ("st",), {"sites": [""]}, "InvalidArgumentError"),
    ("remove_study_site", ("st",), {"site_orgs": "org:site-1"}, "InvalidArgumentError"),
    ("remove_study", ("",), {}, "InvalidArgumentError"),
    ("show_study", (None,), {}, "InvalidArgumentError"),
    ("add_study_user", ("st", ""), {}, "InvalidArgumentError"),
    ("remove_study_user", ("st", 5), {}, "InvalidArgumentError"),
]


def case_id(case: tuple[str, tuple[Any, ...], dict[str, Any], str]) -> str:
    method, args, kwargs, _ = case
    shown = [repr(a)[:20] for a in args] + [f"{k}={v!r}"[:24] for k, v in kwargs.items()]
    return f"{method}({', '.join(shown)})"


def raised(session: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The names of the classes (its MRO) of what ``session.method(*args, **kwargs)`` raised; ["none"] if nothing."""
    try:
        getattr(session, method)(*args, **kwargs)
    except Exception as exc:
        return [k.__name__ for k in type(exc).__mro__]
    return ["none"]


def matches(mro: list[str], expected: str) -> bool:
    """Ours is FLARE's class (the same name: ours are its classes name for name) or a subclass of its builtin."""
    return expected in mro


def run_cases(session: Any) -> str:
    """JSON: case id -> the MRO names of what ``session`` raised."""
    return json.dumps({case_id(c): raised(session, *c[:3]) for c in CASES})


assert all(expected == "none" or expected in dir(builtins) or expected[0].isupper() for *_, expected in CASES)
