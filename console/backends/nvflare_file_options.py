"""The options of FLARE's file commands (ls, cat, head, tail, grep) as FLARE's API can carry them.

FLARE 2.9's ``Session.ls_target`` (and cat, head, tail, grep) sends its ``options`` string as ONE
word, quoted when it holds a blank (``cmd_arg_utils.join_args``), and the participant's argparse
reads that word: ``-a -l`` arrives as the one unknown option ``"-a -l"`` and is refused. Flags
written apart are therefore joined (``-a -l`` → ``-al``, as argparse reads short flags together) and
a value is attached to its option (``-n 5`` → ``-n5``). Two options that cannot share a word (``-n 5
-c 3``) are refused here, saying so. Only rewrites the string; which options FLARE takes is FLARE's.
"""

from __future__ import annotations

import re

from console.api.errors import InvalidArgumentError

#: Options of FLARE 2.9's file commands that take a number (its ``shell_cmd_val`` validators).
_VALUED = {"head": "cn", "tail": "cn"}
_FLAGS = re.compile(r"-[A-Za-z]+")
_NUMBER = re.compile(r"\d+")


def one_word(command: str, options: str | None) -> str | None:
    """``options`` as one word FLARE's participant reads as meant; None for none. Words that are no
    option are left as they are (FLARE refuses them, in our words: ``nvflare_errors``)."""
    words = (options or "").split()
    if not words:
        return None
    valued = _VALUED.get(command, "")
    letters, attached, other = "", [], []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if len(word) >= 2 and word[0] == "-" and word[1] in valued:
            value = word[2:]
            if not value and index < len(words) and _NUMBER.fullmatch(words[index]):
                value, index = words[index], index + 1
            attached.append(word[:2] + value)
        elif _FLAGS.fullmatch(word):
            letters += word[1:]
        else:
            other.append(word)
    joined = ([f"-{letters}"] if letters else []) + attached + other
    if len(joined) > 1:
        raise InvalidArgumentError(
            f"{command}: FLARE's {command} takes its options as one word, which holds flags together "
            f"(-al) or one option with its number (-n5): {' and '.join(joined)} cannot be given at once there")
    return joined[0]


def as_file(path: str | None) -> str | None:
    """A FILE or PATH as FLARE's participant reads it as a name: one starting with ``-`` (given after
    ``--`` in the console) would be read there as an option, so it goes as ``./-name``, the same file."""
    return f"./{path}" if path and path.startswith("-") else path


def as_pattern(pattern: str, options: str | None) -> str:
    """A grep PATTERN FLARE's participant reads as a pattern: one starting with ``-`` (given after
    ``--``) goes as ``[-]...``, the same regular expression, since FLARE's grep takes no ``-e``.
    Raises InvalidArgumentError with ``-F``, where ``[-]`` would be searched for literally."""
    if not pattern.startswith("-"):
        return pattern
    if "F" in "".join(w[1:] for w in (options or "").split() if w.startswith("-")):
        raise InvalidArgumentError(f"grep: FLARE's grep cannot take the fixed string {pattern!r} (it starts "
                                   "with '-'); leave out -F and give it as a regular expression")
    return f"[-]{pattern[1:]}"
