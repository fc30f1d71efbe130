"""Confined read-only commands: each command and option, every way out refused, big files read in bounds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from console.runtime.target_commands import (
    CONFINED_COMMANDS,
    TargetCommandError,
    job_folder,
    run_target_command,
)

LOG = "".join(f"line {i} {'ERROR' if i % 10 == 0 else 'ok'}\n" for i in range(1, 101))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "site-1"
    (folder / "job" / "models").mkdir(parents=True)
    (folder / "log.txt").write_text(LOG)
    (folder / ".hidden").write_text("h")
    (folder / "job" / "models" / "m.npz").write_bytes(b"x" * 2048)
    (folder / "words.txt").write_text("cat\ncatalog\nthe cat sat\nCAT\na+b\nc.d\n")
    (tmp_path / "secret.txt").write_text("secret")
    return folder


def run(root: Path, command: str, options: str | None = None, path: str | None = None,
        pattern: str | None = None, **kw: int) -> str:
    return run_target_command(root, command, options, path, pattern, **kw)


def test_exported_commands() -> None:
    assert CONFINED_COMMANDS == ("ls", "cat", "head", "tail", "grep", "pwd")


def test_pwd(root: Path) -> None:
    assert run(root, "pwd") == f"{root.resolve()}\n"


# ls


def test_ls_plain_and_hidden(root: Path) -> None:
    assert run(root, "ls").splitlines() == ["job/", "log.txt", "words.txt"]
    assert run(root, "ls", "-a").splitlines() == [".hidden", "job/", "log.txt", "words.txt"]
    assert run(root, "ls", path="job") == "models/\n"
    assert run(root, "ls", path="log.txt") == "log.txt\n"


@pytest.mark.parametrize("options", ["-la", "-al", "-l -a"])
def test_ls_long_with_all(root: Path, options: str) -> None:
    lines = run(root, "ls", options).splitlines()
    assert [line.split()[-1] for line in lines] == [".hidden", "job/", "log.txt", "words.txt"]
    mode, size, day, minute, _ = lines[1].split()
    assert mode.startswith("d") and size.isdigit()
    assert time.strptime(f"{day} {minute}", "%Y-%m-%d %H:%M")
    assert lines[2].split()[1] == str(len(LOG))


def test_ls_human_sizes(root: Path) -> None:
    long = run(root, "ls", "-lh", "job/models")
    assert long.startswith("-rw") and " 2.0K " in long and long.rstrip().endswith("m.npz")
    assert " 2048 " in run(root, "ls", "-l", "job/models")


def test_ls_sort_by_time_and_reverse(root: Path) -> None:
    now = time.time()
    for age, name in enumerate(["words.txt", "job", "log.txt"]):
        os.utime(root / name, (now - 100 * age, now - 100 * age))
    assert run(root, "ls", "-t").splitlines() == ["words.txt", "job/", "log.txt"]
    assert run(root, "ls", "-tr").splitlines() == ["log.txt", "job/", "words.txt"]
    assert run(root, "ls", "-r").splitlines() == ["words.txt", "log.txt", "job/"]


def test_ls_missing(root: Path) -> None:
    assert run(root, "ls", path="nope") == "ls: cannot access 'nope': No such file or directory\n"


# cat, head, tail


def test_cat(root: Path) -> None:
    assert run(root, "cat", path="log.txt") == LOG
    numbered = run(root, "cat", "-n", "log.txt").splitlines()
    assert numbered[0] == "     1\tline 1 ok" and numbered[-1] == "   100\tline 100 ERROR"


def test_cat_decodes_binary_with_replacement(root: Path) -> None:
    (root / "bin").write_bytes(b"ok\xff\xfe\n")
    assert run(root, "cat", path="bin") == "ok\ufffd\ufffd\n"


def test_head(root: Path) -> None:
    assert run(root, "head", path="log.txt") == "".join(LOG.splitlines(keepends=True)[:10])
    assert run(root, "head", "-n 2", "log.txt") == "line 1 ok\nline 2 ok\n"
    assert run(root, "head", "-n2", "log.txt") == "line 1 ok\nline 2 ok\n"
    assert run(root, "head", "-3", "log.txt").count("\n") == 3
    assert run(root, "head", "-c 6", "log.txt") == "line 1"
    assert run(root, "head", "-n 0", "log.txt") == ""
    assert run(root, "head", "-n 1000", "log.txt") == LOG


def test_tail(root: Path) -> None:
    expected = [f"line {i} {'ERROR' if i == 100 else 'ok'}" for i in range(96, 101)]
    assert run(root, "tail", "-n 5", "log.txt").splitlines() == expected
    assert run(root, "tail", "-n5", "log.txt").splitlines() == expected
    assert run(root, "tail", "-5", "log.txt").splitlines() == expected
    assert run(root, "tail", path="log.txt").splitlines()[0] == "line 91 ok"
    assert run(root, "tail", "-c 4", "log.txt") == "ROR\n"
    assert run(root, "tail", "-n 0", "log.txt") == ""
    assert run(root, "tail", "-n 1000", "log.txt") == LOG


def test_tail_without_final_newline_and_empty_file(root: Path) -> None:
    (root / "open.txt").write_text("a\nb\nc")
    assert run(root, "tail", "-n 2", "open.txt") == "b\nc"
    (root / "empty.txt").write_text("")
    assert run(root, "tail", path="empty.txt") == ""
    assert run(root, "head", path="empty.txt") == ""


def test_tail_of_a_large_file(root: Path) -> None:
    big = root / "big.log"
    block = b"".join(b"filler line %07d\n" % i for i in range(10_000))  # 200 KB
    with open(big, "wb") as out:
        for _ in range(250):  # ~50 MB
            out.write(block)
        out.write(b"second to last\nthe very last line\n")
    assert big.stat().st_size > 50_000_000
    assert run(root, "tail", "-n 2", "big.log") == "second to last\nthe very last line\n"
    assert run(root, "tail", "-c 8", "big.log") == "st line\n"
    # Asking for more lines than fit in the output gives the start of those lines, cut at the limit.
    out = run(root, "tail", "-n 100000", "big.log", max_output_bytes=100)
    assert out.startswith("filler line 0") and out.endswith("(output truncated at 100 bytes)\n")


def test_missing_file_and_directory_are_output(root: Path) -> None:
    for command in ("cat", "head", "tail"):
        assert run(root, command, path="nope.txt") == f"{command}: nope.txt: No such file or directory\n"
        assert run(root, command, path="job") == f"{command}: job: Is a directory\n"
    assert run(root, "grep", path="nope.txt", pattern="x") == "grep: nope.txt: No such file or directory\n"
    assert run(root, "grep", path="job", pattern="x") == "grep: job: Is a directory\n"


def test_a_file_named_as_a_folder_is_not_one(root: Path) -> None:
    """``x/`` names a folder, as coreutils reads it: a file there is not listed or read as itself
    (remote path completion asks ``ls folder/`` of what the user typed as a folder)."""
    (root / "notes.txt").write_text("a note\n")
    assert run(root, "ls", path="notes.txt/") == "ls: cannot access 'notes.txt/': Not a directory\n"
    assert run(root, "ls", path="notes.txt") == "notes.txt\n"
    for command in ("cat", "head", "tail"):
        assert run(root, command, path="notes.txt/") == f"{command}: notes.txt/: Not a directory\n"
    assert run(root, "grep", path="notes.txt/", pattern="a") == "grep: notes.txt/: Not a directory\n"
    assert run(root, "ls", path="job/") == run(root, "ls", path="job")  # a folder's '/' changes nothing


def test_fifo_is_not_read(root: Path) -> None:
    os.mkfifo(root / "pipe")
    assert run(root, "cat", path="pipe") == "cat: pipe: not a regular file\n"


# grep


def test_grep_plain_and_line_numbers(root: Path) -> None:
    assert run(root, "grep", path="log.txt", pattern="ERROR").count("\n") == 10
    assert run(root, "grep", "-n", "log.txt", "line 5 ") == "5:line 5 ok\n"
    assert run(root, "grep", path="log.txt", pattern="nothing here") == ""


def test_grep_options(root: Path) -> None:
    assert run(root, "grep", "-c", "log.txt", "error") == "0\n"
    assert run(root, "grep", "-i -c", "log.txt", "error") == "10\n"
    assert run(root, "grep", "-vc", "log.txt", "ok") == "10\n"
    assert run(root, "grep", "-w", "words.txt", "cat") == "cat\nthe cat sat\n"
    assert run(root, "grep", "-wi", "words.txt", "cat") == "cat\nthe cat sat\nCAT\n"
    assert run(root, "grep", "-vn", "words.txt", "cat") == "4:CAT\n5:a+b\n6:c.d\n"


def test_grep_regex_and_fixed_strings(root: Path) -> None:
    assert run(root, "grep", path="words.txt", pattern="^cat") == "cat\ncatalog\n"
    assert run(root, "grep", "-E", "words.txt", "a+b|sat$") == "the cat sat\n"
    assert run(root, "grep", "-F", "words.txt", "a+b") == "a+b\n"
    assert run(root, "grep", "-F", "words.txt", ".") == "c.d\n"
    assert run(root, "grep", "-F", "log.txt", "line 1.") == ""


def test_grep_takes_gnu_greps_basic_patterns_as_flares_grep_does(root: Path) -> None:
    """flare11 item 7: FLARE runs GNU grep, whose ( ) { } | + ? are characters in a basic pattern (ours raised
    "invalid pattern" for "("); \\( \\) \\{ \\} \\| \\+ \\? are its operators; -E is extended."""
    (root / "calls.txt").write_text("f(x)\na+b\naab\nx{2}\nxx\na|b\nab\n")
    assert run(root, "grep", "-n", "calls.txt", "(") == "1:f(x)\n"
    assert run(root, "grep", None, "calls.txt", "f(x)") == "f(x)\n"
    assert run(root, "grep", None, "calls.txt", "a+b") == "a+b\n"
    assert run(root, "grep", None, "calls.txt", "a\\+b") == "aab\nab\n"
    assert run(root, "grep", None, "calls.txt", "x{2}") == "x{2}\n"
    assert run(root, "grep", None, "calls.txt", "^x\\{2\\}") == "xx\n"
    assert run(root, "grep", None, "calls.txt", "a|b") == "a|b\n"
    assert run(root, "grep", None, "calls.txt", "^\\(aa\\|f\\)") == "f(x)\naab\n"
    assert run(root, "grep", "-E", "calls.txt", "^(aa|f)") == "f(x)\naab\n"


def test_grep_errors(root: Path) -> None:
    for pattern, gnu_says in (("\\(", "Unmatched ( or \\("), ("a[", "Unmatched [, [^, [:, [., or [="),
                              ("a\\", "Trailing backslash"), ("\\)", "Unmatched ) or \\)")):
        with pytest.raises(TargetCommandError) as refused:
            run(root, "grep", None, "log.txt", pattern)
        assert str(refused.value) == f"grep: invalid pattern: {gnu_says}"
    with pytest.raises(TargetCommandError, match="grep: invalid pattern"):
        run(root, "grep", "-E", "log.txt", "(")
    with pytest.raises(TargetCommandError, match="pattern is required"):
        run(root, "grep", None, "log.txt")


def test_grep_keeps_line_numbers_past_an_over_long_line(root: Path) -> None:
    with open(root / "long.txt", "wb") as out:
        out.write(b"x" * (3 << 20) + b"\n")
        out.write(b"needle\n")
    assert run(root, "grep", "-n", "long.txt", "needle") == "2:needle\n"


# truncation


def test_truncation(root: Path) -> None:
    out = run(root, "cat", path="log.txt", max_output_bytes=50)
    assert out.endswith("\n... (output truncated at 50 bytes)\n")
    assert out.startswith(LOG[:40])
    assert len(out.encode()) < 50 + 40
    assert run(root, "grep", path="log.txt", pattern="ok", max_output_bytes=30).endswith("truncated at 30 bytes)\n")
    assert run(root, "head", "-n 50", "log.txt", max_output_bytes=30).endswith("truncated at 30 bytes)\n")
    assert run(root, "ls", max_output_bytes=5).endswith("truncated at 5 bytes)\n")
    assert run(root, "cat", path="log.txt", max_output_bytes=len(LOG)) == LOG


def test_truncation_does_not_split_a_character(root: Path) -> None:
    (root / "u.txt").write_text("é" * 10)
    assert run(root, "cat", path="u.txt", max_output_bytes=5) == "éé\n... (output truncated at 5 bytes)\n"


# confinement


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "job/../../secret.txt", "a/../../x", "..", "job/.."])
def test_escapes_are_refused(root: Path, path: str) -> None:
    for command in ("cat", "ls"):
        with pytest.raises(TargetCommandError, match=f"^{command}: .*path outside the workspace is not allowed$"):
            run(root, command, path=path, pattern="x")


def test_symlink_pointing_outside_is_refused(root: Path) -> None:
    (root / "out-file").symlink_to(root.parent / "secret.txt")
    (root / "out-dir").symlink_to(root.parent)
    for path in ("out-file", "out-dir", "out-dir/secret.txt"):
        with pytest.raises(TargetCommandError, match="outside the workspace"):
            run(root, "cat", path=path)
    with pytest.raises(TargetCommandError, match="outside the workspace"):
        run(root, "ls", path="out-dir")
    with pytest.raises(TargetCommandError, match="outside the workspace"):
        run(root, "grep", path="out-file", pattern="secret")


def test_symlink_pointing_inside_is_allowed(root: Path) -> None:
    (root / "latest").symlink_to(root / "job")
    (root / "current.log").symlink_to("log.txt")
    assert run(root, "ls", path="latest") == "models/\n"
    assert run(root, "cat", path="current.log") == LOG


def test_symlink_loop_and_nul_byte_are_refused(root: Path) -> None:
    (root / "loop").symlink_to("loop")
    with pytest.raises(TargetCommandError, match="symbolic links"):
        run(root, "cat", path="loop")
    with pytest.raises(TargetCommandError, match="invalid path"):
        run(root, "cat", path="log\x00.txt")


def test_root_reached_through_a_symlink(tmp_path: Path, root: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert run(alias, "head", "-n 1", "log.txt") == "line 1 ok\n"


# bad requests


def test_unknown_command(root: Path) -> None:
    with pytest.raises(TargetCommandError, match="unknown command 'rm'"):
        run(root, "rm", path="log.txt")


@pytest.mark.parametrize(("command", "options", "named"), [
    ("ls", "-Z", "-Z"), ("cat", "-A", "-A"), ("head", "-q", "-q"), ("grep", "-P", "-P"),
    ("ls", "--recursive", "--recursive"), ("pwd", "-L", "-L"),
])
def test_unknown_option_names_it_and_the_supported_ones(root: Path, command: str, options: str, named: str) -> None:
    with pytest.raises(TargetCommandError, match=f"unknown option {named}; supported: ") as caught:
        run(root, command, options, "log.txt", "x")
    if command == "ls":
        assert "-l -a -h -t -r" in str(caught.value)


def test_option_checked_before_file(root: Path) -> None:
    with pytest.raises(TargetCommandError, match="unknown option"):
        run(root, "cat", "-Z", "nope.txt")


@pytest.mark.parametrize("options", ["-n", "-n x", "-c", "-n ²", "-n -5"])
def test_bad_numbers(root: Path, options: str) -> None:
    with pytest.raises(TargetCommandError, match="needs a number"):
        run(root, "head", options, "log.txt")


def test_other_bad_input(root: Path) -> None:
    with pytest.raises(TargetCommandError, match="a file is required"):
        run(root, "cat")
    with pytest.raises(TargetCommandError, match="cannot parse options"):
        run(root, "ls", '"-l')
    with pytest.raises(TargetCommandError, match="unexpected word"):
        run(root, "ls", "-l job")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_output(root: Path) -> None:
    locked = root / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        assert run(root, "cat", path="locked.txt") == "cat: locked.txt: Permission denied\n"
    finally:
        locked.chmod(0o644)


def test_grep_runs_apart_and_a_runaway_pattern_is_stopped(tmp_path: Path) -> None:
    import asyncio

    from console.runtime.target_runner import run_confined

    (tmp_path / "log.txt").write_text("ok line\n" + "a" * 40 + "!\n")
    assert asyncio.run(run_confined(tmp_path, "grep", "-n", "log.txt", "ok")) == "1:ok line\n"
    with pytest.raises(TargetCommandError, match="invalid pattern"):
        asyncio.run(run_confined(tmp_path, "grep", None, "log.txt", "\\("))
    started = time.monotonic()
    with pytest.raises(TargetCommandError, match="ran longer than 1 s and was stopped; simplify it"):
        asyncio.run(run_confined(tmp_path, "grep", None, "log.txt", "\\(a\\+\\)\\+$", grep_seconds=1.0))
    assert time.monotonic() - started < 5
    assert asyncio.run(run_confined(tmp_path, "cat", None, "log.txt", None)).startswith("ok line\n")


@pytest.mark.timeout(60)
def test_one_user_holds_one_grep_slot_and_another_user_still_greps(tmp_path: Path) -> None:
    """Security tester, session 10, item 7: a lead sent runaway patterns 4 at a time and held both of
    a participant's grep slots, so another admin's grep was refused half of the time. One user
    now holds one slot at most: its second search waits for its first (or is refused, saying so),
    while another user's grep is answered before the runaway ones end."""
    import asyncio

    from console.runtime.target_runner import run_confined

    (tmp_path / "log.txt").write_text("ok line\n" + "a" * 40 + "!\n")
    done: list[str] = []

    async def grep(user: str, pattern: str, seconds: float) -> str:
        try:
            await run_confined(tmp_path, "grep", None, "log.txt", pattern, grep_seconds=seconds, user=user)
            answer = "answered"
        except TargetCommandError as exc:
            answer = str(exc)
        done.append(user)
        return answer

    async def flood() -> list[str]:
        hog = [asyncio.create_task(grep("lead", "\\(a\\+\\)\\+$", 6.0)) for _ in range(4)]
        await asyncio.sleep(0.5)  # the hog's searches hold or wait for their slots
        other = await grep("admin", "ok", 6.0)
        assert done == ["admin"], done  # before any of the hog's: a slot was free for it
        return [other, *await asyncio.gather(*hog)]

    other, *hogs = asyncio.run(flood())
    assert other == "answered"
    assert sum("ran longer than 6 s" in h for h in hogs) >= 1
    assert all("ran longer than 6 s" in h or "too many searches running for lead (limit 1 per user" in h
               for h in hogs), hogs


@pytest.mark.timeout(60)
def test_a_grep_child_cannot_use_more_cpu_than_its_bound(tmp_path: Path) -> None:
    """The child's own RLIMIT_CPU ends a runaway search even if its host never kills it."""
    import json
    import signal
    import subprocess
    import sys

    (tmp_path / "log.txt").write_text("a" * 40 + "!\n")
    request = {"root": str(tmp_path), "command": "grep", "options": None, "path": "log.txt", "pattern": "\\(a\\+\\)\\+$",
               "protected": [], "cpu_seconds": 1}
    child = subprocess.run([sys.executable, "-m", "console.runtime.target_runner"], input=json.dumps(request),
                           capture_output=True, text=True, timeout=50)
    assert child.returncode == -signal.SIGXCPU, (child.returncode, child.stdout, child.stderr[-500:])


def test_links_never_lead_into_another_jobs_workspace(tmp_path: Path) -> None:
    """The host checks download_job on the job a path names; a link must not reach another job."""
    ours, theirs = "0c1a4f8e-1b2c-4d3e-8f90-0123456789ab", "9f8e7d6c-5b4a-4321-8fed-cba987654321"
    for job in (ours, theirs):
        (tmp_path / job).mkdir()
        (tmp_path / job / "result.txt").write_text(f"{job}\n")
    (tmp_path / ours / "peek").symlink_to(tmp_path / theirs / "result.txt")
    (tmp_path / ours / "mine").symlink_to(tmp_path / ours / "result.txt")
    (tmp_path / "alias").symlink_to(tmp_path / theirs)
    for command, path in [("cat", f"{ours}/peek"), ("ls", "alias"), ("cat", "alias/result.txt"),
                          ("grep", "alias/result.txt")]:
        with pytest.raises(TargetCommandError, match="link into another job's workspace") as refused:
            run_target_command(tmp_path, command, path=path, pattern="." if command == "grep" else None)
        assert theirs not in str(refused.value)  # that job may be one the user may not view
    assert run_target_command(tmp_path, "cat", path=f"{ours}/mine") == f"{ours}\n"
    assert run_target_command(tmp_path, "cat", path=f"./{theirs}/result.txt") == f"{theirs}\n"
    assert job_folder(f"./{ours}/x") == ours and job_folder("log.txt") is None and job_folder(None) is None
    assert job_folder(ours.upper()) == ours  # a case-insensitive file system reaches it that way too
