"""Timing helpers needing only the standard library, so that scripts running in NVFlare's venv
(``peer_measure.py``) share them with ours (``common.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def finish_time(meta: dict) -> float:
    """When the server wrote the job's final status (its start time plus its duration)."""
    h, m, s = meta["duration"].split(":")
    return datetime.fromisoformat(meta["start_time"]).timestamp() + int(h) * 3600 + int(m) * 60 + float(s)
