"""Where the console process's log records go: a file in the user's data dir, never the terminal.

Owns the logging set-up of the console (interactive and batch); what is logged stays with each
part. Why: with no handler configured, Python's ``logging.lastResort`` writes every WARNING record
to stderr, and libraries log there at will: NVIDIA FLARE's cellnet logged "Receiving unknown
req_id=..., discarded" onto the prompt's line with 20 monitors running (a tester's finding). A
batch's stderr is for its own error lines, which scripts read.

The file is ``console.log`` in ``user_dirs.data_dir()`` (``~/.local/share/flare-console``), kept
under ``MAX_BYTES`` times ``1 + BACKUPS``; records at WARNING and above, ours (``console.*``) from
INFO. When the file cannot be opened, records are dropped (``NullHandler``), still never shown.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from console.own_files import open_private, private_file, private_folder
from console.user_dirs import data_dir

#: Bytes of one log file before it is rotated, and how many rotated files are kept.
MAX_BYTES = 1 << 20
BACKUPS = 2
LOG_NAME = "console.log"


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the first, and each after a rollover) is made 0600."""

    def _open(self):  # noqa: ANN202 - logging's own stream type
        return open_private(Path(self.baseFilename), "a", encoding=self.encoding)


def send_logs_to_file(folder: Path | None = None) -> Path | None:
    """Route every log record of this process to ``folder / LOG_NAME`` (default: the data dir);
    the file's path, or None when it could not be opened (records are then dropped)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = (folder or data_dir()) / LOG_NAME
    handler: logging.Handler
    try:
        private_folder(path.parent)
        for old in [path, *(path.with_name(f"{LOG_NAME}.{n}") for n in range(1, BACKUPS + 1))]:
            if old.exists():
                private_file(old)  # found readable by others (an older console made it so)
        handler = _PrivateLog(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    except OSError:
        handler, path = logging.NullHandler(), None
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("console").setLevel(logging.INFO)
    return path
