"""The built-in FedAvg workflow: ``{"workflow": "fedavg", "args": {...}}``.

Args: ``num_rounds`` (default 3), ``min_clients`` (default 1): the fewest results a
round may be averaged from, ``initial_model``: named arrays inline or an ``.npz`` in the
app, ``task_timeout`` (seconds; default meta.json's, else 600), ``max_result_bytes`` (a
result's array bytes; default 4 x the model file a task sends, at least 64 MiB, at most
4 GiB), ``save_rounds`` (keep ``models/round_<k>.npz``; default: only for models under
64 MiB, so a 1 GB model does not fill the disk with every round).

Each round sends the model to every site still in the job and folds each result into a
running weighted sum as it arrives (the process holds the model, the sum and one result,
never every result); the average keeps the model's float dtype. A round's model file is
written in the background while the next round's tasks are out. The last model is
``models/final_model.npz`` with ``models/metrics.json`` beside it. Metrics: per site as
each site reported them, and ``aggregated``: the weighted mean of every numeric metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from console.natural_order import natural_key
from console.runtime.arrays import Model, model_from_config, model_nbytes, save_model
from console.runtime.context import ServerAppContext, SiteResult, SitesLost
from console.runtime.limits import PayloadTooLarge

SAVE_ROUNDS_BELOW_BYTES = 64 << 20


class RunningMean:
    """The weighted mean of models added one at a time, in one accumulator per array."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self._sums: Model = {}
        self._dtypes: dict[str, np.dtype] = {}

    def add(self, model: Model, weight: float) -> None:
        if not weight >= 0 or weight == float("inf"):  # (NaN compares false)
            raise ValueError(f"a result's weight must be a finite number of at least 0, not {weight}")
        if self.count and model.keys() != self._sums.keys():
            raise ValueError(f"a result's arrays {sorted(model)} differ from the others' {sorted(self._sums)}")
        for name, array in model.items():
            array = np.asarray(array)
            if not self.count:
                # Float models keep their dtype (a float32 model is summed in float32: memory stays
                # one copy); integer arrays are averaged in float64.
                dtype = array.dtype if array.dtype.kind in "fc" else np.dtype(np.float64)
                self._dtypes[name] = dtype
                self._sums[name] = np.zeros(array.shape, dtype=dtype)
            elif array.shape != self._sums[name].shape:
                raise ValueError(f"array {name!r} has shape {array.shape}, the others {self._sums[name].shape}")
            if weight == 1.0:
                self._sums[name] += array
            else:
                self._sums[name] += array * np.asarray(weight, dtype=self._dtypes[name])
        self.total += weight
        self.count += 1

    def mean(self) -> Model:
        if self.total <= 0:
            raise ValueError("the results' weights add up to zero")
        for array in self._sums.values():
            array /= np.asarray(self.total, dtype=array.dtype)
        return self._sums


def weighted_mean(results: Iterable[SiteResult]) -> Model:
    mean = RunningMean()
    for result in results:
        mean.add(result.model, result.weight)
    return mean.mean()


def aggregate_metrics(per_site: dict[str, dict[str, Any]], weights: dict[str, float]) -> dict[str, float]:
    """Weighted mean of each numeric metric over the sites that reported it."""
    sums: dict[str, float] = {}
    totals: dict[str, float] = {}
    for site, metrics in per_site.items():
        for key, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0.0) + float(value) * weights[site]
                totals[key] = totals.get(key, 0.0) + weights[site]
    return {key: sums[key] / totals[key] for key in sums if totals[key] > 0}


class RoundSaver:
    """Writes a round's model file (``round_<k>.npz``) in a worker thread while the next round's
    tasks are out, instead of holding up the next round for the write.

    It saves the very model object the next task is made from (no copy). One save at a time; a
    save that failed raises at the next ``save`` or at ``wait``."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="round-saver")
        self._pending: Future[None] | None = None

    def save(self, model: Model, path: Path) -> None:
        self.wait()
        self._pending = self._pool.submit(save_model, model, path)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, *, quiet: bool = False) -> None:
        """Wait for the last save and stop the worker; its error is raised unless ``quiet``."""
        try:
            self.wait()
        except Exception:
            if not quiet:
                raise
        finally:
            self._pool.shutdown()


def fedavg(ctx: ServerAppContext) -> None:
    saver = RoundSaver()
    try:
        _rounds(ctx, saver)
    except BaseException:
        saver.close(quiet=True)  # the rounds' own error is the one to report
        raise
    saver.close()


def _rounds(ctx: ServerAppContext, saver: RoundSaver) -> None:
    num_rounds = int(ctx.args.get("num_rounds", 3))
    min_clients = int(ctx.args.get("min_clients", 1))
    model = model_from_config(ctx.args.get("initial_model"), ctx.app_dir)
    save_rounds = ctx.args.get("save_rounds")
    if save_rounds is None:
        save_rounds = model_nbytes(model) < SAVE_ROUNDS_BELOW_BYTES
    models = ctx.workspace / "models"
    history = []
    for round_number in range(1, num_rounds + 1):
        if ctx.aborted():
            return
        if len(ctx.sites) < min_clients:
            raise SitesLost(f"round {round_number}: {len(ctx.sites)} site(s) left, min_clients is {min_clients}")
        ctx.logger.info("round %d/%d: sending the model to %s", round_number, num_rounds, ", ".join(ctx.sites))
        mean = RunningMean()
        metrics: dict[str, dict[str, Any]] = {}
        weights: dict[str, float] = {}
        results = ctx.task_results(round_number, num_rounds, model)
        del model  # the task file holds it now; keep at most the sum and one result in memory
        for result in results:
            mean.add(result.model, result.weight)
            metrics[result.site], weights[result.site] = result.metrics, result.weight
            del result
        if ctx.aborted():
            return
        if mean.count < min_clients:
            raise SitesLost(f"round {round_number}: {mean.count} result(s), min_clients is {min_clients}")
        model = mean.mean()
        if save_rounds:
            saver.save(model, models / f"round_{round_number}.npz")
        aggregated = aggregate_metrics(metrics, weights)
        # Sites as people count them (site-2 before site-10), not as their results arrived: the order
        # get_job_meta's round_metrics, metrics.json and plot's legend show.
        metrics = {site: metrics[site] for site in sorted(metrics, key=natural_key)}
        history.append({"round": round_number, "sites": list(metrics), "metrics": metrics, "aggregated": aggregated})
        ctx.logger.info("round %d/%d: averaged %d result(s)%s", round_number, num_rounds, mean.count,
                        "".join(f", {k}={v:.4g}" for k, v in aggregated.items()))
        try:
            ctx.progress(round=round_number, num_rounds=num_rounds, sites_responded=mean.count, metrics=metrics,
                         aggregated=aggregated)
        except PayloadTooLarge:  # many sites with many metrics: the per-site part stays in metrics.json
            ctx.progress(round=round_number, num_rounds=num_rounds, sites_responded=mean.count, aggregated=aggregated)
    saver.wait()
    save_model(model, models / "final_model.npz")
    if save_rounds:  # FLARE's NPModelPersistor file; for a big model final_model.npz is enough
        np.save(models / "server.npy", next(iter(model.values())))
    (models / "metrics.json").write_text(json.dumps(history, indent=2, default=float))
