"""What the shell prints for people, on a real terminal (pty + pyte): long lines wrap, never cut."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, console_env

from jobs import numpy_job

LONG_NAME = "héllo-🚀-数据-a-very-long-name-for-testing-column-widths"


def _long_named_job(root: Path) -> Path:
    folder = numpy_job(root, name="long-named")
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["name"] = LONG_NAME
    meta_path.write_text(json.dumps(meta))
    return folder


@pytest.fixture
def narrow(server, project, tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    """A 20x40 terminal whose pager marks each line it shows, so paging is seen on the screen."""
    yield from _terminal(project, tmp_path, 20, 40)


def _terminal(project, tmp_path: Path, rows: int, columns: int) -> Iterator[tuple[pexpect.spawn, Screen]]:
    (tmp_path / "tmp").mkdir()
    child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)],
                          env=console_env(tmp_path, NO_COLOR="1", TMPDIR=str(tmp_path / "tmp"),
                                          PAGER="sed s/^/PAGED:/"),
                          encoding="utf-8", timeout=20, dimensions=(rows, columns))
    try:
        screen = Screen(child, rows, columns)
        screen.wait_for(r"on\s*server>\s*\Z")
        yield child, screen
    finally:
        if child.isalive():
            child.terminate(force=True)


def _unwrapped(screen: Screen) -> str:
    """The screen's rows joined as the lines the terminal wrapped (a full row goes on)."""
    return "".join(row if len(row) >= screen.screen.columns else row + "\n" for row in
                   (line.rstrip() for line in screen.screen.display))


def _value(text: str, key: str) -> str:
    """An expanded record's value: its first row and the rows under it after their ``|``."""
    found = re.search(rf"(?m)^{key} +\| (.*)\n((?: +\| .*\n)*)", text)
    assert found, text
    return found.group(1) + "".join(re.findall(r"\| (.*)", found.group(2)))


@pytest.mark.timeout(120)
def test_long_answers_wrap_on_a_narrow_terminal_and_only_wide_tables_are_paged(narrow, tmp_path: Path) -> None:
    child, screen = narrow
    child.send(f"submit_job {_long_named_job(tmp_path)}\r")
    # One line wider than the screen: printed and wrapped by the terminal, not a pager's chopped line.
    screen.wait_for(r"Submitted job: ([0-9a-f-]{8})")
    job_id = re.search(r"Submitted job: ([0-9a-f-]{36})", _unwrapped(screen)).group(1)
    assert "PAGED:" not in screen.text, screen.text

    child.send("\x0cset expanded on\r")
    screen.wait_for(r"expanded")
    child.send(f"\x0clist_jobs {job_id[:8]}\r")
    # An expanded record wraps its value under itself: the whole ID on the screen, in pieces.
    screen.wait_for(r"(?m)^study +\| ")
    assert _value(screen.text, "job_id") == job_id, screen.text
    assert _value(screen.text, "job_name") == LONG_NAME, screen.text
    assert "PAGED:" not in screen.text, screen.text

    # A table wider than the screen (expanded off) does go through the pager, chopped there.
    child.send("\x0cset expanded off\r")
    screen.wait_for(r"expanded")
    child.send(f"\x0clist_jobs {job_id[:8]}\r")
    screen.wait_for(r"PAGED:")


def test_json_into_a_pipe_is_one_utf8_document_per_command(server, project, tmp_path: Path) -> None:
    from shell_helpers import run_console

    folder = _long_named_job(tmp_path)
    result = run_console(tmp_path, "--kit", str(project.admin_kit), "--format", "json",
                         "-c", f"submit_job {folder}; list_jobs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    documents = [json.loads(line) for line in lines]  # JSON Lines: each command's answer on one line
    assert len(documents) == 2, result.stdout
    job_id = documents[0]["job_id"]
    assert [row["job_name"] for row in documents[1] if row["job_id"] == job_id] == [LONG_NAME]
    assert LONG_NAME in result.stdout and "\\u00e9" not in result.stdout  # UTF-8, as pgcli prints it


def test_delete_job_says_what_it_did_in_words(narrow, tmp_path: Path) -> None:
    child, screen = narrow
    child.send(f"submit_job {_long_named_job(tmp_path)}\r")
    screen.wait_for(r"Submitted job: ")
    job_id = re.search(r"Submitted job: ([0-9a-f-]{36})", _unwrapped(screen)).group(1)
    child.send(f"\x0cdelete_job {job_id[:8]} --yes\r")
    screen.wait_for(r"Deleted job ")
    assert f"Deleted job {job_id}" in _unwrapped(screen), screen.text
    assert "submit_records_marked_deleted" not in screen.text and "PAGED:" not in screen.text, screen.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("columns", [40, 60])
def test_tops_details_pane_shows_an_emoji_and_cjk_name_whole(server, project, tmp_path: Path, columns: int) -> None:
    terminal = _terminal(project, tmp_path, 30, columns)
    child, screen = next(terminal)
    try:
        child.send(f"submit_job {_long_named_job(tmp_path)}\r")
        screen.wait_for(r"Submitted job: ")
        child.send("top\r")
        screen.wait_for(r"Jobs \(")
        child.send("\r")
        screen.wait_for(r"(?m)^  submitter ")
        rows = screen.text.splitlines()
        at = next(i for i, row in enumerate(rows) if row.startswith("  name "))
        name = rows[at].removeprefix("  name").strip()
        for row in rows[at + 1:]:
            if not row.startswith("   "):
                break
            name += row.strip()
        assert name == LONG_NAME, screen.text  # nothing lost where a line was wrapped
        child.send("q")
        screen.wait_for(r"on\s*server>\s*\Z")
    finally:
        terminal.close()
