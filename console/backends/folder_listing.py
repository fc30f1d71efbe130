"""Names in a participant's folder read from an ``ls`` answer, for completing remote paths.

Each engine's own ``ls`` is asked (``Backend.folder_names``), so the names are exactly those the
file commands reach: confined, authorized and filtered as they are. This module only reads the
answers: ours (``console.runtime.target_commands``: one name a line, a folder's ending in ``/``)
and FLARE's (coreutils' ``ls -a -l`` run on the participant, FLARE 2.9's shell commands). It
owns no I/O. A line that is no entry (an error, a ``total``, a truncation marker) names nothing.
"""

from __future__ import annotations

import re

from console.names import may_be_escaped

#: ``target_commands._truncate``'s last line when the listing passed the reply's size limit.
_TRUNCATED = re.compile(r"\.\.\. \(output truncated at \d+ bytes\)")

#: One entry of ``ls -l`` (coreutils, any locale's date): type and mode, links, owner, group, size
#: (or a device's "major, minor"), the date, then the time of day or a year, then the name.
_LONG_ENTRY = re.compile(r"([-dlcbpsD])\S*\s+\d+\s+\S+\s+\S+\s+(?:\d+,\s*)?\d+\s+.*?\s(?:\d{1,2}:\d{2}|\d{4})\s(.+)")

#: What FLARE 2.9 takes as a path in its file commands (``cmd_arg_utils.validate_path_string``): a
#: name with any other character could not be used in one, so it is not offered.
_FLARE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def plain_names(answer: object, asked: str) -> list[str]:
    """The names in our ``ls -a`` answer for the path ``asked`` (as sent: ``"."`` or ``"folder/"``),
    folders with their ``/``; none for the one-line refusal of a folder that is not there (or no
    folder). A listing cut at the reply's limit loses its last, maybe cut, name with the marker."""
    if not isinstance(answer, str) or (answer.startswith(f"ls: cannot access '{asked}': ")
                                       and answer.count("\n") <= 1):
        return []
    lines = answer.split("\n")  # not splitlines: a name may hold \x1c or U+2028, one line all the same
    if lines[-1] == "":
        lines.pop()
    if lines and _TRUNCATED.fullmatch(lines[-1]):
        del lines[-2:]
    # Our ls writes a control character in a name as its escape (``shown_name``): such a name is not
    # offered, nor one that reads like it (its real name is not known). What no name can be (a '/'
    # inside) is left out too.
    return [line for line in lines if line and line not in ("./", "../") and "/" not in line[:-1]
            and not may_be_escaped(line)]


def long_listing_names(answer: object) -> list[str]:
    """The names in coreutils' ``ls -a -l`` answer (FLARE's), folders with a ``/`` added, a link's
    name without its `` -> target``; ``.``, ``..`` and names FLARE's file commands refuse left out."""
    if not isinstance(answer, str):
        return []
    names: list[str] = []
    entry, last = False, None  # whether the line before was an entry; the name it gave
    for line in answer.split("\n"):
        found = _LONG_ENTRY.fullmatch(line.rstrip("\r"))
        if found is None:
            # coreutils writes names as they are to a pipe: a line after an entry that is none is the
            # rest of that entry's name (a line break in it), whose start is no file: not offered.
            if entry and line and names and names[-1] == last:
                names.pop()
            entry = False
            continue
        entry, last = True, None
        kind, name = found.groups()
        if kind == "l":
            name = name.split(" -> ", 1)[0]
        if name in (".", "..") or not _FLARE_NAME.fullmatch(name):
            continue
        last = name + "/" if kind == "d" else name
        names.append(last)
    return names


def long_listing_shown(answer: object) -> object:
    """coreutils' ``ls -l`` answer (FLARE's) with each name holding a line break back on its entry's line, the
    break written as our ls writes it (``new\\x0aline``, ``console.names.shown_name``): coreutils writes
    names as they are to a pipe, so ``new\\nline`` read as an entry ``new`` and a line ``line``. A line that
    follows an entry (or such a line) and is none is the rest of its name. Anything but text as it is."""
    if not isinstance(answer, str) or "\n" not in answer.rstrip("\n"):
        return answer
    out: list[str] = []
    entry = False
    for line in answer.split("\n"):
        if _LONG_ENTRY.fullmatch(line.rstrip("\r")) or line.startswith("total ") or not out:
            out.append(line)
            entry = bool(_LONG_ENTRY.fullmatch(line.rstrip("\r")))
        elif entry and line and not line.startswith("ls: "):  # (a blank line: ls -R's between folders)
            out[-1] += "\\x0a" + line
        else:
            out.append(line)
            entry = False
    return "\n".join(out)
