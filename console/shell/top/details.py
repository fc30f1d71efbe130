"""``top``'s details pane: a job's meta as key/value lines a person reads at a glance.

Owns only how the pane reads; what is fetched stays the view's. Times are local
(``YYYY-MM-DD HH:MM:SS``), durations ``H:MM:SS`` (FLARE's ``duration`` is Python's
``timedelta`` text, ``1 day, 2:03:04.5`` included), lists one entry per line, ``job_errors``
one block per site (``{target: [message, ...]}``, as our server and the runtime record them; each
note after its local time when the meta has ``job_error_times``),
long values wrapped at the pane's width. Every text from the server goes through
``visible_line``: a job name cannot drive the terminal. Pure: no prompt_toolkit needed.
"""

from __future__ import annotations

import time
from typing import Any

from console.durations import duration_seconds
from console.shell.cells import elide, pad, wrap
from console.shell.cells import width as get_cwidth
from console.shell.human import local_time, seconds, stamped_notes
from console.shell.monitors import not_scheduled
from console.shell.safe_text import visible_line as visible
from console.shell.top.answers import epoch
from console.shell.top.model import JobRow

#: The meta's keys shown, in this order, with their labels; the rest (FLARE's internals,
#: every round's metrics: ``plot`` draws those) stay out.
FIELDS = (
    ("job_id", "job"), ("name", "name"), ("status", "status"), ("waiting", "not scheduled"), ("round", "round"),
    ("submitter", "submitter"), ("submitted", "submitted"), ("start_time", "started"), ("duration", "duration"),
    ("min_clients", "min sites"), ("mandatory_clients", "mandatory sites"), ("deploy_map", "deploy map"),
    ("job_deploy_detail", "deployed"), ("cloned_from", "cloned from"), ("latest_metrics", "latest metrics"),
    ("job_errors", "errors"), ("error", "error"),
)
GAP = 2
#: Cells a value needs beside its label; with less, it goes under the label.
MIN_ROOM = 10


def duration_text(value: Any) -> str | None:
    """A duration (seconds, or ``timedelta`` text) as ``H:MM:SS`` by the shell's one rule
    (``human.seconds``, as top's ELAPSED); None when it is none (``N/A``)."""
    value = duration_seconds(value)
    return seconds(value) if value is not None else None


def time_text(value: Any) -> str | None:
    """An epoch or ISO 8601 time (``T`` or blank between date and time, FLARE's) as local time."""
    stamp = epoch(value)
    if stamp is None and isinstance(value, str) and value.strip():
        return visible(value)  # not a time we read: as the server wrote it
    return local_time(stamp) if stamp is not None else None


def _values(meta: dict[str, Any], job: JobRow | None, now: float) -> dict[str, Any]:
    """The shown keys' values, already the person's shape where the key says what it is."""
    values: dict[str, Any] = {k: meta[k] for k in ("job_id", "name", "status", "min_clients", "mandatory_clients",
                                                   "deploy_map", "job_deploy_detail", "cloned_from", "job_errors",
                                                   "error") if meta.get(k) not in (None, "", [], {})}
    if "job_errors" in values:  # each note with when it was recorded (our server's ``job_error_times``)
        values["job_errors"] = stamped_notes(values["job_errors"], meta.get("job_error_times"))
    if not_scheduled(meta):  # FLARE's scheduler's last word on a SUBMITTED job
        values["waiting"] = not_scheduled(meta)
    if job is not None and job.round is not None:
        values["round"] = f"{job.round}/{job.num_rounds}" if job.num_rounds else str(job.round)
    who = meta.get("submitter_name")
    if who:
        more = ", ".join(str(meta[k]) for k in ("submitter_org", "submitter_role") if meta.get(k))
        values["submitter"] = f"{who} ({more})" if more else who
    submitted = time_text(meta.get("submit_time_iso") or meta.get("submit_time"))
    if submitted:
        values["submitted"] = submitted
    started = time_text(meta.get("start_time"))
    if started:
        values["start_time"] = started
    took = duration_text(meta.get("duration"))
    if took is None and job is not None and job.elapsed(now):
        took = f"{job.elapsed(now)} so far"
    if took is not None:
        values["duration"] = took
    if job is not None and job.metrics:
        values["latest_metrics"] = {k: f"{v:.4g}" for k, v in sorted(job.metrics.items())}
    return values


def _wrapped(text: str, width: int) -> list[str]:
    """Wrapped by cells (``cells.wrap``), as the pane is cut: textwrap counts characters, so an emoji or
    a CJK character made a line wider than the pane and its end was lost."""
    return wrap(text, max(width, 1))


def _block(label: str, value: Any, label_width: int, width: int, indent: str = "") -> list[str]:
    """``label  value`` lines: a list one entry per line under the first, a mapping nested."""
    head = f"{indent}{pad(label, label_width)}{' ' * GAP}"
    room = width - get_cwidth(head)
    if isinstance(value, dict):
        keys = [visible(str(k)) for k in value]
        inner = max((get_cwidth(k) for k in keys), default=0)
        lines = [f"{indent}{label}"]
        for key, item in zip(keys, value.values(), strict=True):
            lines += _block(key, item, inner, width, indent + "  ")
        return lines
    entries = [visible(str(v)) for v in value] if isinstance(value, list) else [visible(str(value))]
    lines = []
    under = " " * get_cwidth(head)
    if room < MIN_ROOM:  # too narrow beside the label: the value under it, on lines of its own
        lines, under = [f"{indent}{label}"], indent + " " * GAP
        room = width - get_cwidth(under)
    for entry in entries or ["(none)"]:
        for part in _wrapped(entry, room):
            lines.append((head if not lines else under) + part)
    return lines


def details_title(job_id: str, cells: int) -> str:
    """The pane's title in at most ``cells`` cells, its key hint kept while it fits: the job's ID gives
    way first to its first 8 characters (the pane's ``job`` line below has it whole, wrapped)."""
    job_id = visible(job_id)
    for text in (f"Details of {job_id}  (Enter or Esc hides them)", f"Details of {job_id[:8]}  (Enter or Esc hides them)",
                 f"Details of {job_id[:8]}  (Enter/Esc hides)", f"{job_id[:8]}  (Enter/Esc hides)"):
        if get_cwidth(text) <= cells:
            return text
    return elide(f"{job_id[:8]}  (Enter/Esc hides)", cells)


def detail_lines(meta: dict[str, Any], job: JobRow | None, width: int, now: float | None = None) -> list[str]:
    """The pane's lines for ``meta`` (``get_job_meta``'s answer, ours or FLARE's) and top's row
    of the job (its round and latest metrics), each at most ``width`` display cells."""
    values = _values(meta, job, time.time() if now is None else now)
    shown = [(label, values[key]) for key, label in FIELDS if key in values]
    label_width = max((len(label) for label, value in shown if not isinstance(value, dict)), default=0)
    lines: list[str] = []
    for label, value in shown:
        lines += _block(label, value, label_width, width)
    return lines or ["(no details)"]
