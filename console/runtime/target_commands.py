"""Read-only shell commands on a participant's folder: ls, cat, head, tail, grep, pwd.

No shell ever runs: each command is done here, in Python, on paths confined to the
participant's folder (no absolute paths, no ``..``, no link out). Everything arrives from
the network, so every argument is untrusted. A missing file, a directory or an unreadable
file reads as a shell would say it (output, as FLARE returns it); a path outside the folder,
an unknown command or option is refused with ``TargetCommandError``.

Memory stays bounded by ``max_output_bytes`` whatever the file size: head stops early, tail
scans backwards from the end, grep streams and caps over-long lines (``bounded_reads``).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from console.commands.shell_options import FILE_OPTIONS
from console.names import shown_name
from console.runtime.bounded_reads import capped_lines, head, start_of_last_lines, tail
from console.runtime.grep_pattern import PatternError, bre_to_python

CONFINED_COMMANDS = ("ls", "cat", "head", "tail", "grep", "pwd")


class TargetCommandError(Exception):
    """Refused request; the message is what the user sees."""


@dataclass(frozen=True)
class _Options:
    flags: frozenset[str]
    numbers: dict[str, int]


def _parse_options(command: str, options: str | None) -> _Options:
    spec = FILE_OPTIONS[command]
    supported = spec.supported()
    try:
        words = shlex.split(options or "")
    except ValueError as exc:
        raise TargetCommandError(f"{command}: cannot parse options: {exc}") from None
    flags: set[str] = set()
    numbers: dict[str, int] = {}
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word == "-":
            raise TargetCommandError(f"{command}: unexpected word {word!r} among the options")
        if word.startswith("--"):
            raise TargetCommandError(f"{command}: unknown option {word}; supported: {supported}")
        body = word[1:]
        if _is_number(body) and "n" in spec.numbers:
            numbers["n"] = int(body)
            continue
        for i, letter in enumerate(body):
            if letter in spec.numbers:
                rest = body[i + 1:] or (words.pop(0) if words else "")
                if not _is_number(rest):
                    raise TargetCommandError(f"{command}: -{letter} needs a number")
                numbers[letter] = int(rest)
                break
            if letter not in spec.flags:
                raise TargetCommandError(f"{command}: unknown option -{letter}; supported: {supported}")
            flags.add(letter)
    return _Options(frozenset(flags), numbers)


def _is_number(text: str) -> bool:
    # str.isdigit alone accepts "²", which int() then rejects.
    return text.isascii() and text.isdigit()


#: A participant's kit: its private key, certificates, policy and local config. Never handed out.
KIT_FOLDERS = ("startup", "local")
#: Never reachable on the server: the kit, the store (every job's archive, signatures and the job
#: database, which download_job and list_jobs guard; console.server.app) and the audit trail (every
#: user's commands; console.server.audit.AUDIT_FOLDER).
SERVER_PRIVATE = (*KIT_FOLDERS, "store", "audit")


def private_folders(target: str) -> tuple[str, ...]:
    """The folders of ``target``'s root (``"server"`` or a site's name) no file command opens: the
    ``protected`` its host gives ``run_target_command``, the rule remote completion leaves out too."""
    return SERVER_PRIVATE if target == "server" else KIT_FOLDERS

#: A job's workspace in a participant's folder is named by the job's ID (a lower-case UUID, as FLARE's);
#: any case matches, since a case-insensitive file system reaches the same folder in upper case.
_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def job_folder(path: str | None) -> str | None:
    """The job whose workspace ``path`` (relative to a participant's folder) lies in, by its first
    part; None for a path outside every job's workspace. The host checks the download_job right
    for that job before running a command on the path: the workspace holds the job's results."""
    parts = [part for part in Path(path or ".").parts if part != "."]
    return parts[0].lower() if parts and _JOB_ID.match(parts[0]) else None


def _confine(root: Path, command: str, path: str, protected: tuple[str, ...] = KIT_FOLDERS) -> Path:
    """The real path of ``path`` under ``root``, or a refusal; symlinks are followed before judging,
    and nothing under the ``protected`` folders of ``root`` is reachable, by name or by link."""
    if "\x00" in path:
        raise TargetCommandError(f"{command}: invalid path")
    candidate = Path(path)
    refused = TargetCommandError(f"{command}: {path}: path outside the workspace is not allowed")
    if candidate.is_absolute() or ".." in candidate.parts:
        raise refused
    try:
        real_root = root.resolve()
        target = (real_root / candidate).resolve()
    except (OSError, RuntimeError):  # 3.11 raises RuntimeError on a symlink loop
        raise TargetCommandError(f"{command}: {path}: Too many levels of symbolic links") from None
    if not target.is_relative_to(real_root):
        raise refused
    inside = target.relative_to(real_root).parts
    if inside and inside[0] in protected:
        raise TargetCommandError(f"{command}: {path}: the participant's {inside[0]}/ folder (keys, certificates, "
                                 "policy, the server's records) is never shown")
    # The host checked the right on the job the path names; a link must not lead into another job's
    # results. Not named: that job may be one the user may not view (the link's author chose it).
    named = job_folder(path)
    if inside and _JOB_ID.match(inside[0]) and inside[0].lower() != named:
        raise TargetCommandError(f"{command}: {path}: a link into another job's workspace is not followed; "
                                 "name that job's folder itself")
    # Nor, from inside a job's folder, out of it to the participant's own files (its log.txt names every
    # job): the host judged the path by the job it names, and a scoped view reaches only that job's files.
    if named is not None and (not inside or inside[0].lower() != named):
        raise TargetCommandError(f"{command}: {path}: a link out of the job's workspace is not followed; "
                                 "name the path itself")
    return target


def _ls(target: Path, shown: str, options: _Options) -> str:
    flags = options.flags
    if not target.exists():
        return f"ls: cannot access '{shown}': No such file or directory\n"
    if shown.endswith("/") and not target.is_dir():  # "log.txt/": a folder was named, as coreutils reads it
        return f"ls: cannot access '{shown}': Not a directory\n"
    # os.scandir: a plain listing needs no stat of each entry (the folder's own entry types say which
    # are folders), which is what makes a folder of 100,000 files list in a fraction of a second.
    detailed = "l" in flags or "t" in flags
    try:
        if target.is_dir():
            with os.scandir(target) as scan:
                found = [entry for entry in scan if "a" in flags or not entry.name.startswith(".")]
            rows = [(entry.name, entry.stat(follow_symlinks=False) if detailed else None,
                     entry.is_dir(follow_symlinks=False)) for entry in found]
        else:
            info = target.lstat()
            rows = [(target.name, info, stat.S_ISDIR(info.st_mode))]
    except OSError as exc:
        return f"ls: cannot access '{shown}': {exc.strerror}\n"
    if "t" in flags:
        rows.sort(key=lambda row: (-row[1].st_mtime, row[0]))  # type: ignore[union-attr]
    else:
        rows.sort(key=lambda row: row[0])
    if "r" in flags:
        rows.reverse()
    lines = []
    for name, info, is_dir in rows:
        # A name holding a line break would read as two entries, one with ESC would act on the terminal:
        # every control character shown as its escape (``new\x0aline``), one entry a line.
        name = shown_name(name) + ("/" if is_dir else "")
        if info is not None and "l" in flags:
            size = _human(info.st_size) if "h" in flags else str(info.st_size)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.st_mtime))
            lines.append(f"{stat.filemode(info.st_mode)} {size:>10} {when} {name}")
        else:
            lines.append(name)
    return "".join(f"{line}\n" for line in lines)


def _human(size: float) -> str:
    if size < 1024:
        return f"{size:.0f}"
    for unit in ("K", "M", "G", "T"):
        size /= 1024
        if size < 1024 or unit == "T":
            return f"{size:.1f}{unit}"
    raise AssertionError("unreachable")


def _compile_pattern(pattern: str | None, flags: frozenset[str]) -> re.Pattern[str]:
    if not pattern:
        raise TargetCommandError("grep: a pattern is required")
    try:  # GNU grep's rules, as FLARE's grep (the system's): basic unless -E (extended) or -F (fixed)
        source = re.escape(pattern) if "F" in flags else pattern if "E" in flags else bre_to_python(pattern)
    except PatternError as exc:
        raise TargetCommandError(f"grep: invalid pattern: {exc}") from None
    if "w" in flags:
        # Lookarounds, not \b: grep -w also works when the pattern starts or ends with a non-word character.
        source = rf"(?<!\w)(?:{source})(?!\w)"
    try:
        return re.compile(source, re.IGNORECASE if "i" in flags else 0)
    except re.error as exc:
        raise TargetCommandError(f"grep: invalid pattern: {exc}") from None


def _grep(src: BinaryIO, regex: re.Pattern[str], flags: frozenset[str], limit: int) -> str:
    invert, counting = "v" in flags, "c" in flags
    hits: list[str] = []
    count = total = 0
    for number, raw in enumerate(capped_lines(src), 1):
        line = raw.decode(errors="replace").rstrip("\n")
        if bool(regex.search(line)) == invert:
            continue
        count += 1
        if counting:
            continue
        hit = f"{number}:{line}\n" if "n" in flags else f"{line}\n"
        hits.append(hit)
        total += len(hit.encode())
        if total > limit:
            break  # the rest would be cut anyway
    return f"{count}\n" if counting else "".join(hits)


def _truncate(text: str, limit: int) -> str:
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    kept = encoded[:limit].decode(errors="ignore")  # never end on half a character
    separator = "" if not kept or kept.endswith("\n") else "\n"
    return f"{kept}{separator}... (output truncated at {limit} bytes)\n"


def run_target_command(root: Path, command: str, options: str | None = None, path: str | None = None,
                       pattern: str | None = None, max_output_bytes: int = 1 << 20,
                       protected: tuple[str, ...] = KIT_FOLDERS) -> str:
    """Run one confined command on ``root`` and return its output (shell-like, ending in a newline).

    ``protected``: folders of ``root`` never reachable (the kit's ``startup/`` and ``local/``).
    """
    root = Path(root)
    if command not in FILE_OPTIONS:
        raise TargetCommandError(f"unknown command {command!r}; allowed: {', '.join(CONFINED_COMMANDS)}")
    # Options and pattern are checked before the file system is touched, so a bad request is
    # refused the same way whether or not the file exists.
    parsed = _parse_options(command, options)
    if command == "pwd":
        return f"{root.resolve()}\n"
    if command == "ls":
        shown = path or "."
        return _truncate(_ls(_confine(root, command, shown, protected), shown, parsed), max_output_bytes)
    regex = _compile_pattern(pattern, parsed.flags) if command == "grep" else None
    if not path:
        raise TargetCommandError(f"{command}: a file is required")
    target = _confine(root, command, path, protected)
    if not target.exists():
        return f"{command}: {path}: No such file or directory\n"
    if target.is_dir():
        return f"{command}: {path}: Is a directory\n"
    if path.endswith("/"):
        return f"{command}: {path}: Not a directory\n"
    if not target.is_file():
        # A FIFO or socket would block the reader forever.
        return f"{command}: {path}: not a regular file\n"
    limit = max_output_bytes
    try:
        with open(target, "rb") as src:
            if regex is not None:
                return _truncate(_grep(src, regex, parsed.flags, limit), limit)
            if command == "cat":
                text = src.read(limit + 1).decode(errors="replace")
                if "n" in parsed.flags:
                    text = "".join(f"{i:6}\t{line}" for i, line in enumerate(text.splitlines(keepends=True), 1))
                return _truncate(text, limit)
            reader = head if command == "head" else tail
            data = reader(src, parsed.numbers.get("n"), parsed.numbers.get("c"), limit)
            return _truncate(data.decode(errors="replace"), limit)
    except OSError as exc:
        return f"{command}: {path}: {exc.strerror or exc}\n"


# --- get_job_logs: the end of a job's log, as FLARE 2.9 returns it ------------------------------

#: FLARE's JobCommandModule.MAX_RETURNED_JOB_LOG_BYTES: a longer log comes back as its newest bytes.
MAX_LOG_BYTES = 5 * 1024 * 1024


def _log_marker(kept: int, cut: int, what: str = "bytes") -> str:
    # Starts as FLARE's marker does ("... output truncated to last N bytes ..."), and says how much went.
    return f"... output truncated to last {kept} bytes ({cut} earlier {what} cut) ...\n"


def _newest(data: bytes, cut_before: int, limit: int) -> str:
    """``data`` cut to its newest ``limit`` bytes, from a line start, behind a marker when anything
    was cut (``cut_before``: bytes of the wanted part already left out before ``data``)."""
    start = max(len(data) - limit, 0)
    if start and (newline := data.find(b"\n", start - 1, len(data) - 1)) >= 0:
        start = newline + 1  # never begin on half a line
    text = data[start:].decode(errors="replace")
    cut = cut_before + start
    return _log_marker(len(data) - start, cut) + text if cut else text


def _grep_log(src: BinaryIO, start: int, text: str, limit: int) -> str:
    """Lines from ``start`` on holding ``text`` (FLARE: ``text in line``), the newest that fit in ``limit``."""
    src.seek(start)
    kept: list[bytes] = []
    total = dropped = 0
    needle = text.encode()
    for line in capped_lines(src):
        if needle not in line:
            continue
        kept.append(line)
        total += len(line)
        while total > limit and len(kept) > 1:
            total -= len(kept[0])
            dropped += len(kept.pop(0))
    body = b"".join(kept).decode(errors="replace")
    return _log_marker(total, dropped, "bytes of matching lines") + body if dropped else body


def read_job_log(root: Path, path: str, tail_lines: int | None = None, grep_text: str | None = None,
                 limit: int = MAX_LOG_BYTES, protected: tuple[str, ...] = KIT_FOLDERS) -> str | None:
    """The end of a log under ``root``, or None when there is no such file.

    As FLARE 2.9's get_job_logs: at most ``limit`` bytes, the newest, behind a marker line saying
    how much was cut; ``tail_lines`` (the last N lines) and then ``grep_text`` (lines containing it,
    plain text) apply to the whole log, not to the part that fits. Raises TargetCommandError for a
    path outside ``root``.
    """
    target = _confine(Path(root), "get_job_logs", path, protected)
    if not target.is_file():
        return None
    with open(target, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        start = 0 if tail_lines is None else start_of_last_lines(src, size, tail_lines)
        if grep_text:
            return _grep_log(src, start, grep_text, limit)
        skipped = max(start, size - limit - 1)  # one byte more: the line before may end right there
        src.seek(skipped)
        return _newest(src.read(size - skipped), skipped - start, limit)


__all__ = ["CONFINED_COMMANDS", "KIT_FOLDERS", "MAX_LOG_BYTES", "SERVER_PRIVATE", "TargetCommandError", "job_folder",
           "private_folders", "read_job_log", "run_target_command"]
