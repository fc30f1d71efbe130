"""Read-only shell commands on a participant's folder: ls, cat, head, tail, grep, pwd.

No shell ever runs: each command is done here, in Python, on paths confined to the
participant's folder (no absolute paths, no ``..``, no link out). A missing file reads
as a shell would say it (output, as FLARE returns it); a path outside the folder, an
unknown command or option is refused with ``TargetCommandError``.
"""

from __future__ import annotations

import re
import shlex
import stat
import time
from pathlib import Path

CONFINED_COMMANDS = ("ls", "cat", "head", "tail", "grep", "pwd")
_BLOCK = 1 << 16


class TargetCommandError(Exception):
    pass


def _confine(root: Path, command: str, path: str) -> Path:
    candidate = Path(path)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise TargetCommandError(f"{command}: {path}: path outside the workspace is not allowed")
    real_root = root.resolve()
    target = (real_root / candidate).resolve()
    if not target.is_relative_to(real_root):
        raise TargetCommandError(f"{command}: {path}: path outside the workspace is not allowed")
    return target


def _options(command: str, options: str | None, allowed: str, with_number: str = "") -> tuple[set[str], dict[str, int]]:
    """Single-letter flags, and numbers for the letters in ``with_number`` (``-n 5``, ``-n5``, ``-5``)."""
    flags: set[str] = set()
    numbers: dict[str, int] = {}
    words = shlex.split(options or "")
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word == "-":
            raise TargetCommandError(f"{command}: unexpected word {word!r} among the options")
        body = word[1:]
        if body.isdigit() and "n" in with_number:
            numbers["n"] = int(body)
            continue
        for i, letter in enumerate(body):
            if letter in with_number:
                rest = body[i + 1:] or (words.pop(0) if words else "")
                if not rest.isdigit():
                    raise TargetCommandError(f"{command}: -{letter} needs a number")
                numbers[letter] = int(rest)
                break
            if letter not in allowed:
                supported = " ".join(f"-{c}" for c in allowed + with_number)
                raise TargetCommandError(f"{command}: unknown option -{letter}; supported: {supported}")
            flags.add(letter)
    return flags, numbers


def _file_problem(command: str, shown: str, target: Path) -> str | None:
    if not target.exists():
        return f"{command}: {shown}: No such file or directory\n"
    if target.is_dir():
        return f"{command}: {shown}: Is a directory\n"
    return None


def _ls(root: Path, options: str | None, path: str | None) -> str:
    flags, _ = _options("ls", options, "lahtr")
    target = _confine(root, "ls", path or ".")
    if not target.exists():
        return f"ls: cannot access '{path}': No such file or directory\n"
    entries = [target] if target.is_file() else [p for p in target.iterdir() if "a" in flags or not p.name.startswith(".")]
    if "t" in flags:
        entries.sort(key=lambda p: p.lstat().st_mtime, reverse=True)
    else:
        entries.sort(key=lambda p: p.name)
    if "r" in flags:
        entries.reverse()
    lines = []
    for entry in entries:
        info = entry.lstat()
        name = entry.name + ("/" if stat.S_ISDIR(info.st_mode) else "")
        if "l" in flags:
            size = _human(info.st_size) if "h" in flags else str(info.st_size)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.st_mtime))
            lines.append(f"{stat.filemode(info.st_mode)} {size:>10} {when} {name}")
        else:
            lines.append(name)
    return "".join(f"{line}\n" for line in lines)


def _human(size: float) -> str:
    for unit in ("", "K", "M", "G"):
        if size < 1024:
            return f"{size:.0f}{unit}" if unit == "" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}T"


def _head(target: Path, lines: int | None, count_bytes: int | None) -> bytes:
    with open(target, "rb") as src:
        if count_bytes is not None:
            return src.read(count_bytes)
        kept = []
        for _ in range(lines if lines is not None else 10):
            line = src.readline()
            if not line:
                break
            kept.append(line)
        return b"".join(kept)


def _tail(target: Path, lines: int | None, count_bytes: int | None) -> bytes:
    """The end of a file, read backwards in blocks: a huge log is never loaded whole."""
    size = target.stat().st_size
    with open(target, "rb") as src:
        if count_bytes is not None:
            src.seek(max(size - count_bytes, 0))
            return src.read()
        wanted = lines if lines is not None else 10
        data = b""
        position = size
        while position > 0 and data.count(b"\n") <= wanted:
            step = min(_BLOCK, position)
            position -= step
            src.seek(position)
            data = src.read(step) + data
        parts = data.splitlines(keepends=True)
        return b"".join(parts[-wanted:]) if wanted else b""


def _grep(target: Path, flags: set[str], pattern: str) -> str:
    source = re.escape(pattern) if "F" in flags else pattern
    if "w" in flags:
        source = rf"\b(?:{source})\b"
    try:
        regex = re.compile(source, re.IGNORECASE if "i" in flags else 0)
    except re.error as exc:
        raise TargetCommandError(f"grep: invalid pattern: {exc}") from None
    hits = []
    with open(target, "rb") as src:
        for number, raw in enumerate(src, 1):
            line = raw.decode(errors="replace").rstrip("\n")
            if bool(regex.search(line)) != ("v" in flags):
                hits.append(f"{number}:{line}" if "n" in flags else line)
    if "c" in flags:
        return f"{len(hits)}\n"
    return "".join(f"{hit}\n" for hit in hits)


def run_target_command(root: Path, command: str, options: str | None = None, path: str | None = None,
                       pattern: str | None = None, max_output_bytes: int = 1 << 20) -> str:
    root = Path(root)
    if command == "pwd":
        return f"{root.resolve()}\n"
    if command == "ls":
        return _truncate(_ls(root, options, path), max_output_bytes)
    if command not in CONFINED_COMMANDS:
        raise TargetCommandError(f"unknown command {command!r}; allowed: {', '.join(CONFINED_COMMANDS)}")
    if not path:
        raise TargetCommandError(f"{command}: a file is required")
    target = _confine(root, command, path)
    problem = _file_problem(command, path, target)
    if problem:
        return problem
    if command == "grep":
        flags, _ = _options("grep", options, "invcwEF")
        if not pattern:
            raise TargetCommandError("grep: a pattern is required")
        return _truncate(_grep(target, flags, pattern), max_output_bytes)
    if command == "cat":
        flags, _ = _options("cat", options, "n")
        with open(target, "rb") as src:
            text = src.read(max_output_bytes + 1).decode(errors="replace")
        if "n" in flags:
            text = "".join(f"{i:6}\t{line}" for i, line in enumerate(text.splitlines(keepends=True), 1))
        return _truncate(text, max_output_bytes)
    _, numbers = _options(command, options, "", "nc")
    reader = _head if command == "head" else _tail
    return _truncate(reader(target, numbers.get("n"), numbers.get("c")).decode(errors="replace"), max_output_bytes)


def _truncate(text: str, limit: int) -> str:
    if len(text.encode()) <= limit:
        return text
    return text.encode()[:limit].decode(errors="ignore") + f"\n... (output truncated at {limit} bytes)\n"


__all__ = ["CONFINED_COMMANDS", "TargetCommandError", "run_target_command"]
