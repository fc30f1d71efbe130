"""A logging handler that keeps the messages it is handed, as text.

What a ``console.log_floods.FloodSummary`` passes on, read by the tests of flood summaries
(tests/test_log_floods.py, tests/test_deleted_jobs.py).
"""

from __future__ import annotations

import logging


class KeptLines(logging.Handler):
    """Each record's message (``getMessage()``: its args filled in) in ``lines``, in the order handed."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
