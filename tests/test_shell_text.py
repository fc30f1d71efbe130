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
