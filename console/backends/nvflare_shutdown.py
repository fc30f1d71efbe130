"""``shutdown`` and ``restart`` on the FLARE backend, and what FLARE 2.9's server checks before either.

Owns the calls of FLARE's ``flare_api`` Session that stop or restart the server or sites (``wait=False``:
the console says at once what was asked; the toolbar shows the server going away), the refusal for
running jobs naming every one, the check made before the console asks "are you sure?"
(``refuse_before_asking``) and the answer in our server's shape. Registered into
``nvflare_registry.COMMANDS`` when imported. Must not import nvflare at import time (the Session comes in
as an argument) nor read the sites' answers itself (``nvflare_sites`` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from console.api.errors import ClientsStillRunning, InvalidTarget, JobNotDone, NoClientsAvailable
from console.backends import nvflare_orphans as orphans
from console.backends.base import client_names
from console.backends.nvflare_errors import flare_text
from console.backends.nvflare_registry import answer_of, command, targets_of
from console.backends.nvflare_sites import in_our_words, run_keeping_replies
from console.stop_refusals import jobs_still_running, no_site_connected, sites_not_connected
from console.wire.answers import MalformedAnswer


@command("shutdown")
def _shutdown(s: Any, a: dict[str, Any]) -> Any:
    # wait=False: the console reports the request at once; the toolbar shows the server going away.
    with _naming_running_jobs(s, "shutdown"):
        meta, sites = run_keeping_replies(s, lambda: s.shutdown(a["target_type"], targets_of(a), wait=False), "shutdown")
    return _stopping(answer_of(meta), sites, a, "shutting down")


@command("restart")
def _restart(s: Any, a: dict[str, Any]) -> Any:
    with _naming_running_jobs(s, "restart"):
        meta, sites = run_keeping_replies(s, lambda: s.restart(a["target_type"], targets_of(a), wait=False), "restart")
    return _stopping(answer_of(meta), sites, a, "restarting")


def server_started(s: Any, a: Any = None) -> float | None:
    """When FLARE's server (its engine) started, epoch s (``check_status server``'s ``server_start_time``): a
    restarted server's is later. None when it does not say."""
    return orphans.engine_view(answer_of(s.check_status("server")))[1]


def refuse_before_asking(s: Any, a: dict[str, Any]) -> None:
    """What FLARE 2.9's server checks before a shutdown or restart (``training_cmds``), checked before the
    console asks "are you sure?": jobs its engine runs (any target), named sites not connected (client
    SITE ...), then sites still connected (shutdown server). Raises JobNotDone naming the jobs (orphaned
    ones apart), InvalidTarget naming the sites, or ClientsStillRunning, in the words of our server's
    refusal (``console.stop_refusals``); ``a``: the command's wire arguments and its name under
    ``command``."""
    status = answer_of(s.check_status("server"))
    running, _ = orphans.engine_view(status)
    if running:
        named, orphaned = _running_and_orphaned(s, status)
        raise JobNotDone(jobs_still_running(a["command"], named, orphaned=orphaned))
    asked = targets_of(a) if a.get("target_type") == "client" else None
    if asked:
        refuse_sites_away(a["command"], asked, status)
    elif a.get("target_type") == "client" and isinstance(status, dict) and status.get("clients") == []:
        # every connected site, and FLARE lists none: said instead of asking "are you sure?" of nothing
        raise in_our_words(NoClientsAvailable(no_site_connected(a["command"])))
    if a["command"] == "shutdown" and a.get("target_type") == "server" and isinstance(status, dict) \
            and status.get("clients"):
        raise ClientsStillRunning("one or more clients are still running")


def refuse_sites_away(command: str, sites: list[str], status: Any) -> None:
    """Raise InvalidTarget for the named ``sites`` not among those ``status`` (check_status server's meta)
    lists connected; nothing when it lists none (not known: FLARE's own answer then says)."""
    try:
        connected = client_names(status)
    except MalformedAnswer:
        return
    away = [site for site in dict.fromkeys(sites) if site not in connected]
    if away:
        raise in_our_words(InvalidTarget(sites_not_connected(command, away, connected)))


def _running_and_orphaned(s: Any, status: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(jobs FLARE's engine runs, jobs listed RUNNING that no process runs), each as (job ID, name): from
    ``status`` (check_status server's meta) and FLARE's list_jobs."""
    running, started = orphans.engine_view(status)
    rows = [row for row in s.list_jobs() if isinstance(row, dict)]
    names = {str(row.get("job_id")): str(row.get("job_name") or row.get("name") or "") for row in rows}
    orphaned = [(str(row.get("job_id")), names[str(row.get("job_id"))]) for row in rows
                if orphans.is_orphan(row, running, started)]
    return [(job, names.get(job, "")) for job in sorted(running)], orphaned


@contextlib.contextmanager
def _naming_running_jobs(s: Any, command: str) -> Iterator[None]:
    """FLARE refusing ``command`` for running jobs names the first job (shutdown) or none (restart, whose
    words flare_api garbled: "job There are still jobs running. ... is still running"): the refusal names
    every job FLARE's engine runs, and apart from them the orphaned ones FLARE still lists RUNNING
    (``console.stop_refusals``: the words our server's refusal has too)."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "JobNotDone":
            raise
        running: list[tuple[str, str]] = []
        orphaned: list[tuple[str, str]] = []
        with contextlib.suppress(Exception):  # the jobs cannot be listed: FLARE's own words
            running, orphaned = _running_and_orphaned(s, answer_of(s.check_status("server")))
        raise JobNotDone(jobs_still_running(command, running, flare_text(exc), orphaned)) from exc


def _stopping(answer: Any, sites: dict[str, str], a: dict[str, Any], doing: str) -> Any:
    """What a shutdown or restart FLARE accepted did, in our server's shape: ``server_status``, and
    ``client_status`` with each site's own answer as fl_admin.sh tables it ({site: answer}). FLARE 2.9's
    meta is empty (the console showed "(empty)") or holds restart's ``client_status``."""
    said: dict[str, Any] = {k: v for k, v in answer.items() if k != "client_status"} if isinstance(answer, dict) else {}
    if a["target_type"] in ("client", "all"):
        if sites:
            said["client_status"] = sites
        else:
            asked = targets_of(a) if a["target_type"] == "client" else None
            said["client_status"] = f"{', '.join(asked) if asked else 'every site'}: {doing}"
    if a["target_type"] in ("server", "all"):
        said["server_status"] = f"server is {doing}"
    return said
