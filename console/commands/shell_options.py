"""The options the file commands (ls, cat, head, tail, grep) take on each engine: one table each, read
by what refuses an option (ours: ``console.runtime.target_commands``; FLARE: ``nvflare_errors``) and by
``help``, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileOptions:
    """A file command's options: ``flags`` single letters, combinable (``-la``); ``numbers`` letters
    taking a number (``-n 5``, ``-n5``, and ``-5`` for n); ``meanings`` (letter, what it does, with its
    default where it has one) for each of them, as ``help COMMAND`` lists them (a letter without one is
    refused as the table is built)."""

    flags: str = ""
    numbers: str = ""
    meanings: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        said = [letter for letter, _ in self.meanings]
        if sorted(said) != sorted(self.flags + self.numbers):
            raise ValueError(f"each option needs one meaning for help: options {self.flags + self.numbers!r}, "
                             f"meanings given for {''.join(said)!r}")

    def supported(self) -> str:
        """``"-l -a -h -t -r"``, or ``"none"``."""
        return " ".join(f"-{c}" for c in self.flags + self.numbers) or "none"

    def rows(self) -> list[tuple[str, str]]:
        """(``-n N`` or ``-l``, its meaning) for each option, in the order of ``supported``."""
        meaning = dict(self.meanings)
        return [(f"-{c} N" if c in self.numbers else f"-{c}", meaning[c]) for c in self.flags + self.numbers]


# What each option does is what ``console.runtime.target_commands`` does with it (head/tail: bounded_reads).
FILE_OPTIONS = {
    "ls": FileOptions("lahtr", meanings=(
        ("l", "long: mode, size, modification time and name"),
        ("a", "also the names starting with '.'"),
        ("h", "with -l: sizes as 1.5K, 2.0M"),
        ("t", "newest first (by modification time; default: by name)"),
        ("r", "reverse the order"))),
    "cat": FileOptions("n", meanings=(("n", "number each line"),)),
    "head": FileOptions(numbers="nc", meanings=(
        ("n", "the first N lines (default: 10)"),
        ("c", "the first N bytes, instead of lines"))),
    "tail": FileOptions(numbers="nc", meanings=(
        ("n", "the last N lines (default: 10)"),
        ("c", "the last N bytes, instead of lines"))),
    "grep": FileOptions("invcwEF", meanings=(
        ("i", "ignore case"),
        ("n", "each line with its line number"),
        ("v", "the lines that do not match"),
        ("c", "only how many lines match"),
        ("w", "match whole words only"),
        ("E", "the pattern is an extended regular expression"),
        ("F", "the pattern is plain text, not a regular expression"))),
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
