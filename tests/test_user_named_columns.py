"""Tables and charts built from names a job chose (its metrics', its sites'): a name that is also one of
the table's own columns, or the aggregate's series, is shown as itself, never lost nor overwriting."""

from __future__ import annotations

from console.shell.human import table
from console.shell.metric_rows import column_names, metric_rows
from console.shell.plot import RoundMetrics


def test_a_metric_named_like_a_column_of_the_round_table_keeps_its_own_column() -> None:
    rounds = [{"round": 1, "aggregated": {"round": 7.0, "source": "x", "acc": 0.5},
               "sites": {"site-1": {"round": 3, "acc": 0.25}}}]
    rows = metric_rows(rounds)
    assert rows == [{"round": 1, "source": "aggregated", "metric:round": "7", "metric:source": "x", "acc": "0.5"},
                    {"round": 1, "source": "site-1", "metric:round": 3, "metric:source": None, "acc": "0.25"}]
    shown = table(rows).splitlines()
    assert shown[0].split() == ["round", "source", "metric:round", "metric:source", "acc"]
    # Taken twice over: numbered on, nothing lost.
    assert column_names(("round",), ["round", "metric:round"]) == {"round": "metric:round:2",
                                                                   "metric:round": "metric:round"}


def test_a_site_named_aggregated_is_its_own_row_and_series() -> None:
    entry = {"round": 1, "aggregated": {"acc": 0.5}, "sites": {"aggregated": {"acc": 0.1}, "site-1": {"acc": 0.9}}}
    assert [row["source"] for row in metric_rows([entry]) or []] == ["aggregated", "site:aggregated", "site-1"]
    metrics = RoundMetrics()
    metrics.add(entry)
    assert metrics.series("acc") == [("aggregated", [(1, 0.5)]), ("site-1", [(1, 0.9)]),
                                     ("site:aggregated", [(1, 0.1)])]
