"""The options the file commands (ls, cat, head, tail, grep) take on each engine: one table each, read
by what refuses an option (ours: ``console.runtime.target_commands``; FLARE: ``nvflare_errors``) and by
``help``, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileOptions:
    """A file command's options: ``flags`` single letters, combinable (``-la``); ``numbers`` letters
    taking a number (``-n 5``, ``-n5``, and ``-5`` for n)."""

    flags: str = ""
    numbers: str = ""

    def supported(self) -> str:
        """``"-l -a -h -t -r"``, or ``"none"``."""
        return " ".join(f"-{c}" for c in self.flags + self.numbers) or "none"


FILE_OPTIONS = {
    "ls": FileOptions("lahtr"),
    "cat": FileOptions("n"),
    "head": FileOptions(numbers="nc"),
    "tail": FileOptions(numbers="nc"),
    "grep": FileOptions("invcwEF"),
    "pwd": FileOptions(),
}

#: The options FLARE 2.9's file commands take (its ``fuel/hci/shell_cmd_val.py`` validators): an option
#: outside them is refused by FLARE's argparse as "unrecognized arguments", which flare_api raises as an
#: internal error (``console.backends.nvflare_errors`` names these instead).
FLARE_FILE_OPTIONS = {"ls": "-a -l -t -S -R -u", "cat": "-n -b -s -T", "head": "-c N -n N", "tail": "-c N -n N",
                      "grep": "-n -i -b"}


def supported_options(command: str, flare: bool) -> str | None:
    """The options ``command`` takes on our engine (``flare`` False) or on FLARE 2.9; None for no file command."""
    if flare:
        return FLARE_FILE_OPTIONS.get(command)
    return FILE_OPTIONS[command].supported() if command in FILE_OPTIONS else None
