"""The built-in FedAvg workflow: ``{"workflow": "fedavg", "args": {...}}``.

Args: ``num_rounds`` (default 3), ``min_clients`` (default 1): the fewest results a
round may be averaged from, ``initial_model``: named arrays inline or an ``.npz`` in the
app. Each round sends the model to every site still in the job, takes the weighted mean
of each named array, and saves the model as ``models/round_<k>.npz``; the last one is
also ``models/final_model.npz`` with ``models/metrics.json`` beside it.
"""

from __future__ import annotations

import json

import numpy as np

from console.runtime.arrays import Model, model_from_config, save_model
from console.runtime.context import ServerAppContext, SiteResult, SitesLost


def weighted_mean(results: list[SiteResult]) -> Model:
    total = sum(r.weight for r in results)
    if total <= 0:
        raise ValueError("the results' weights add up to zero")
    names = results[0].model.keys()
    return {name: sum(r.model[name] * (r.weight / total) for r in results) for name in names}  # type: ignore[misc]


def fedavg(ctx: ServerAppContext) -> None:
    num_rounds = int(ctx.args.get("num_rounds", 3))
    min_clients = int(ctx.args.get("min_clients", 1))
    model = model_from_config(ctx.args.get("initial_model"), ctx.app_dir)
    history = []
    for round_number in range(1, num_rounds + 1):
        if ctx.aborted():
            return
        if len(ctx.sites) < min_clients:
            raise SitesLost(f"round {round_number}: {len(ctx.sites)} site(s) left, min_clients is {min_clients}")
        ctx.logger.info("round %d/%d: sending the model to %s", round_number, num_rounds, ", ".join(ctx.sites))
        results = ctx.run_task(round_number, num_rounds, model)
        if ctx.aborted():
            return
        if len(results) < min_clients:
            raise SitesLost(f"round {round_number}: {len(results)} result(s), min_clients is {min_clients}")
        model = weighted_mean(results)
        save_model(model, ctx.workspace / "models" / f"round_{round_number}.npz")
        metrics = {r.site: r.metrics for r in results}
        history.append({"round": round_number, "sites": [r.site for r in results], "metrics": metrics})
        ctx.logger.info("round %d/%d: averaged %d result(s)", round_number, num_rounds, len(results))
        ctx.progress(round=round_number, num_rounds=num_rounds, sites_responded=len(results), metrics=metrics)
    save_model(model, ctx.workspace / "models" / "final_model.npz")
    np.save(ctx.workspace / "models" / "server.npy", next(iter(model.values())))
    (ctx.workspace / "models" / "metrics.json").write_text(json.dumps(history, indent=2, default=float))
