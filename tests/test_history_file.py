"""The shell's history file kept to its newest entries (console.shell.history_file), read as prompt_toolkit reads it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.history import FileHistory

from console.shell.history_file import BoundedFileHistory


def _written(path: Path, commands: list[str]) -> None:
    writer = FileHistory(str(path))  # the format every earlier console wrote
    for command in commands:
        writer.store_string(command)


def test_the_newest_entries_are_recalled_and_the_file_is_cut_back_once_twice_too_long(tmp_path: Path) -> None:
    path = tmp_path / "history"
    commands = [f"list_jobs -m {i}" for i in range(250)] + ["submit_job 'my jobs/a'\n# not a comment\n+plus"]
    _written(path, commands)
    before = path.read_text()
    assert list(BoundedFileHistory(path, kept=200).load_history_strings()) == commands[::-1][:200]
    assert path.read_text() == before  # under twice the bound: the file is left as it is

    _written(path, [f"check_status server {i}" for i in range(200)])
    everything = list(FileHistory(str(path)).load_history_strings())
    recalled = list(BoundedFileHistory(path, kept=200).load_history_strings())
    assert recalled == everything[:200]
    # Cut back to the same newest 200, each with its time line, read the same by prompt_toolkit.
    assert list(FileHistory(str(path)).load_history_strings()) == everything[:200]
    assert path.read_text().count("\n# ") == 200
    assert not list(tmp_path.glob(".history.*"))  # no temporary file left

    # New entries go on being appended to the trimmed file.
    _written(path, ["bye"])
    assert list(BoundedFileHistory(path, kept=200).load_history_strings())[:2] == ["bye", everything[0]]


def test_no_file_or_an_unreadable_one_is_an_empty_history(tmp_path: Path) -> None:
    assert list(BoundedFileHistory(tmp_path / "absent").load_history_strings()) == []
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert list(BoundedFileHistory(folder).load_history_strings()) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30),
                min_size=0, max_size=12))
def test_any_commands_read_back_as_prompt_toolkit_reads_them(tmp_path_factory, commands: list[str]) -> None:
    path = tmp_path_factory.mktemp("h") / "history"
    _written(path, commands)
    expected = list(FileHistory(str(path)).load_history_strings())
    assert list(BoundedFileHistory(path, kept=5).load_history_strings()) == expected[:5]
    if len(expected) >= 10:  # trimmed: still read the same by prompt_toolkit
        assert list(FileHistory(str(path)).load_history_strings()) == expected[:5]
