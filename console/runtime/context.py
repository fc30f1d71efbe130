"""What a job's server-side code receives: ``ServerAppContext``."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class ServerAppContext:
    job_id: str
    workspace: Path
    app_dir: Path
    args: dict[str, Any]
    logger: logging.Logger
    channel: TextIO
    abort_event: threading.Event = field(default_factory=threading.Event)
    _channel_lock: threading.Lock = field(default_factory=threading.Lock)

    def aborted(self) -> bool:
        return self.abort_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early on abort; False if the job was aborted."""
        return not self.abort_event.wait(seconds)

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=str)
        with self._channel_lock:
            self.channel.write(line + "\n")
            self.channel.flush()

    def progress(self, **data: Any) -> None:
        """Report progress; it reaches every monitor of the job."""
        self.emit("progress", data=data)
