"""The executor contract: what a job's ``custom/`` code on a site implements.

The client config names a function, ``{"executor": "trainer:train"}``, found in the app's
``custom/`` folder. It is called once per task::

    from console.runtime.contract import TaskResult

    def train(model: dict[str, numpy.ndarray], ctx: TaskContext) -> TaskResult:
        return TaskResult({k: v + 1 for k, v in model.items()}, weight=1.0, metrics={"loss": 0.1})

Returning a plain ``dict`` of arrays means ``TaskResult(that_dict)``. An exception ends
the job ``FINISHED:EXECUTION_EXCEPTION`` with the traceback in the site's ``log.txt``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class TaskResult:
    model: dict[str, np.ndarray]
    weight: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    job_id: str
    site_name: str
    round: int
    num_rounds: int
    workspace: Path
    logger: logging.Logger
    abort_event: threading.Event = field(default_factory=threading.Event)

    def aborted(self) -> bool:
        return self.abort_event.is_set()
