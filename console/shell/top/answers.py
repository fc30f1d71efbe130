"""How ``top`` reads the backend's answers: times, a round's metrics, where ``show_stats`` tells the
round, ``sys_info``'s numbers per site, from ours and FLARE's shapes alike.

Pure functions of one answer, no state: what the rows become stays ``model.py``'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def epoch(value: Any) -> float | None:
    """A time as epoch seconds, from a number or an ISO 8601 string (FLARE's and ours)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value and value != "N/A":
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def latest_metrics(progress: dict[str, Any]) -> dict[str, float]:
    """A round's metrics in one dict: the aggregated ones, else the mean over the sites' numbers."""
    aggregated = progress.get("aggregated")
    if isinstance(aggregated, dict) and aggregated:
        return {k: float(v) for k, v in aggregated.items() if is_number(v)}
    sites = progress.get("metrics")
    sums: dict[str, list[float]] = {}
    if isinstance(sites, dict):
        for values in sites.values():
            for key, value in (values.items() if isinstance(values, dict) else ()):
                if is_number(value):
                    sums.setdefault(key, []).append(float(value))
    return {k: sum(v) / len(v) for k, v in sums.items()}


def is_number(value: Any) -> bool:
    """A JSON number (an int or a float, not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_float(value: Any) -> float | None:
    """A number, or a string of one (FLARE's ``sys_info``), as a float; None otherwise."""
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def per_site(infos: Any) -> dict[str, dict[str, Any]]:
    """``sys_info client`` as ``{site: info}``: ours is that already; FLARE's
    ``["Client: site-1", {...}, ...]`` pairs each name line with the dict after it."""
    if isinstance(infos, dict):
        return {k: v for k, v in infos.items() if isinstance(v, dict)}
    found: dict[str, dict[str, Any]] = {}
    name = None
    for item in infos if isinstance(infos, list) else []:
        if isinstance(item, str) and item.startswith("Client: "):
            name = item[len("Client: "):].strip()
        elif isinstance(item, dict) and name:
            found[name], name = item, None
    return found


def find_round(stats: Any) -> dict[str, Any] | None:
    """The part of ``show_stats`` that tells the round: ours (``Workflow``: round, num_rounds, ...)
    or FLARE's controllers (``current_round``, ``num_rounds``), wherever it is nested."""
    if isinstance(stats, dict):
        if "num_rounds" in stats and ("round" in stats or "current_round" in stats):
            return stats
        for value in stats.values():
            found = find_round(value)
            if found is not None:
                return found
    return None
