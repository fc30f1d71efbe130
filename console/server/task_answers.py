"""A site's answer to a task, checked before FedAvg takes it: its weight and its metrics.

Pure functions over the answer's JSON head; what is done with a refused answer (the site's error in
job_errors) stays ``deployment.py``'s, the limits ``console.runtime.limits``'.
"""

from __future__ import annotations

import math
from typing import Any

from console.runtime.limits import MAX_METRICS_BYTES, MAX_METRICS_DEPTH, json_depth, json_size


def task_answer(head: Any) -> tuple[float, dict[str, Any]]:
    """A site's answer to a task: its weight (``result_weight``) and its metrics, an object of at
    most ``MAX_METRICS_BYTES`` of JSON (none given: ``{}``). Raises ValueError naming what is wrong,
    the site's error in job_errors."""
    if not isinstance(head, dict):
        raise ValueError(f"its answer to a task must be a JSON object, not {type(head).__name__}")
    metrics = head.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ValueError(f"a result's metrics must be a JSON object, not {type(metrics).__name__}")
    if json_depth(metrics, MAX_METRICS_DEPTH) > MAX_METRICS_DEPTH:
        raise ValueError(f"its metrics nest objects or arrays deeper than the limit of {MAX_METRICS_DEPTH} levels")
    if json_size(metrics) > MAX_METRICS_BYTES:
        raise ValueError(f"its metrics exceed the limit of {MAX_METRICS_BYTES} bytes")
    return result_weight(head.get("weight", 1.0)), metrics


def result_weight(value: Any) -> float:
    """A site's weight for its result: a finite, non-negative JSON number (a string such as "nan", a
    bool or infinity would poison FedAvg's average). Raises ValueError, the site's error in job_errors."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"a result's weight must be a finite number of at least 0, not {value!r}")
    return float(value)
