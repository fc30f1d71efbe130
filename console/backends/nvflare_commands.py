"""Registry commands on NVIDIA FLARE: each one a call of FLARE's own ``flare_api`` Session.

Runs on the FLARE backend's worker thread (FLARE's calls block). Every function takes the
Session and the command's wire arguments (job IDs already resolved to full ones) and
returns what the console shows, shaped like our server's answers where FLARE's differ only
in packaging (the ``status``/``info`` envelope of a reply's meta is dropped). Imports
nothing from nvflare at import time: the Session comes in as an argument.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.api.errors import InternalError

Command = Callable[[Any, dict[str, Any]], Any]
COMMANDS: dict[str, Command] = {}

#: Keys of FLARE's reply meta that describe the reply, not the answer.
_ENVELOPE = ("status", "info")


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func

    return register


def _answer(meta: Any) -> Any:
    if isinstance(meta, dict):
        return {k: v for k, v in meta.items() if k not in _ENVELOPE}
    return meta


def _targets(args: dict[str, Any]) -> list[str] | None:
    return args.get("targets") or None


def _tables(reply: dict[str, Any]) -> Any:
    """FLARE's table replies (``sys_info``) as {first column: second column}; several tables,
    each after a heading line ("Client: site-1"), as {site: table}."""
    tables: dict[str, Any] = {}
    heading = ""
    for item in reply.get("data", []):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "string" and str(item.get("data", "")).strip():
            heading = str(item["data"]).strip().removeprefix("Client:").strip()
        elif item.get("type") == "table":
            rows = item.get("rows") or []
            tables[heading or f"table {len(tables) + 1}"] = {
                str(r[0]): r[1] for r in rows[1:] if isinstance(r, list) and len(r) >= 2}
            heading = ""
    if len(tables) == 1 and next(iter(tables)).startswith("table"):
        return next(iter(tables.values()))
    return tables


def _raw(session: Any, parts: list[str], enforce_meta: bool = True) -> dict[str, Any]:
    """A FLARE admin command that the Session has no method for, through the Session's own
    command runner (which maps FLARE's error statuses to its exceptions)."""
    from nvflare.fuel.hci.cmd_arg_utils import join_args

    return session._do_command(join_args(parts), enforce_meta=enforce_meta)


# -- system --------------------------------------------------------------------------------


@command("check_status")
def _check_status(s: Any, a: dict[str, Any]) -> Any:
    return _answer(s.check_status(a["target_type"], _targets(a)))


@command("sys_info")
def _sys_info(s: Any, a: dict[str, Any]) -> Any:
    parts = ["sys_info", a["target_type"], *(_targets(a) or [])]
    return _tables(_raw(s, parts, enforce_meta=False))


@command("report_version")
def _report_version(s: Any, a: dict[str, Any]) -> Any:
    return s.report_version(a["target_type"], _targets(a))


@command("report_resources")
def _report_resources(s: Any, a: dict[str, Any]) -> Any:
    return s.report_resources(a["target_type"], _targets(a))


@command("report_env")
def _report_env(s: Any, a: dict[str, Any]) -> Any:
    return s.get_client_env(_targets(a))


@command("set_timeout")
def _set_timeout(s: Any, a: dict[str, Any]) -> Any:
    s.set_timeout(a["value"])
    return f"command timeout of this session: {a['value']:g} s"


@command("unset_timeout")
def _unset_timeout(s: Any, a: dict[str, Any]) -> Any:
    s.unset_timeout()
    return "command timeout: the server's default"


@command("shutdown")
def _shutdown(s: Any, a: dict[str, Any]) -> Any:
    # wait=False: the console reports the request at once; the toolbar shows the server going away.
    return _stopping(_answer(s.shutdown(a["target_type"], _targets(a), wait=False)), a, "shutting down")


@command("restart")
def _restart(s: Any, a: dict[str, Any]) -> Any:
    return _stopping(_answer(s.restart(a["target_type"], _targets(a), wait=False)), a, "restarting")


def _stopping(answer: Any, a: dict[str, Any], doing: str) -> Any:
    """FLARE 2.9 answers a shutdown or restart it accepted with nothing (the console showed "(empty)"):
    what was asked, in our server's shape (``server_status``, ``client_status``)."""
    if answer not in ({}, None, ""):
        return answer
    said: dict[str, Any] = {}
    if a["target_type"] in ("client", "all"):
        sites = _targets(a) if a["target_type"] == "client" else None
        said["client_status"] = f"{', '.join(sites) if sites else 'every site'}: {doing}"
    if a["target_type"] in ("server", "all"):
        said["server_status"] = f"server is {doing}"
    return said


@command("remove_client")
def _remove_client(s: Any, a: dict[str, Any]) -> Any:
    s.remove_client(a["site"])
    return f"removed {a['site']}: its connection is released (it registers again when it reconnects)"


@command("disable_client")
def _disable_client(s: Any, a: dict[str, Any]) -> Any:
    return s.disable_client(a["site"]) or f"disabled {a['site']}"


@command("enable_client")
def _enable_client(s: Any, a: dict[str, Any]) -> Any:
    return s.enable_client(a["site"]) or f"enabled {a['site']}"


# -- jobs ----------------------------------------------------------------------------------


@command("list_jobs")
def _list_jobs(s: Any, a: dict[str, Any]) -> Any:
    if not a.get("mine"):
        return s.list_jobs(detailed=bool(a.get("detailed")), limit=a.get("limit") or None,
                           id_prefix=a.get("id_prefix") or None, name_prefix=a.get("name_prefix") or None,
                           reverse=bool(a.get("reverse")), submit_token=a.get("submit_token") or None)
    # FLARE's Session has no "mine"; its list_jobs admin command does (-u).
    parts = ["list_jobs", "-u"]
    for flag, key in (("-d", "detailed"), ("-r", "reverse")):
        if a.get(key):
            parts.append(flag)
    if a.get("limit"):
        parts += ["-m", str(a["limit"])]
    if a.get("name_prefix"):
        parts += ["-n", a["name_prefix"]]
    if a.get("submit_token"):
        parts += ["--submit-token", a["submit_token"]]
    if a.get("id_prefix"):
        parts.append(a["id_prefix"])
    return _raw(s, parts)["meta"].get("jobs", [])


@command("get_job_meta")
def _get_job_meta(s: Any, a: dict[str, Any]) -> Any:
    return s.get_job_meta(a["job_id"])


@command("abort_job")
def _abort_job(s: Any, a: dict[str, Any]) -> Any:
    return s.abort_job(a["job_id"]) or f"abort requested for {a['job_id']}"


@command("delete_job")
def _delete_job(s: Any, a: dict[str, Any]) -> Any:
    return s.delete_job(a["job_id"])


@command("show_stats")
def _show_stats(s: Any, a: dict[str, Any]) -> Any:
    return s.show_stats(a["job_id"], a["target_type"], _targets(a))


@command("show_errors")
def _show_errors(s: Any, a: dict[str, Any]) -> Any:
    return s.show_errors(a["job_id"], a["target_type"], _targets(a)) or "no errors"


@command("reset_errors")
def _reset_errors(s: Any, a: dict[str, Any]) -> Any:
    s.reset_errors(a["job_id"])
    return f"errors of {a['job_id']} reset"


@command("get_job_logs")
def _get_job_logs(s: Any, a: dict[str, Any]) -> Any:
    return s.get_job_logs(a["job_id"], target=a.get("target") or "server", tail_lines=a.get("tail_lines"),
                          grep_pattern=a.get("grep_pattern"), log_file_name=a.get("log_file_name") or "log.txt")


@command("list_job_components")
def _list_job_components(s: Any, a: dict[str, Any]) -> Any:
    return s.list_job_components(a["job_id"])


@command("download_job_components")
def _download_job_components(s: Any, a: dict[str, Any]) -> Any:
    location = s.download_job_components(a["job_id"])
    if not location:
        raise InternalError(f"FLARE returned no location for the components of {a['job_id']}")
    return f"Downloaded to {location}"


# -- files on the server and sites ------------------------------------------------------------


@command("ls")
def _ls(s: Any, a: dict[str, Any]) -> Any:
    return s.ls_target(a["target"], a.get("options"), a.get("path"))


@command("cat")
def _cat(s: Any, a: dict[str, Any]) -> Any:
    return s.cat_target(a["target"], a.get("options"), a["file"])


@command("head")
def _head(s: Any, a: dict[str, Any]) -> Any:
    return s.head_target(a["target"], a.get("options"), a["file"])


@command("tail")
def _tail(s: Any, a: dict[str, Any]) -> Any:
    return s.tail_target(a["target"], a.get("options"), a["file"])


@command("grep")
def _grep(s: Any, a: dict[str, Any]) -> Any:
    return s.grep_target(a["target"], a.get("options"), a["pattern"], a["file"])


@command("pwd")
def _pwd(s: Any, a: dict[str, Any]) -> Any:
    return s.get_working_directory(a["target"])


def submit_a_copy(session: Any, args: dict[str, Any]) -> str:
    """FLARE's submit_job signs the job folder in place (``.__nvfl_sig.json`` files in every
    folder): it gets a copy, so the user's folder (often under version control) stays as it was."""
    folder: Path = args["folder"]
    with tempfile.TemporaryDirectory(prefix="flare-console-submit-") as scratch:
        staged = Path(scratch) / folder.name
        shutil.copytree(folder, staged, ignore=shutil.ignore_patterns(".__nvfl_*"))
        return session.submit_job(str(staged), args.get("token"))
