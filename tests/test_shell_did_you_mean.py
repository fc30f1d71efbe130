"""Did-you-mean for every word the grammar knows: command names, and (the twelfth user's item 3) a choice, a
setting or its value, an option (by its flag or its name) and a theme: the close names only, by the one
rule (``parse.close_names``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shell_helpers import run_console

from console.commands import Engine
from console.shell.parse import UsageError, parse_command
from console.shell.themes import ThemeError, load_theme

from conftest import Served


def _refusal(line: str) -> str:
    with pytest.raises(UsageError) as refused:
        parse_command(line, Engine.OURS)
    return str(refused.value)


@pytest.mark.parametrize(("line", "meant"), [
    ("set themee dark", "theme"),  # a setting's name
    ("set format jsn", "json"),  # a setting's value
    ("show_stats 3f serer", "server"),  # a choice
    ("check_status clint", "client"),
    ("timing of", "off"),
    ("expanded onn", "on"),
    ("list_jobs --detai", "-d (detailed)"),  # an option by its parameter's name
    ("list_jobs --revers", "-r (reverse)"),
    ("list_jobs --limt 5", "-m (limit)"),
    ("monitor_job 3f --timeot 5", "--timeout"),  # a long option
    ("follow 3f --timout 5", "--timeout"),
    ("abort_job 3f --ys", "--yes"),
    ("list_jobs --submit-tokn x", "--submit-token"),
])
def test_a_mistyped_argument_word_gets_the_close_name(line: str, meant: str) -> None:
    said = _refusal(line)
    assert f"(did you mean {meant}?); usage: " in said, said


@pytest.mark.parametrize("line", ["set zzz", "show_stats 3f everything", "list_jobs --all", "list_jobs -x",
                                  "monitor_job 3f --quiet"])
def test_no_close_name_no_guess(line: str) -> None:
    """Only close names, as for commands: a word like none of them gets the list or the usage alone."""
    assert "did you mean" not in _refusal(line)


def test_a_mistyped_choice_read_as_the_argument_before_it_is_said_so() -> None:
    """'show_stats serer': the word was taken for the job ID, and the choice found missing."""
    assert _refusal("show_stats serer") == (
        "show_stats: TARGET_TYPE is missing; 'serer' was read as JOB_ID (did you mean server?); usage: show_stats "
        "JOB_ID server|client|all [TARGETS ...]")
    assert "'server' was read as JOB_ID: give the JOB_ID before it" in _refusal("show_errors server")
    assert _refusal("show_stats 3f").startswith("show_stats: TARGET_TYPE is missing; usage: ")


def test_a_theme_name_too() -> None:
    with pytest.raises(ThemeError, match=r"no theme named 'darkk' \(did you mean dark\?\); available: "):
        load_theme("darkk")


def test_the_batch_says_it_where_the_user_reads_it(served: Served, tmp_path: Path) -> None:
    """The refusal as a batch prints it (the interactive shell prints the same ``explain``)."""
    kit = str(served.project.admin_kit)
    result = run_console(tmp_path, "--kit", kit, "--continue-on-error", stdin="list_jobs --detai\nset themee dark\n")
    assert result.returncode == 1
    assert "unknown option --detai (did you mean -d (detailed)?)" in result.stderr, result.stderr
    assert "not 'themee' (did you mean theme?)" in result.stderr, result.stderr
