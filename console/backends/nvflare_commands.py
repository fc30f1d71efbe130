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

from console.api.errors import InternalError, JobNotDone, JobNotRunning
from console.backends import nvflare_orphans as orphans
from console.backends.nvflare_sites import refuse_if_refused, run_keeping_replies

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
    return _per_site(_tables(_raw(s, parts, enforce_meta=False)), "sys_info")


def _per_site(answer: Any, command: str) -> Any:
    """A {site: answer} reply, a site's refusal in it raised (FLARE returns it as that site's answer)."""
    if isinstance(answer, dict):
        refuse_if_refused(answer, command)
    return answer


@command("report_version")
def _report_version(s: Any, a: dict[str, Any]) -> Any:
    return _per_site(s.report_version(a["target_type"], _targets(a)), "report_version")


@command("report_resources")
def _report_resources(s: Any, a: dict[str, Any]) -> Any:
    return _per_site(s.report_resources(a["target_type"], _targets(a)), "report_resources")


@command("report_env")
def _report_env(s: Any, a: dict[str, Any]) -> Any:
    return _per_site(s.get_client_env(_targets(a)), "report_env")


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
    meta, sites = run_keeping_replies(s, lambda: s.shutdown(a["target_type"], _targets(a), wait=False), "shutdown")
    return _stopping(_answer(meta), sites, a, "shutting down")


@command("restart")
def _restart(s: Any, a: dict[str, Any]) -> Any:
    meta, sites = run_keeping_replies(s, lambda: s.restart(a["target_type"], _targets(a), wait=False), "restart")
    return _stopping(_answer(meta), sites, a, "restarting")


def _stopping(answer: Any, sites: dict[str, str], a: dict[str, Any], doing: str) -> Any:
    """What a shutdown or restart FLARE accepted did, in our server's shape: ``server_status``, and
    ``client_status`` with each site's own answer as fl_admin.sh tables it ({site: answer}). FLARE 2.9's
    meta is empty (the console showed "(empty)") or holds restart's ``client_status``."""
    said: dict[str, Any] = {k: v for k, v in answer.items() if k != "client_status"} if isinstance(answer, dict) else {}
    if a["target_type"] in ("client", "all"):
        if sites:
            said["client_status"] = sites
        else:
            asked = _targets(a) if a["target_type"] == "client" else None
            said["client_status"] = f"{', '.join(asked) if asked else 'every site'}: {doing}"
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


def list_jobs(s: Any, a: dict[str, Any]) -> Any:
    """FLARE's list_jobs rows as it lists them (job ID resolution, completion, the poll)."""
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


@command("list_jobs")
def _list_jobs(s: Any, a: dict[str, Any]) -> Any:
    """The user's list_jobs: a job FLARE lists as running that its server does not run is marked
    (``nvflare_orphans``); one more call (check_status server) only when some job is listed running."""
    rows = list_jobs(s, a)
    if isinstance(rows, list) and orphans.listed_running(rows):
        rows = orphans.mark_orphans(rows, _answer(s.check_status("server")))
    return rows


def orphaned(s: Any, job_id: str) -> bool:
    """Whether ``job_id`` is listed running but its server does not run it (``nvflare_orphans``)."""
    meta = s.get_job_meta(job_id)
    running, started = orphans.engine_view(_answer(s.check_status("server")))
    return isinstance(meta, dict) and orphans.is_orphan(meta, running, started)


@command("get_job_meta")
def _get_job_meta(s: Any, a: dict[str, Any]) -> Any:
    return s.get_job_meta(a["job_id"])


@command("abort_job")
def _abort_job(s: Any, a: dict[str, Any]) -> Any:
    try:
        return s.abort_job(a["job_id"]) or f"abort requested for {a['job_id']}"
    except Exception as exc:  # FLARE 2.9: "server internal error: Job ... is not running." for an orphaned job
        if "is not running" in str(exc) and orphaned(s, a["job_id"]):
            raise JobNotRunning(orphans.orphan_message(a["job_id"], "abort_job")) from exc
        raise


@command("delete_job")
def _delete_job(s: Any, a: dict[str, Any]) -> Any:
    try:
        return s.delete_job(a["job_id"])
    except Exception as exc:
        if type(exc).__name__ == "JobNotDone" and orphaned(s, a["job_id"]):
            raise JobNotDone(orphans.orphan_message(a["job_id"], "delete_job")) from exc
        raise


@command("show_stats")
def _show_stats(s: Any, a: dict[str, Any]) -> Any:
    stats = _per_site(s.show_stats(a["job_id"], a["target_type"], _targets(a)), "show_stats")
    if not isinstance(stats, dict):
        return stats
    silent = [site for site, value in stats.items() if value in ({}, None, "")]
    if not silent:
        return stats
    # FLARE 2.9 answers {} for a site that gave nothing: why, as far as the server knows who is connected.
    connected = {c.get("client_name") for c in _answer(s.check_status("server")).get("clients") or []
                 if isinstance(c, dict)}
    return {site: (_NO_STATS_CONNECTED if site in connected else _NO_STATS_GONE) if site in silent else value
            for site, value in stats.items()}


#: A site's empty show_stats answer, in words: connected to FLARE's server or not (check_status server).
_NO_STATS_GONE = ("no stats: the site is not connected to the server (stopped or killed?); check_status server "
                  "lists the connected sites")
_NO_STATS_CONNECTED = ("no stats: the site is connected but gave none (it does not run this job, or its job "
                       "process ended); check_status client shows what each site runs")


@command("show_errors")
def _show_errors(s: Any, a: dict[str, Any]) -> Any:
    return _per_site(s.show_errors(a["job_id"], a["target_type"], _targets(a)), "show_errors") or "no errors"


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
