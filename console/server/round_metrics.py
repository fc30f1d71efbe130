"""What the server records of a running job's metrics in its meta (``round_metrics``), bounded.

Each progress event of a job's server app may carry a round's metrics, per site and aggregated;
the server keeps the last ``MAX_ROUND_METRICS`` rounds for ``get_job_meta``, ``plot`` and ``top``.
Job code decides what it sends, so what is kept is bounded in bytes too (security finding 7: 500
rounds of 60 KB, within every per-event limit, made one job's meta 22 MB and the server 230 MiB
bigger): a round's entry at most ``MAX_ROUND_METRICS_BYTES`` of JSON (past it the per-site part
is kept out, and if the aggregated part alone is still too big, the round), and the rounds kept at
most ``MAX_JOB_METRICS_BYTES`` together (past it later rounds are kept out); a round nested
deeper than ``MAX_PROGRESS_DEPTH`` is kept out (security finding 10). Each kind of refusal is said
once per job, in its errors. Owns only the rule; the runner feeds it and stores the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.natural_order import natural_key
from console.runtime.limits import (
    MAX_JOB_METRICS_BYTES,
    MAX_PROGRESS_DEPTH,
    MAX_ROUND_METRICS_BYTES,
    NotJSON,
    json_depth,
    json_size,
)

#: Rounds of metrics kept in the job's meta (``round_metrics``); metrics.json in the workspace has all.
MAX_ROUND_METRICS = 500


@dataclass
class RoundMetrics:
    """A job's recorded rounds (``entries``, oldest first) and the bytes each takes as JSON."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    said: set[str] = field(default_factory=set)  # kinds of refusal already in the job's errors
    #: The rounds the job plans (its progress events' ``num_rounds``), kept beside the rounds (meta
    #: ``num_rounds``) so that a job read after it ended shows "10/10" as one watched to its end did.
    num_rounds: int | None = None

    def add(self, data: dict[str, Any]) -> tuple[bool, str | None]:
        """Record the round a progress event's ``data`` carries, if any and if it fits. Whether the
        entries changed, and an error for the job's errors the first time a kind of refusal happens."""
        planned = data.get("num_rounds")
        if isinstance(planned, int) and not isinstance(planned, bool) and planned > 0:
            self.num_rounds = planned
        sites, aggregated = data.get("metrics"), data.get("aggregated")
        any_site = isinstance(sites, dict) and any(sites.values())
        if not isinstance(data.get("round"), int) or not (any_site or aggregated):
            return False, None  # no metrics at all (FLARE's NPTrainer): the meta keeps FLARE's keys only
        number = data["round"]
        # Sites in natural order (site-2 before site-10), whatever order the job's controller sent them in.
        entry = {"round": number, "aggregated": aggregated if isinstance(aggregated, dict) else {},
                 "sites": {k: sites[k] for k in sorted(sites, key=natural_key)} if isinstance(sites, dict) else {}}
        if json_depth(entry, MAX_PROGRESS_DEPTH) > MAX_PROGRESS_DEPTH:  # job code that wrote its own line
            return False, self._say("deep", f"round {number}'s metrics nest objects or arrays deeper than the limit "
                                            f"of {MAX_PROGRESS_DEPTH} levels: kept out of the job's meta, and so "
                                            "any later round nested so deep")
        try:
            size = json_size(entry)
        except NotJSON as exc:
            return False, self._say("not-json", f"round {number}'s metrics were kept out of the job's meta: {exc}")
        said = None
        if size > MAX_ROUND_METRICS_BYTES and entry["sites"]:
            full = size
            entry["sites"] = {}
            size = json_size(entry)
            said = self._say("sites", f"round {number}'s metrics take {full} bytes of JSON, over the "
                                      f"{MAX_ROUND_METRICS_BYTES} a round may keep in the job's meta (round_metrics): "
                                      "its per-site metrics were kept out (the aggregated ones kept), and so for "
                                      "any later round over it")
        if size > MAX_ROUND_METRICS_BYTES:
            return False, self._say("round", f"round {number}'s aggregated metrics take {size} bytes of JSON, over "
                                             f"the {MAX_ROUND_METRICS_BYTES} a round may keep in the job's meta "
                                             "(round_metrics): the round was kept out, and so any later one over it")
        kept_entries, kept_sizes = self.entries[-(MAX_ROUND_METRICS - 1):], self.sizes[-(MAX_ROUND_METRICS - 1):]
        if sum(kept_sizes) + size > MAX_JOB_METRICS_BYTES:
            return False, said or self._say("job", f"the job's recorded metrics reached the limit of "
                                                   f"{MAX_JOB_METRICS_BYTES} bytes of JSON in its meta "
                                                   f"(round_metrics): round {number} and later ones were kept out")
        self.entries, self.sizes = [*kept_entries, entry], [*kept_sizes, size]
        return True, said

    def _say(self, kind: str, message: str) -> str | None:
        if kind in self.said:
            return None
        self.said.add(kind)
        return message
