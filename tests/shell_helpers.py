"""Running the installed ``flare-console`` as a real child process in tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CONSOLE = str(Path(sys.executable).parent / "flare-console")
# The prompt is drawn in styled fragments: allow escape sequences between them.
PROMPT = re.compile(r"admin@example\.com(\x1b\[[0-9;]*m)* on (\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")


def wrapped(text: str) -> str:
    """A pattern for ``text`` as the shell prints its messages: broken between words at the screen's width
    (``console.shell.cells.fill``), styled or not."""
    return r"(?:\s|\x1b\[[0-9;]*m)+".join(re.escape(word) for word in text.split())


def console_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FLARE_KIT", "PAGER", "NO_COLOR")}
    # pexpect is a terminal that never answers cursor-position requests: say so, as a real one would.
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"), TERM="xterm-256color",
               PROMPT_TOOLKIT_NO_CPR="1", **extra)
    return env


def run_console(home: Path, *args: str, stdin: str | None = None, timeout: float = 60,
                **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CONSOLE, *args], input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=timeout, env=console_env(home, **env))
