"""Registry commands on NVIDIA FLARE: each one a call of FLARE's own ``flare_api`` Session.

Runs on the FLARE backend's worker thread (FLARE's calls block). Every function takes the
Session and the command's wire arguments (job IDs already resolved to full ones) and
returns what the console shows, shaped like our server's answers where FLARE's differ only
in packaging (the ``status``/``info`` envelope of a reply's meta is dropped). Imports
nothing from nvflare at import time: the Session comes in as an argument.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from console.api.errors import (
    InternalError,
    InvalidArgumentError,
    JobNotDone,
    JobNotRunning,
)
from console.backends import (  # noqa: F401  (they register their commands)
    nvflare_job_info,
    nvflare_job_logs,
    nvflare_shutdown,
    nvflare_studies,
)
from console.backends import nvflare_orphans as orphans
from console.backends.base import client_names
from console.backends.folder_listing import long_listing_shown
from console.backends.nvflare_file_options import as_file, as_pattern, one_word
from console.backends.nvflare_registry import (  # noqa: F401  (COMMANDS: its users import it here)
    COMMANDS,
    answer_of,
    command,
    or_said,
    per_site,
    targets_of,
)
from console.backends.nvflare_sites import on_target
from console.wire.answers import MalformedAnswer
from console.worded import Said

#: What FLARE's sys_info says of a site that gave nothing, in the words of our server's per-site errors.
_NO_REPLY = {": no replies": "{site} did not answer (is it running? check_status client {site} asks it alone)",
             ": bad replies": "{site} answered what FLARE's server could not read"}


def _tables(reply: dict[str, Any]) -> Any:
    """FLARE's table replies (``sys_info``) as {first column: second column}; several tables,
    each after a heading line ("Client: site-1"), as {site: table}."""
    tables: dict[str, Any] = {}
    heading = last = ""
    for item in reply.get("data", []):
        if not isinstance(item, dict):
            continue
        text = str(item.get("data", "")).strip() if item.get("type") == "string" else ""
        if text.startswith(":") and last:  # FLARE 2.9's sys_cmd: ": No replies" / ": Bad replies" after a site's table
            tables[last] = {"error": _NO_REPLY.get(text.lower(), text.lstrip(": ")).format(site=last)}
        elif text:
            heading = text.removeprefix("Client:").strip()
        elif item.get("type") == "table":
            rows = item.get("rows") or []
            last = heading or f"table {len(tables) + 1}"
            tables[last] = {str(r[0]): r[1] for r in rows[1:] if isinstance(r, list) and len(r) >= 2}
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
    return answer_of(s.check_status(a["target_type"], targets_of(a)))


@command("sys_info")
def _sys_info(s: Any, a: dict[str, Any]) -> Any:
    parts = ["sys_info", a["target_type"], *(targets_of(a) or [])]
    return per_site(_tables(_raw(s, parts, enforce_meta=False)), "sys_info")


@command("report_version")
def _report_version(s: Any, a: dict[str, Any]) -> Any:
    return per_site(s.report_version(a["target_type"], targets_of(a)), "report_version")


@command("report_resources")
def _report_resources(s: Any, a: dict[str, Any]) -> Any:
    return per_site(s.report_resources(a["target_type"], targets_of(a)), "report_resources")


@command("report_env")
def _report_env(s: Any, a: dict[str, Any]) -> Any:
    return per_site(s.get_client_env(targets_of(a)), "report_env")


@command("set_timeout")
def _set_timeout(s: Any, a: dict[str, Any]) -> Any:
    s.set_timeout(a["value"])
    return {"command_timeout": a["value"]}  # as our server's answer; FLARE's call returns nothing


@command("unset_timeout")
def _unset_timeout(s: Any, a: dict[str, Any]) -> Any:
    s.unset_timeout()
    return {"command_timeout": None}  # None: the server's default, as our server's answer


@command("remove_client")
def _remove_client(s: Any, a: dict[str, Any]) -> Any:
    refuse_remove_client(s, a)
    return or_said(s.remove_client(a["site"]),
                   f"removed {a['site']}: its connection is released (it registers again when it reconnects)",
                   {"site": a["site"]})


def refuse_remove_client(s: Any, a: dict[str, Any]) -> None:
    """remove_client of a site not connected: refused (InvalidTarget) in our server's words
    (``console.stop_refusals``), before the console asks "are you sure?" and before FLARE is asked."""
    from console.backends.nvflare_shutdown import refuse_sites_away  # (it registers its commands on import)

    refuse_sites_away("remove_client", [a["site"]], answer_of(s.check_status("server")))


@command("disable_client")
def _disable_client(s: Any, a: dict[str, Any]) -> Any:
    connected = _connected(s)  # before: a disabled site's connection is dropped
    return _unknown_site_noted(a["site"], connected, s.disable_client(a["site"]), f"disabled {a['site']}")


@command("enable_client")
def _enable_client(s: Any, a: dict[str, Any]) -> Any:
    said = s.enable_client(a["site"])
    return _unknown_site_noted(a["site"], _connected(s), said, f"enabled {a['site']}")


def _connected(s: Any) -> list[str] | None:
    """The sites connected now (check_status server); None when its answer names none (not known)."""
    try:
        return client_names(answer_of(s.check_status("server")))
    except MalformedAnswer:
        return None


def _unknown_site_noted(site: str, connected: list[str] | None, answer: Any, words: str) -> Any:
    """FLARE's answer (``or_said``'s ``words`` when it is nothing). FLARE 2.9 enables and disables any name, a
    site never provisioned too (its kit lists no sites): a site not connected is noted, with the connected
    ones, so that a misspelling shows (a "note" key beside FLARE's, as list_jobs' "orphaned")."""
    if connected is None or site in connected or _known_as_disabled(site, answer):
        return or_said(answer, words, {"site": site})
    note = (f"no site named {site} is connected now (connected: {', '.join(connected) or 'none'}); FLARE takes any "
            "name, so check its spelling")
    if isinstance(answer, dict) and answer:
        return {**answer, "note": note}
    return or_said(answer, f"{words}; note: {note}", {"site": site, "note": note})


def _known_as_disabled(site: str, answer: Any) -> bool:
    """Whether FLARE's answer says ``site`` was disabled before (enable_client's ``was_disabled``, disable_client's
    ``already_disabled``, FLARE 2.9 ``server_engine``): a site FLARE knows, not connected because it is disabled."""
    clients = answer.get("clients") if isinstance(answer, dict) else None
    return any(isinstance(c, dict) and c.get("client_name") == site
               and (c.get("was_disabled") is True or c.get("already_disabled") is True) for c in clients or [])


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


#: When the server's engine started, as each FLARE Session last saw it (``check_status server``).
_ENGINE_STARTED: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


@command("list_jobs")
def _list_jobs(s: Any, a: dict[str, Any]) -> Any:
    """The user's list_jobs: a job FLARE lists as running that its server does not run is marked
    (``nvflare_orphans``); one more call (check_status server) only when some job listed running was
    submitted before the server's engine started, or when that start is not known yet.

    Why not each time a job runs: that second call doubled ``list_jobs``'s round trip while any job ran
    (a second FLARE call as long as the first, in the bench's ``list_jobs`` row; ``fl_admin.sh`` makes one). The start is kept per Session: a
    restarted FLARE server knows none of the Sessions made before (its session manager keeps them in
    memory: it answers SESSION_INACTIVE) and the backend logs in again, so a start kept is the one of
    the server that Session talks to."""
    rows = list_jobs(s, a)
    if isinstance(rows, list) and orphans.may_be_orphaned(rows, _engine_started(s)):
        status = answer_of(s.check_status("server"))
        _remember_start(s, orphans.engine_view(status)[1])
        rows = orphans.mark_orphans(rows, status)
    return rows


def _engine_started(s: Any) -> float | None:
    try:
        return _ENGINE_STARTED.get(s)
    except TypeError:  # (a Session that cannot be a weak key: nothing kept, the check made each time)
        return None


def _remember_start(s: Any, started: float | None) -> None:
    if started is not None:
        with contextlib.suppress(TypeError):
            _ENGINE_STARTED[s] = started


def orphaned(s: Any, job_id: str) -> bool:
    """Whether ``job_id`` is listed running but its server does not run it (``nvflare_orphans``)."""
    meta = s.get_job_meta(job_id)
    running, started = orphans.engine_view(answer_of(s.check_status("server")))
    return isinstance(meta, dict) and orphans.is_orphan(meta, running, started)


@command("get_job_meta")
def _get_job_meta(s: Any, a: dict[str, Any]) -> Any:
    return s.get_job_meta(a["job_id"])


@command("abort_job")
def _abort_job(s: Any, a: dict[str, Any]) -> Any:
    try:
        return or_said(s.abort_job(a["job_id"]), f"abort requested for {a['job_id']}", {"job_id": a["job_id"]})
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


@command("app_command")
def _app_command(s: Any, a: dict[str, Any]) -> Any:
    data = None
    if a.get("data"):
        try:
            data = json.loads(a["data"])
        except ValueError as exc:
            raise InvalidArgumentError(f"app_command: DATA must be JSON text, quoted as one word ({exc})") from None
    return s.do_app_command(a["job_id"], a["topic"], data)


@command("list_job_components")
def _list_job_components(s: Any, a: dict[str, Any]) -> Any:
    return s.list_job_components(a["job_id"])


@command("download_job_components")
def _download_job_components(s: Any, a: dict[str, Any]) -> Any:
    try:
        location = s.download_job_components(a["job_id"])
    except Exception as exc:  # FLARE 2.9 answers NO_JOB_COMPONENTS, which its flare_api raises as an internal error
        if type(exc).__name__ != "InternalError" or "no_job_components" not in str(exc):
            raise
        return Said(None, f"job {a['job_id']} has no components to download (list_job_components lists them)",
                    {"job_id": a["job_id"], "path": None})
    if not location:
        raise InternalError(f"FLARE returned no location for the components of {a['job_id']}")
    return Said(location, f"Downloaded to {location}", {"job_id": a["job_id"], "path": location})


# -- files on the server and sites ------------------------------------------------------------


@command("ls")
def _ls(s: Any, a: dict[str, Any]) -> Any:
    options = one_word("ls", a.get("options"))
    answer = on_target(s, lambda: s.ls_target(a["target"], options, as_file(a.get("path"))), "ls", a["target"])
    # A long listing's entries are known by their shape: a name with a line break is put back on one line,
    # as our ls shows it. A plain one (one name a line) gives no such mark: shown as FLARE gives it.
    return long_listing_shown(answer) if options and "l" in options.lstrip("-") else answer


@command("cat")
def _cat(s: Any, a: dict[str, Any]) -> Any:
    return on_target(s, lambda: s.cat_target(a["target"], one_word("cat", a.get("options")),
                                                   as_file(a["file"])),
                     "cat", a["target"])


@command("head")
def _head(s: Any, a: dict[str, Any]) -> Any:
    return on_target(s, lambda: s.head_target(a["target"], one_word("head", a.get("options")),
                                                   as_file(a["file"])),
                     "head", a["target"])


@command("tail")
def _tail(s: Any, a: dict[str, Any]) -> Any:
    return on_target(s, lambda: s.tail_target(a["target"], one_word("tail", a.get("options")),
                                                   as_file(a["file"])),
                     "tail", a["target"])


@command("grep")
def _grep(s: Any, a: dict[str, Any]) -> Any:
    return on_target(s, lambda: s.grep_target(a["target"], one_word("grep", a.get("options")),
                                                   as_pattern(a["pattern"], a.get("options")), as_file(a["file"])),
                     "grep", a["target"])


@command("pwd")
def _pwd(s: Any, a: dict[str, Any]) -> Any:
    return on_target(s, lambda: s.get_working_directory(a["target"]), "pwd", a["target"])


def submit_a_copy(session: Any, args: dict[str, Any]) -> str:
    """FLARE's submit_job signs the job folder in place (``.__nvfl_sig.json`` files in every
    folder): it gets a copy, so the user's folder (often under version control) stays as it was."""
    folder: Path = args["folder"]
    with tempfile.TemporaryDirectory(prefix="flare-console-submit-") as scratch:
        staged = Path(scratch) / folder.name
        shutil.copytree(folder, staged, ignore=shutil.ignore_patterns(".__nvfl_*"))
        return session.submit_job(str(staged), args.get("token"))
