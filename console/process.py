"""What every long-running part process (server, site) shares: its log and facts about itself."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def setup_logging(workspace: Path, *, name: str = "console") -> None:
    """Log to stderr and to ``log.txt`` in the participant's folder."""
    fmt = logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    root = logging.getLogger(name)
    root.setLevel(logging.INFO)
    root.handlers.clear()
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(workspace / "log.txt")):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def process_info(start_time: float) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "hostname": platform.node(),
        "cpu_count": os.cpu_count(), "pid": os.getpid(), "uptime_seconds": round(time.time() - start_time, 1),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
