"""ls, cat, head, tail, grep, pwd on a participant's folder, and every way out of it refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.runtime.target_commands import TargetCommandError, run_target_command


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "site-1"
    (folder / "job" / "models").mkdir(parents=True)
    (folder / "log.txt").write_text("".join(f"line {i} {'ERROR' if i % 10 == 0 else 'ok'}\n" for i in range(1, 101)))
    (folder / ".hidden").write_text("h")
    (folder / "job" / "models" / "m.npz").write_bytes(b"x" * 2048)
    (tmp_path / "secret.txt").write_text("secret")
    return folder


def run(root: Path, command: str, options: str | None = None, path: str | None = None, pattern: str | None = None,
        **kw) -> str:
    return run_target_command(root, command, options, path, pattern, **kw)


def test_ls(root: Path) -> None:
    assert run(root, "ls").splitlines() == ["job/", "log.txt"]
    assert ".hidden" in run(root, "ls", "-a")
    long = run(root, "ls", "-lh", "job/models")
    assert long.startswith("-rw") and "2.0K" in long and long.rstrip().endswith("m.npz")
    assert run(root, "ls", "-r").splitlines() == ["log.txt", "job/"]
    assert "No such file" in run(root, "ls", path="nope")


def test_cat_head_tail(root: Path) -> None:
    assert run(root, "cat", path="log.txt").count("\n") == 100
    assert run(root, "cat", "-n", "log.txt").startswith("     1\tline 1 ok")
    assert run(root, "head", path="log.txt").splitlines()[-1] == "line 10 ERROR"
    assert run(root, "head", "-n 2", "log.txt") == "line 1 ok\nline 2 ok\n"
    assert run(root, "head", "-3", "log.txt").count("\n") == 3
    assert run(root, "tail", "-n5", "log.txt").splitlines() == [f"line {i} {'ERROR' if i == 100 else 'ok'}"
                                                                for i in range(96, 101)]
    assert run(root, "tail", "-c 4", "log.txt") == "ROR\n"
    assert run(root, "cat", path="nope.txt") == "cat: nope.txt: No such file or directory\n"
    assert run(root, "tail", path="job") == "tail: job: Is a directory\n"


def test_tail_of_a_large_file_reads_only_its_end(root: Path) -> None:
    big = root / "big.log"
    with open(big, "wb") as out:
        block = b"".join(b"filler line %07d\n" % i for i in range(10_000))
        for _ in range(100):  # ~20 MB
            out.write(block)
        out.write(b"the very last line\n")
    assert run(root, "tail", "-n 1", "big.log") == "the very last line\n"


def test_grep(root: Path) -> None:
    assert run(root, "grep", path="log.txt", pattern="ERROR").count("\n") == 10
    assert run(root, "grep", "-c", "log.txt", "error") == "0\n"
    assert run(root, "grep", "-ic", "log.txt", "error") == "10\n"
    assert run(root, "grep", "-n", "log.txt", "line 5 ").startswith("5:line 5 ok")
    assert run(root, "grep", "-vc", "log.txt", "ok") == "10\n"
    assert run(root, "grep", "-F", "log.txt", "line 1.") == ""
    with pytest.raises(TargetCommandError, match="invalid pattern"):
        run(root, "grep", None, "log.txt", "(")


def test_pwd_and_truncation(root: Path) -> None:
    assert run(root, "pwd") == f"{root.resolve()}\n"
    out = run(root, "cat", path="log.txt", max_output_bytes=50)
    assert out.endswith("(output truncated at 50 bytes)\n")


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "job/../../secret.txt", "escape", "escape/x"])
def test_escapes_are_refused(root: Path, path: str) -> None:
    (root / "escape").symlink_to(root.parent)
    with pytest.raises(TargetCommandError, match="outside the workspace"):
        run(root, "cat", path=path)


def test_links_inside_are_allowed_and_bad_input_refused(root: Path) -> None:
    (root / "latest").symlink_to(root / "job")
    assert run(root, "ls", path="latest") == "models/\n"
    with pytest.raises(TargetCommandError, match="unknown command"):
        run(root, "rm", path="log.txt")
    with pytest.raises(TargetCommandError, match="unknown option -Z"):
        run(root, "ls", "-Z")
    with pytest.raises(TargetCommandError, match="needs a number"):
        run(root, "head", "-n", "log.txt")
    with pytest.raises(TargetCommandError, match="a file is required"):
        run(root, "cat")
