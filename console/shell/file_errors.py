"""A file command's answer that is the tool's error (ls, cat, head, tail, grep on the server or a site).

Both engines answer a missing file or a bad pattern with the tool's own line as the command's text
("cat: x.txt: No such file or directory", FLARE's grep "grep: Invalid regular expression"), as
FLARE's API does: ``cat_target`` returns it, and ``console.flare_api`` keeps that. For the console
such an answer is a failed command: a batch exits 1, so a CI step sees it. Only an answer that is
that one line counts: a file whose contents hold such a line is a file's contents. Must not change
the API's answers or decide exit codes (the batch runner does, by the error's class).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from console.api.errors import InvalidArgumentError

FILE_COMMANDS = frozenset({"ls", "cat", "head", "tail", "grep"})

#: The tools' words for a path they cannot read (coreutils; our runtime's own copy of them).
_UNREADABLE = re.compile(r"(ls|cat|head|tail|grep): (cannot access '.*'|cannot open '.*'( for reading)?|.*): "
                         r"(No such file or directory|Is a directory|Permission denied)")
#: GNU grep's words for a pattern it cannot compile (FLARE's sites and server run grep itself); ours
#: raise InvalidArgumentError "grep: invalid pattern: ..." on the server.
_BAD_PATTERN = re.compile(r"grep: (Invalid .*|Unmatched .*|Trailing backslash|Premature end of regular expression|"
                          r"Regular expression too big)")


def failed_file_answer(command: str, answer: object) -> InvalidArgumentError | None:
    """The error ``answer`` of ``command`` stands for, or None when it is an answer."""
    if command not in FILE_COMMANDS or not isinstance(answer, str):
        return None
    line = answer.strip()
    if "\n" in line or not line.startswith(f"{command}: "):  # the tool's own line names the tool
        return None
    if _UNREADABLE.fullmatch(line):
        return InvalidArgumentError(line)
    if command == "grep" and _BAD_PATTERN.fullmatch(line):
        return InvalidArgumentError(f"grep: invalid pattern: {line.removeprefix('grep: ')}")
    return None


def unless_failed(command: str, answer: Any) -> Any:
    """``answer``, or the error it stands for raised."""
    failed = failed_file_answer(command, answer)
    if failed is not None:
        raise failed
    return answer


def answers_only(command: str, on_answer: Callable[[Any], None]) -> Callable[[Any], None]:
    """``on_answer`` (the shell showing an answer where it arrives) for a file command: its error line is left
    to the shell, which shows it as the command's error."""
    def shown(answer: Any) -> None:
        if failed_file_answer(command, answer) is None:
            on_answer(answer)
    handed_over = getattr(on_answer, "handed_over", None)
    if handed_over is not None:  # (``Backend.request``: the caller's hold, as for any other answer)
        shown.handed_over = handed_over  # type: ignore[attr-defined]
    return shown
