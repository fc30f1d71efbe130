"""A running job's stats and errors on NVIDIA FLARE: ``show_stats``, ``show_errors``, ``reset_errors``.

FLARE's answers as it gives them (JSON, raw, the Python API), with the console's words where FLARE gives
nothing (a silent site or server part, no errors), and FLARE's "no such job" for a job it lists RUNNING
but whose server part has not started yet said as that. Registered into ``nvflare_registry.COMMANDS`` when
imported; imports nothing from nvflare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.api.errors import JobNotFound
from console.backends.nvflare_registry import answer_of, command, or_said, per_site, targets_of
from console.worded import Worded


@command("show_stats")
def _show_stats(s: Any, a: dict[str, Any]) -> Any:
    """FLARE's answer as it gave it (a silent site's ``{}`` stays ``{}`` in JSON, raw and the API); the
    table says why a site gave nothing (``Worded``)."""
    stats = per_site(_info(s, a, lambda: s.show_stats(a["job_id"], a["target_type"], targets_of(a))), "show_stats")
    if not isinstance(stats, dict):
        return stats
    silent = [site for site, value in stats.items() if value in ({}, None, "")]
    if not silent:
        return stats
    # The server's own part (target_type server or all): no site to be connected or not.
    words = {"server": _NO_STATS_SERVER} if "server" in silent and a["target_type"] != "client" else {}
    sites = [site for site in silent if site not in words]
    if sites:  # FLARE 2.9 answers {} for a site that gave nothing: why, as far as the server knows who is connected
        connected = {c.get("client_name") for c in answer_of(s.check_status("server")).get("clients") or []
                     if isinstance(c, dict)}
        words.update({site: _NO_STATS_CONNECTED if site in connected else _NO_STATS_GONE for site in sites})
    return Worded(stats, words)


#: A site's empty show_stats answer, in words: connected to FLARE's server or not (check_status server).
_NO_STATS_GONE = ("no stats: the site is not connected to the server (stopped or killed?); check_status server "
                  "lists the connected sites")
_NO_STATS_CONNECTED = ("no stats: the site is connected but gave none (it does not run this job, or its job "
                       "process ended); check_status client shows what each site runs")
_NO_STATS_SERVER = ("no stats: the server's part of this job gave none (it is starting or ending, or no longer "
                    "runs); list_jobs shows the job's status")


@command("show_errors")
def _show_errors(s: Any, a: dict[str, Any]) -> Any:
    """FLARE's answer as it gave it (``None`` or ``{}`` when no target has errors); "no errors" only in the table."""
    errors = _info(s, a, lambda: s.show_errors(a["job_id"], a["target_type"], targets_of(a)))
    return or_said(per_site(errors, "show_errors"), "no errors")


@command("reset_errors")
def _reset_errors(s: Any, a: dict[str, Any]) -> Any:
    return or_said(_info(s, a, lambda: s.reset_errors(a["job_id"])), f"errors of {a['job_id']} reset",
                   {"job_id": a["job_id"]})


def _info(s: Any, a: dict[str, Any], call: Callable[[], Any]) -> Any:
    """show_stats/show_errors/reset_errors: FLARE 2.9 answers "no such job" (INVALID_JOB_ID) for a job it lists
    RUNNING whose server part is not up yet (``info_coll_cmd``: no ``get_app_run_info`` in the first seconds):
    said as what it is, still FLARE's JobNotFound."""
    try:
        return call()
    except Exception as exc:
        if type(exc).__name__ != "JobNotFound" or not _listed_running(s, a["job_id"]):
            raise
        raise JobNotFound(f"job {a['job_id']} is RUNNING, but FLARE's server has not started its part of it yet "
                          "(it answers 'no such job' until then); try again in a few seconds") from exc


def _listed_running(s: Any, job_id: str) -> bool:
    try:
        meta = s.get_job_meta(job_id)
    except Exception:
        return False
    return isinstance(meta, dict) and meta.get("status") == "RUNNING"
