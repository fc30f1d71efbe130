"""Where flare-console keeps a user's files, as the XDG base directories say: settings and
themes in the config dir, history and the demo's workspace in the data dir. Paths only;
nothing here creates or reads a file."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/flare-console`` (default ``~/.config/flare-console``)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "flare-console"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/flare-console`` (default ``~/.local/share/flare-console``)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "flare-console"
