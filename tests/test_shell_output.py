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
    # A message wider than the screen: broken between words, the job ID whole on a line of its own (it fits
    # one; indented: a continued line), not cut by the terminal at the edge nor a pager's chopped line.
    job_id = screen.wait_for(r"(?m)^Submitted job:\n  ([0-9a-f-]{36})$").group(1)
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


def test_set_and_unset_timeout_say_what_is_in_force_in_json_and_in_a_table(server, project, tmp_path: Path) -> None:
    from shell_helpers import run_console

    commands = "set_timeout 30; unset_timeout"
    result = run_console(tmp_path, "--kit", str(project.admin_kit), "--format", "json", "-c", commands)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"command_timeout": 30.0, "message": "command timeout of this session: 30 s"},
        {"command_timeout": None, "message": "command timeout of this session: the server's default"}]
    result = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", commands)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["command timeout of this session: 30 s",
                                          "command timeout of this session: the server's default"], result.stdout


def test_delete_job_says_what_it_did_in_words(narrow, tmp_path: Path) -> None:
    child, screen = narrow
    child.send(f"submit_job {_long_named_job(tmp_path)}\r")
    job_id = screen.wait_for(r"(?m)^Submitted job:\n  ([0-9a-f-]{36})$").group(1)
    child.send(f"\x0cdelete_job {job_id[:8]} --yes\r")
    screen.wait_for(r"Deleted job")
    assert f"Deleted job {job_id}" in " ".join(screen.text.split()), screen.text
    assert "submit_records_marked_deleted" not in screen.text and "PAGED:" not in screen.text, screen.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("columns", [40, 60])
def test_tops_details_pane_shows_an_emoji_and_cjk_name_whole(server, project, tmp_path: Path, columns: int) -> None:
    terminal = _terminal(project, tmp_path, 30, columns)
    child, screen = next(terminal)
    try:
        child.send(f"submit_job {_long_named_job(tmp_path)}\r")
        screen.wait_for(r"Submitted job:")
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


def _message_rows(screen: Screen, message: str) -> list[str]:
    """The screen rows the last showing of ``message`` (the shell's own words, from a row's start) takes."""
    rows = [line.rstrip() for line in screen.screen.display]
    starts = [i for i, row in enumerate(rows) if row and message.startswith(row.split()[0] + " ")
              and _flat(message).startswith(_flat(row))]
    assert starts, f"{message!r} not on the screen:\n{screen.text}"
    start = starts[-1]
    taken: list[str] = []
    for row in rows[start:]:
        taken.append(row)
        if _flat("".join(taken)) == _flat(message):
            return taken
    raise AssertionError(f"{message!r} not whole on the screen:\n{screen.text}")


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _broken_between_words(screen: Screen, message: str, columns: int) -> None:
    """``message`` is on the screen with each word that fits a line whole on one, broken only at blanks."""
    from console.shell.cells import width

    rows = _message_rows(screen, message)
    words = message.split()
    for word in words:
        if width(word) <= columns:
            assert any(word in row for row in rows), (word, rows)
    if all(width(word) <= columns for word in words):
        assert " ".join(row.strip() for row in rows) == " ".join(words), rows
    assert all(row.startswith("  ") for row in rows[1:]), rows  # a continued line never starts at the margin


@pytest.mark.timeout(60)
@pytest.mark.parametrize("columns", [40, 30])
def test_the_shells_messages_break_between_words_on_a_narrow_terminal(served, tmp_path: Path, columns: int) -> None:
    """The last tester's item 3: at 40 columns errors, notes and hints broke mid-word (the terminal's wrap).
    Now a word that fits a line is never split (a path or job ID too), with CJK and emoji counted by cells;
    only a word longer than a line is cut. A bad theme's note at start is one of them."""
    themes = tmp_path / "config" / "flare-console" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('[styles]\nerror = "reddish"\n', encoding="utf-8")
    (tmp_path / "config" / "flare-console" / "config.toml").write_text('theme = "mine"\n', encoding="utf-8")
    child = pexpect.spawn(CONSOLE, ["--kit", str(served.project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1"),
                          encoding="utf-8", timeout=20, dimensions=(40, columns))
    screen = Screen(child, 40, columns)
    try:
        screen.wait_for(r"on\s*server>\s*\Z")
        _broken_between_words(screen, f"theme 'mine' ({themes / 'mine.toml'}): error = \"reddish\": 'reddish' is not a "
                              "colour (#rrggbb, #rgb or a name such as red or ansired); the dark theme's #ff5f5f is used "
                              "instead", columns)
        for line, said in (("theme 数据🎉数据", "no theme named '数据🎉数据'; available: dark, high-contrast, light, "
                                               "mine, monokai"),
                           ("list_jobs > /no-such-folder/结果-🎉.txt",
                            "cannot write /no-such-folder/结果-🎉.txt: No such file or directory"),
                           ("watch list_jobs > x", "watch redraws its command in place, so it cannot go to '> x': "
                                                   "run the command itself with >")):
            child.send("\x0c" + line + "\r")  # (Ctrl-L: a clean screen, the answer at its top)
            screen.wait_for(r"\s+".join(map(re.escape, said.split())) + r"\n(.*\n)*.*on\s*server>\s*\Z")
            _broken_between_words(screen, said, columns)
        # A question too, its [y/N] with the word before it and the cursor after it.
        child.send("\x0cshutdown all\r")
        question = "shutdown the server and every site: are you sure? [y/N]"
        screen.wait_for(r"\s+".join(map(re.escape, question.split())) + r"\s*\Z")
        _broken_between_words(screen, question, columns)
        assert screen.screen.cursor.y == screen.text.rstrip("\n").count("\n") and "sure? [y/N]" in screen.text
        child.send("n\r")
        screen.wait_for(r"shutdown cancelled\n(.*\n)*.*on\s*server>\s*\Z")
    finally:
        child.terminate(force=True)


@pytest.mark.timeout(60)
def test_a_bad_config_value_is_warned_about_and_the_console_starts_on_its_default(served, tmp_path: Path) -> None:
    """user10 #6: ``format = "yaml"`` kept the console from starting; an unknown key was ignored silently."""
    folder = tmp_path / "config" / "flare-console"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('format = "yaml"\nfromat = "json"\ntiming = true\n', encoding="utf-8")
    child = pexpect.spawn(CONSOLE, ["--kit", str(served.project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1"),
                          encoding="utf-8", timeout=20, dimensions=(30, 200))
    screen = Screen(child, 30, 200)
    try:
        screen.wait_for(r"on server>\s*\Z")
        where = folder / "config.toml"
        assert f"flare-console: warning: {where}: 'format' must be table, json or raw, not \"yaml\"; using \"table\"" \
            in screen.text, screen.text
        assert f"flare-console: warning: unknown setting 'fromat' in {where}; did you mean 'format'?" in screen.text
        child.send("check_status server\r")  # the default format (a record), and the good setting (timing) used
        screen.wait_for(r"status +OK\n(.*\n)*\(\d+\.\d ms\)\n.*on server>\s*\Z")
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
