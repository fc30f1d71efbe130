"""A job's per-round metrics (``round_metrics`` of its meta) as a table for people.

The server records each round as ``{"round": N, "aggregated": {metric: value}, "sites": {site:
{metric: value}}}`` (``console.server.round_metrics``). In the ``table`` format each round reads as
rows, one per source (aggregated first, then the sites in the order recorded), a column per metric,
numbers to 4 significant digits as ``top`` and ``plot`` show them; ``json`` and ``raw`` keep the
recorded values whole. Owns only that look; ``human`` calls it for any list of that shape.
"""

from __future__ import annotations

from typing import Any

_KEYS = {"round", "aggregated", "sites"}
#: The table's own columns, before the metrics'.
_COLUMNS = ("round", "source")


def _is_round(entry: Any) -> bool:
    return (isinstance(entry, dict) and set(entry) <= _KEYS and isinstance(entry.get("round"), int)
            and isinstance(entry.get("aggregated", {}), dict) and isinstance(entry.get("sites", {}), dict)
            and all(isinstance(v, dict) for v in entry.get("sites", {}).values()))


def shown(value: Any) -> Any:
    """A metric's value as ``top`` shows it: a float to 4 significant digits (``0.4694``), anything else
    as it is (``human.cell`` writes it)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def metric_rows(value: Any) -> list[dict[str, Any]] | None:
    """``round_metrics`` as rows ``{"round", "source", metric...}``; None when ``value`` is not of that shape."""
    if not isinstance(value, list) or not value or not all(_is_round(entry) for entry in value):
        return None
    by_source: list[tuple[int, str, dict[str, Any]]] = []
    for entry in value:
        if entry.get("aggregated"):
            by_source.append((entry["round"], "aggregated", entry["aggregated"]))
        # A site named "aggregated" reads as itself, not as the aggregate's row.
        by_source += [(entry["round"], f"site:{site}" if str(site) == "aggregated" else str(site), metrics)
                      for site, metrics in entry.get("sites", {}).items()]
    names = list(dict.fromkeys(str(name) for _, _, metrics in by_source for name in metrics))
    headers = column_names(_COLUMNS, names)
    return [{"round": number, "source": source, **{headers[name]: shown(metrics.get(name)) for name in names}}
            for number, source, metrics in by_source]


def column_names(own: tuple[str, ...] | set[str], chosen: list[str]) -> dict[str, str]:
    """Each user-chosen name (a metric's, a meta key's) -> its column's header in a table whose own
    columns are ``own``: the name itself, or ``metric:NAME`` when it is one of them (a metric named
    ``round`` would overwrite the round's number), numbered on when that is taken too."""
    taken = set(own) | set(chosen)
    headers = {}
    for name in chosen:
        header = name
        if name in own:
            header, n = f"metric:{name}", 2
            while header in taken:
                header, n = f"metric:{name}:{n}", n + 1
            taken.add(header)
        headers[name] = header
    return headers
