"""The shell's text with characters beyond ASCII: settings written back to the config file,
tables and records aligned by terminal cells, and local paths completed and read back quoted."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.shell.config import load_config, toml_value


@pytest.mark.parametrize("value", ["ümlaut", "my🎨", r"C:\kits\admin", 'say "hi"', "tab\there", "\\u00fc", "\\1 \\g<0>"])
def test_a_setting_with_a_backslash_or_beyond_ascii_is_saved_and_read_back(tmp_path, value) -> None:
    path = tmp_path / "config.toml"
    config = load_config(path)
    config.remember("theme", value)
    config.remember("kit", value)
    config.remember("timing", True)
    again = load_config(path)
    assert (again.theme, again.kit, again.timing) == (value, value, True)
    assert path.read_text(encoding="utf-8").count("theme =") == 1  # replaced, comments kept
    assert "# Colour theme" in path.read_text(encoding="utf-8")


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_string_is_written_as_a_toml_string_that_reads_back_the_same(value: str) -> None:
    assert tomllib.loads(f"key = {toml_value(value)}\nafter = 1\n") == {"key": value, "after": 1}


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=20), st.booleans())
def test_the_config_file_stays_valid_toml_whatever_is_remembered(tmp_path_factory, value: str, timing: bool) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    config = load_config(path)
    config.remember("pager", value)
    config.remember("timing", timing)
    config.remember("pager", value + "x")  # a second write replaces the first
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["pager"] == value + "x" and data["timing"] is timing and data["theme"] == "dark"


# -- tables and records by terminal cells -----------------------------------------------------------

WIDE_NAMES = ["slow-🚀-ünïcode-日本語", "e\u0301cole-cafe\u0301", "family-👨\u200d👩\u200d👧", "日本", "plain"]


def _screen(text: str, columns: int = 160) -> list[list[str]]:
    """What a terminal (pyte) shows for ``text``: each row's cells (a wide character's second cell is '')."""
    import pyte

    screen = pyte.Screen(columns, text.count("\n") + 2)
    pyte.Stream(screen).feed(text.replace("\n", "\r\n"))
    return [[screen.buffer[y][x].data for x in range(columns)] for y in range(screen.lines)]


def _column_of(row: list[str], word: str) -> int | None:
    """The cell where ``word`` (ASCII) starts on a screen row."""
    for x in range(len(row) - len(word) + 1):
        if "".join(row[x:x + len(word)]) == word and (x == 0 or row[x - 1] == " "):
            return x
    return None


def test_a_table_is_aligned_by_cells_with_emoji_cjk_combining_marks_and_joiners() -> None:
    from console.shell.output import Format, render

    rows = [{"job_id": f"{i}" * 8, "job_name": name, "status": "RUNNING", "submit_time": 1.7e9 + i}
            for i, name in enumerate(WIDE_NAMES, 1)]
    shown = _screen(render(rows, Format.TABLE, width=200))
    starts = {_column_of(shown[0], "status"), *(_column_of(row, "RUNNING") for row in shown[2:2 + len(rows)])}
    assert len(starts) == 1 and None not in starts, "\n".join("".join(r).rstrip() for r in shown)
    # the rule under the head is as wide as the widest name's cells
    assert shown[1][starts.pop() - 3] == "-"


def test_records_and_expanded_rows_align_their_values_by_cells() -> None:
    from console.shell.human import expanded, record

    meta = {"job_id": "1" * 36, "名前": "x", "job_name": WIDE_NAMES[0], "e\u0301tat": "RUNNING"}
    shown = _screen(record(meta))
    assert len({_column_of(row, word) for row, word in zip(shown, ["111", "x", "slow", "RUNNING"], strict=False)}) == 1
    shown = _screen(expanded([meta]))
    assert len({row.index("|") for row in shown[1:5]}) == 1


def test_expanded_auto_measures_the_table_in_cells() -> None:
    from console.shell.human import human

    rows = [{"job_name": "日本語" * 10, "status": "RUNNING"}]  # 39 characters a line, 69 cells
    assert human(rows, width=60).startswith("-[ RECORD 1 ]")
    assert human(rows, width=70).startswith("job_name")
