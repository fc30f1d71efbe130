"""How far a running job on NVIDIA FLARE is, read from FLARE's ``show_stats JOB server``.

Owns reading FLARE's answer (or its refusal) into a ``Stage``; pure apart from ``probe``, the
one call, which runs on the poll's FLARE Session (``nvflare_side``). It must not pace
anything (``nvflare_pace`` does) nor touch a monitor.

What FLARE 2.9 answers over a job's life (measured on its POC, hello-numpy-sag with 1 and 3
rounds and a CyclicController job; times before the final status was written, 10-18 s jobs):

- status SUBMITTED: ``JobNotRunning`` (no job process yet);
- job process starting: ``JobNotFound``, then ``{"server": {}}``;
- a workflow running: ``{"server": {"ScatterAndGather": {"phase": "train", "current_round": 0,
  "num_rounds": 3, "tasks": ...}, "ServerRunner": {"status": "started", "workflow": ...}}}``;
  a workflow that keeps no rounds (CyclicController) reports only its ``tasks``;
- the workflows done, the job process ending (6-8 s before the final status): ScatterAndGather's
  ``phase`` ``_finished_``, then ``{"server": {}}`` and ``JobNotFound``; once ``NoConnection``;
- the job process gone (0.7-3 s before the final status): ``JobNotRunning``. FLARE's job runner
  writes the final status at its next once-a-second sweep after the process ended (FLARE 2.9's
  ``JobRunner._job_complete_process``), once every site reported its outcome, which a site
  does as its own job process ends: ``check_status client`` (``ask_sites``) lists the job on a
  site until about then (the first of two sites 1-1.6 s before the final status, the last
  0.2-0.9 s before, or only after it; 12-20 ms a call).

A cost to know: FLARE's server asks the job process for its stats while holding its engine lock
(``ServerEngine.send_command_to_child_runner_process``, up to 5 s), and while a workflow
finalizes the job process takes 0.3-1.3 s to answer. So about once per followed job's end,
FLARE's job launches, aborts and final-status sweep wait that long, as they do when an operator
types ``show_stats`` at that moment. So ``nvflare_pace`` has a job's progress read no more once its
workflows are done; only the reading that first sees them done can meet that wait.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

#: Phase FLARE's ScatterAndGather reports once its rounds are done (``AppConstants.PHASE_FINISHED``).
PHASE_FINISHED = "_finished_"
#: Sites named in one ``check_status client`` (FLARE's server asks each of them and waits for their
#: answers): a job on more sites has them asked this many at a time, in turn (``nvflare_poll``).
SITES_BATCH = 32
#: A deploy_map's name for every site.
ALL_SITES = "@ALL"


class Stage(enum.Enum):
    """Where a RUNNING job is, as far as FLARE's server tells."""

    STARTING = "starting"  # the job process is up, no workflow reports yet
    WORKING = "working"  # a workflow runs
    WINDING_DOWN = "winding down"  # the workflows are done, the job process is ending
    GONE = "gone"  # the job process has ended: the final status follows within FLARE's sweep
    UNKNOWN = "unknown"  # this answer tells nothing (a passing error): ask again later
    UNREADABLE = "unreadable"  # FLARE answers something this module cannot read: do not ask again


@dataclass(frozen=True)
class Progress:
    """One reading: the stage, and the rounds when the workflow counts them (None otherwise)."""

    stage: Stage
    workflow: str | None = None
    current_round: int | None = None
    num_rounds: int | None = None
    #: Seconds the show_stats call took (the worker is busy for that long).
    took: float = 0.0


#: FLARE exceptions (``nvflare.fuel.flare_api.api_spec``), by class name so that this module
#: needs nothing of FLARE: which ones tell a stage, and which ones only mean "not now".
_STAGE_OF_ERROR = {"JobNotRunning": Stage.GONE, "JobNotFound": Stage.STARTING}
_PASSING_ERRORS = {"NoConnection", "NoReply", "TimeoutError", "ConnectionError", "FLCommunicationError"}


def probe(session: Any, args: dict[str, Any]) -> tuple[Any, str | None, float]:
    """``session.show_stats(job_id, "server")`` on the worker: (answer, FLARE exception's class name, seconds).

    Never raises: an error here must not count as the connection dropping (FLARE answers
    ``NoConnection`` for a job process going away while the session is fine).
    """
    began = time.monotonic()
    try:
        answer = session.show_stats(args["job_id"], "server")
    except Exception as exc:  # read by read_stats, never shown
        return None, type(exc).__name__, time.monotonic() - began
    return answer, None, time.monotonic() - began


def ask_sites(session: Any, args: dict[str, Any]) -> tuple[Any, str | None, float]:
    """``session.check_status("client", sites)`` on the worker (``sites`` at most ``SITES_BATCH``;
    ``[]``: ``check_status server``, whose ``clients`` name every connected site), never raising: as ``probe``."""
    began = time.monotonic()
    try:
        sites = args["sites"]
        answer = session.check_status("client", sites) if sites else session.check_status("server")
    except Exception as exc:  # read by running_sites / connected_sites, never shown
        return None, type(exc).__name__, time.monotonic() - began
    return answer, None, time.monotonic() - began


def connected_sites(answer: Any, error: str | None) -> list[str] | None:
    """The sites FLARE's server has connected, from ``ask_sites`` with ``[]``; None when unreadable or empty."""
    rows = answer.get("clients") if error is None and isinstance(answer, dict) else None
    if not isinstance(rows, list):
        return None
    names = sorted({r["client_name"] for r in rows if isinstance(r, dict) and isinstance(r.get("client_name"), str)})
    return names or None


def job_sites(meta: dict[str, Any]) -> list[str] | None:
    """The sites a job is deployed to, from its meta's ``deploy_map`` (FLARE 2.9's get_job_meta has no
    ``job_clients``): ``[]`` for every site (``@ALL``), None when the meta does not say."""
    deploy_map = meta.get("deploy_map")
    if not isinstance(deploy_map, dict):
        return None
    sites: set[str] = set()
    for targets in deploy_map.values():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            return None
        if ALL_SITES in targets:
            return []
        sites.update(t for t in targets if t != "server")
    return sorted(sites) or None


#: A site's ``check_status client`` row that is no answer (FLARE's ``MetaStatusValue`` NO_REPLY, ERROR).
_NO_ANSWER = {"no_reply", "error"}


def silent_sites(answer: Any, error: str | None, asked: list[str]) -> set[str] | None:
    """Which of the ``asked`` sites gave no answer in one ``ask_sites`` result of ``check_status client`` (FLARE's
    "No Reply" or error row, or no row); None when the call itself failed or is unreadable (nothing known)."""
    rows = answer.get("client_status") if error is None and isinstance(answer, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None
    answered = {r.get("client_name") for r in rows if r.get("status") not in _NO_ANSWER}
    return {site for site in asked if site not in answered}


def running_sites(answer: Any, error: str | None, job_id: str, asked: list[str]) -> set[str] | None:
    """Which of the ``asked`` sites still run the job, from one ``ask_sites`` result; None when unreadable.

    A site that did not answer (no row, FLARE's "no reply" or error row), or a passing error for
    the whole call, counts as still running it: asked again, never taken for done.
    """
    if error is not None:
        return set(asked) if error in _PASSING_ERRORS else None
    rows = answer.get("client_status") if isinstance(answer, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None
    answered = {r.get("client_name") for r in rows if r.get("status") not in _NO_ANSWER}
    running = {r.get("client_name") for r in rows if r.get("job_id") == job_id}
    return {site for site in asked if site in running or site not in answered}


def read_stats(answer: Any, error: str | None, seen_working: bool, took: float = 0.0) -> Progress:
    """The stage in one ``probe`` result. ``seen_working``: an earlier reading of this job was WORKING
    (an empty answer or ``JobNotFound`` then means the job is ending, not starting)."""
    if error is not None:
        if error in _PASSING_ERRORS:
            return Progress(Stage.UNKNOWN, took=took)
        stage = _STAGE_OF_ERROR.get(error, Stage.UNREADABLE)
        if stage is Stage.STARTING and seen_working:
            stage = Stage.WINDING_DOWN
        return Progress(stage, took=took)
    if not isinstance(answer, dict) or not isinstance(answer.get("server", {}), dict):
        return Progress(Stage.UNREADABLE, took=took)
    groups = {name: info for name, info in answer.get("server", {}).items() if isinstance(info, dict)}
    runner = groups.pop("ServerRunner", None)
    workflow = str(runner.get("workflow")) if runner and runner.get("workflow") is not None else None
    if not groups and runner is None:  # nobody reports: before the first workflow, or after the last
        return Progress(Stage.WINDING_DOWN if seen_working else Stage.STARTING, took=took)
    for name, info in groups.items():
        if "num_rounds" in info or "phase" in info:
            current, total = _int(info.get("current_round")), _int(info.get("num_rounds"))
            finished = info.get("phase") == PHASE_FINISHED
            return Progress(Stage.WINDING_DOWN if finished else Stage.WORKING, workflow or name, current,
                            total, took)
    return Progress(Stage.WORKING, workflow or next(iter(groups), None), took=took)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
