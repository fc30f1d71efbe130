"""The shell's text with characters beyond ASCII: settings written back to the config file,
tables and records aligned by terminal cells, and local paths completed and read back quoted."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pyte
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from test_shell_inprocess import _run_shell, _until

from console.shell import words
from console.shell.completion import CompletionData, ShellCompleter
from console.shell.config import load_config, toml_value
from console.shell.human import expanded, human, record
from console.shell.lexer import ERROR, STRING, highlight
from console.shell.output import Format, render
from console.shell.parse import parse_command, split_commands, split_sink
from console.shell.themes import ThemeError, load_theme, load_theme_file

from jobs import waiting_for_sites


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


def test_a_comment_at_a_settings_line_end_is_kept_when_the_setting_is_rewritten(tmp_path) -> None:
    """The tester's case: ``theme = "light"   # my own comment``, then ``theme dark``; and its
    neighbours: an indented or quoted key, a '#' inside the value, a key after a table, a false."""
    path = tmp_path / "config.toml"
    path.write_text('theme = "light"   # my own comment\n'
                    '  pager = "less # not a comment"\t# why less\n'
                    '"timing" = true # on for now\n'
                    "kit = 'x'#tight\n"
                    "[extra]\nformat = 1\n", encoding="utf-8")
    config = load_config(path)
    for key, value in (("theme", "dark"), ("pager", "more"), ("timing", False), ("kit", "/k"), ("format", "json")):
        config.remember(key, value)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[:5] == ['theme = "dark"   # my own comment', '  pager = "more"\t# why less',
                                     '"timing" = false # on for now', 'kit = "/k"#tight', 'format = "json"']
    data = tomllib.loads(text)
    assert (data["theme"], data["pager"], data["timing"], data["kit"], data["format"]) == ("dark", "more", False,
                                                                                          "/k", "json")
    assert data["extra"] == {"format": 1}  # the table's own key untouched, the new one not inside it


_COMMENT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=60, deadline=None)
@given(old=st.text(max_size=15), new=st.text(max_size=15), comment=_COMMENT,
       blanks=st.text(" \t", min_size=0, max_size=3))
@example(old="\x85", new="a\u2028b", comment=" x\u2028y", blanks=" ")  # line ends to str.splitlines, not TOML
def test_any_value_rewritten_keeps_any_trailing_comment(tmp_path_factory, old: str, new: str, comment: str,
                                                        blanks: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    config = load_config(path)
    config.remember("theme", old)
    lines = path.read_text(encoding="utf-8").split("\n")  # TOML's line ends, not str.splitlines' many
    at = next(i for i, line in enumerate(lines) if line.startswith("theme ="))
    lines[at] += f"{blanks}#{comment}"
    path.write_text("\n".join(lines), encoding="utf-8")
    config.remember("theme", new)
    config.remember("kit", new)
    text = path.read_text(encoding="utf-8")
    assert tomllib.loads(text)["theme"] == new and tomllib.loads(text)["kit"] == new
    assert text.split("\n")[at] == f"theme = {toml_value(new)}{blanks}#{comment}"



def test_a_user_theme_named_beyond_ascii_loads_and_is_remembered(tmp_path, monkeypatch) -> None:
    """The tester's case: ``theme ümlaut`` with ~/.config/flare-console/themes/ümlaut.toml."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    themes = tmp_path / "flare-console" / "themes"
    themes.mkdir(parents=True)
    shipped = Path(__file__).resolve().parent.parent / "themes" / "light.toml"
    for name in ("ümlaut", "my🎨"):
        (themes / f"{name}.toml").write_text("# Ä theme\n" + shipped.read_text(encoding="utf-8"), encoding="utf-8")
        assert load_theme(name).to_style() is not None
        config = load_config()
        config.remember("theme", name)
        assert load_config().theme == name
    (themes / "latin1.toml").write_bytes(b"# \xc4\n[styles]\n")
    with pytest.raises(ThemeError, match="latin1.toml cannot be read"):
        load_theme("latin1")


def test_a_broken_user_theme_is_listed_with_its_error_and_the_one_in_use_is_marked(served, tmp_path, monkeypatch,
                                                                                     capfd) -> None:
    """The tester's case: the config names ``mine``, whose file cannot be used (a style that is no string;
    a bad colour is replaced instead, as below): start-up says the default is used, and ``theme`` marks dark
    (not mine) and shows mine's error; ``set`` says dark."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    themes = tmp_path / "cfg" / "flare-console" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('[styles]\nprompt = 42\n', encoding="utf-8")
    (tmp_path / "config.toml").write_text('theme = "mine"\n', encoding="utf-8")

    async def script(shell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        for line in ("theme", "set", "theme mine", "theme nosuch", "theme light", "theme"):
            pipe.send_text(line + "\r")
        await _until(lambda: shell.state.theme == "light", "theme light")
        await _until(lambda: len(shell.prompt.history.get_strings()) >= 6 and shell.prompt.app.is_running,
                     "the last theme")
        pipe.send_text("\x04")

    code, output, _ = _run_shell(served.project, tmp_path, script)
    captured = capfd.readouterr()
    said = captured.out + captured.err + output
    assert code == 0, said
    # Messages are wrapped to the screen's width (80 here): compared without the blanks they were broken at.
    assert flat("mine.toml: [styles] must map style classes to style strings; using the default theme") in flat(said)
    listings = output  # the two listings, with the other answers and the prompts
    first, last = listings[:listings.index("* light")], listings[listings.index("* light"):]
    assert "* dark" in first and "* mine" not in said
    assert "  mine  (cannot be used: theme file" in first
    assert flat("must map style classes to style strings)") in flat(first)
    assert re.search(r"theme +dark +set theme NAME", output), output  # `set` names the theme in use
    assert "  mine  (cannot be used: " in last
    offered = re.search(r"no theme named 'nosuch'; available: ([^(]*)\(and mine, which cannot be used: see theme\)",
                        " ".join(said.split()))
    assert offered and "dark" in offered[1] and "mine" not in offered[1], said
    assert tomllib.loads((tmp_path / "config.toml").read_text(encoding="utf-8"))["theme"] == "light"


def flat(text: str) -> str:
    """``text`` without blanks and line ends: as it reads whatever the width it was wrapped to."""
    return re.sub(r"\s+", "", text)


def test_a_theme_with_bad_colours_names_each_with_what_replaces_it(served, tmp_path, monkeypatch) -> None:
    """The last tester's item 4: a bad colour was dropped unsaid (prompt_toolkit takes ``#zzzzzz`` and draws
    nothing) or refused the whole theme without naming the key. Now each is named, with the theme, its key and
    value and what is used instead, at start and on ``theme NAME``; the rest of the theme is used."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    themes = tmp_path / "cfg" / "flare-console" / "themes"
    themes.mkdir(parents=True)
    path = themes / "mine.toml"
    path.write_text('[styles]\nerror = "bold reddish"\nprompt = "#zzzzzz bg:#12"\n"prompt.host" = "#00ff00"\n'
                    '"my.own" = "#ff000g"\n', encoding="utf-8")
    (tmp_path / "config.toml").write_text('theme = "mine"\n', encoding="utf-8")
    styles = {}

    async def script(shell, pipe) -> None:
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        styles["start"] = shell.theme.style
        for line in ("theme", "theme light", "theme mine"):
            pipe.send_text(line + "\r")
        await _until(lambda: len(shell.prompt.history.get_strings()) >= 3 and shell.prompt.app.is_running,
                     "the last theme")
        pipe.send_text("\x04")

    code, output, _ = _run_shell(served.project, tmp_path, script)
    assert code == 0, output
    where = f"theme 'mine' ({path}):"
    forms = "is not a colour (#rrggbb, #rgb or a name such as red or ansired);"
    said = [f'{where} error = "bold reddish": \'reddish\' {forms} the dark theme\'s #ff5f5f is used instead',
            f'{where} prompt = "#zzzzzz bg:#12": \'#zzzzzz\' {forms} the dark theme\'s #5fafff is used instead',
            f"{where} prompt = \"#zzzzzz bg:#12\": 'bg:#12' {forms} it is left out (the terminal's own colour shows)",
            f"{where} my.own = \"#ff000g\": '#ff000g' {forms} it is left out (the terminal's own colour shows)"]
    at_start, rest = output.split("theme: light", 1)
    for line in said:
        assert flat(line) in flat(at_start) and flat(line) in flat(rest), (line, output)
    assert flat("* mine  (bad colours replaced: error, prompt, my.own; 'theme mine' says with what)") in flat(at_start)
    assert "theme: light\nadmin@example.com on server>" in output.replace("\r\n", "\n")  # good: nothing to say
    attrs = styles["start"].get_attrs_for_style_str
    assert (attrs("class:error").color, attrs("class:error").bold) == ("ff5f5f", True)
    assert (attrs("class:prompt").color, attrs("class:prompt.host").color) == ("5fafff", "00ff00")
    for shipped in sorted((Path(__file__).resolve().parent.parent / "themes").glob("*.toml")):
        theme = load_theme_file(shipped)  # the shipped themes stay exactly as written
        assert theme.bad_colours == () and theme.styles == tomllib.loads(shipped.read_text())["styles"], shipped


@pytest.mark.parametrize(("value", "bad", "fixed"), [
    ("bold #5fafff bg:#262626 underline", [], "bold #5fafff bg:#262626 underline"),  # good: as written
    ("#FFF fg:ansibrightred bg:default noinherit [transparent] border:#000", [], None),
    ("bg:ansiblue DarkRed nobold", [], None),  # names as prompt_toolkit takes them (any case)
    ("#zzzzzz", ["#zzzzzz"], "#ff5f5f"),  # accepted by prompt_toolkit, drawn as nothing
    ("bold #ff000g", ["#ff000g"], "bold #ff5f5f"),
    ("#12345 bg:#12", ["#12345", "bg:#12"], "#ff5f5f"),  # the default's error has no background: left out
    ("italic reddish", ["reddish"], "italic #ff5f5f"),
    ("Bold", ["Bold"], "#ff5f5f"),  # a style word is lower case
])
def test_each_colour_of_a_style_is_checked_and_a_bad_one_replaced(value: str, bad: list[str], fixed: str | None) -> None:
    from console.shell.theme_colours import checked

    styles, found = checked({"error": value}, {"error": "#ff5f5f"})
    assert [b.bad for b in found] == bad
    assert styles["error"] == (fixed or value)
    assert all(b.key == "error" and b.value == value for b in found)


def test_a_broken_own_default_theme_falls_back_to_the_shipped_one_and_is_listed_broken(tmp_path, monkeypatch) -> None:
    """Neighbours: the default's fallback is the shipped file when the user's own ``dark.toml`` is broken
    too; ``theme`` then marks nothing as in use that cannot be used."""
    from console.shell.themes import DEFAULT_THEME, fallback_style, theme_listing

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    themes = tmp_path / "flare-console" / "themes"
    themes.mkdir(parents=True)
    (themes / "dark.toml").write_text("[styles\n", encoding="utf-8")
    shipped = load_theme_file_style(Path(__file__).resolve().parent.parent / "themes" / "dark.toml")
    assert fallback_style().style_rules == shipped.style_rules
    listing = theme_listing(["dark", "light"], DEFAULT_THEME).splitlines()
    assert listing[0].startswith("  dark  (cannot be used: theme file ") and listing[1] == "  light"


def load_theme_file_style(path: Path):
    from console.shell.themes import load_theme_file

    return load_theme_file(path).to_style()


# -- tables and records by terminal cells -----------------------------------------------------------

WIDE_NAMES = ["slow-🚀-ünïcode-日本語", "e\u0301cole-cafe\u0301", "family-👨\u200d👩\u200d👧", "日本", "plain"]


def _screen(text: str, columns: int = 160) -> list[list[str]]:
    """What a terminal (pyte) shows for ``text``: each row's cells (a wide character's second cell is '')."""
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
    rows = [{"job_id": f"{i}" * 8, "job_name": name, "status": "RUNNING", "submit_time": 1.7e9 + i}
            for i, name in enumerate(WIDE_NAMES, 1)]
    shown = _screen(render(rows, Format.TABLE, width=200))
    starts = {_column_of(shown[0], "status"), *(_column_of(row, "RUNNING") for row in shown[2:2 + len(rows)])}
    assert len(starts) == 1 and None not in starts, "\n".join("".join(r).rstrip() for r in shown)
    # the rule under the head is as wide as the widest name's cells
    assert shown[1][starts.pop() - 3] == "-"


def test_records_and_expanded_rows_align_their_values_by_cells() -> None:
    meta = {"job_id": "1" * 36, "名前": "x", "job_name": WIDE_NAMES[0], "e\u0301tat": "RUNNING"}
    shown = _screen(record(meta))
    assert len({_column_of(row, word) for row, word in zip(shown, ["111", "x", "slow", "RUNNING"], strict=False)}) == 1
    shown = _screen(expanded([meta]))
    assert len({row.index("|") for row in shown[1:5]}) == 1


def test_expanded_auto_measures_the_table_in_cells() -> None:
    rows = [{"job_name": "日本語" * 10, "status": "RUNNING"}]  # 39 characters a line, 69 cells
    assert human(rows, width=60).startswith("-[ RECORD 1 ]")
    assert human(rows, width=70).startswith("job_name")


# -- local paths: completed quoted, read back the same ----------------------------------------------

#: Folder names with what a line reads specially: blanks, quotes, a backslash, a comment, ';', '|', '>'.
ODD_NAMES = ["bu7 dir", "it's", 'q"x', "back\\slash", "a#b", "x;y|z>w", "日本 🚀"]


@pytest.mark.parametrize("typed_style", ["", '"', "'"])
def test_a_completed_folder_reads_back_as_that_folder(tmp_path, typed_style) -> None:
    completer = ShellCompleter(CompletionData)
    for name in ODD_NAMES:
        (tmp_path / name / "inner dir").mkdir(parents=True)
        typed = words.quote(f"{tmp_path}/{name[:2]}", typed_style)  # typed as the style writes it,
        line = f"submit_job {typed[:-1] if typed_style else typed}"  # the quote still open
        found = [c for c in completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
                 if c.display_text == f"{name}/"]
        assert len(found) == 1, (name, line)
        completed = line[:len(line) + found[0].start_position] + found[0].text
        (command,) = split_commands(completed + " ; ")  # a ';' in the name does not end the command
        assert split_sink(command)[1] is None  # nor does a '|' or '>' send the output anywhere
        assert parse_command(command).values["job_folder"] == f"{tmp_path}/{name}/"
        # and the next Tab goes inside it
        inner = [c.text for c in completer.get_completions(Document(completed), CompleteEvent(completion_requested=True))]
        assert len(inner) == 1
        assert parse_command(completed[:len(completed) - len(found[0].text)] + inner[0]).values["job_folder"] == (
            f"{tmp_path}/{name}/inner dir/")


def test_completion_after_an_escaped_or_quoted_partial_path(tmp_path) -> None:
    (tmp_path / "bu7 dir").mkdir()
    completer = ShellCompleter(CompletionData)

    def offered(line: str) -> list[tuple[str, int]]:
        return [(c.text, c.start_position)
                for c in completer.get_completions(Document(line), CompleteEvent(completion_requested=True))]

    for typed in (f"{tmp_path}/bu7\\ d", f"{tmp_path}/bu7\\", f'"{tmp_path}/bu7 d', f"'{tmp_path}/bu", f"{tmp_path}/b'u7 d'"):
        (text, start), = offered(f"download_job 9f {typed}")
        assert start == -len(typed) and text.rstrip("\"'").endswith("bu7\\ dir/" if text[0] == "/" else "bu7 dir/"), typed
    # what was typed stays a prefix, so Tab inserts it at once (prompt_toolkit's common part)
    assert offered(f"submit_job {tmp_path}/bu7\\ d")[0][0].startswith(f"{tmp_path}/bu7\\ d")
    assert offered(f'submit_job "{tmp_path}/bu7 d')[0][0] == f'"{tmp_path}/bu7 dir/"'


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\r\n")), st.sampled_from(["", '"', "'"]))
def test_a_quoted_word_reads_back_as_itself(value: str, style: str) -> None:
    written = words.quote(value, style)
    assert written is not None
    assert words.split(f"cmd {written} next") == ["cmd", value, "next"]


@settings(deadline=None)
@given(st.text(alphabet=" \t\\'\"ab#;|>"))
def test_lines_split_as_shlex_splits_them_where_no_comment_is_involved(line: str) -> None:
    if "#" in line:
        return
    try:
        expected = shlex.split(line)
    except ValueError:
        with pytest.raises(ValueError):
            words.split(line)
        return
    assert words.split(line) == expected


def test_a_hash_inside_a_word_is_part_of_it_and_starts_a_comment_only_at_a_word_start() -> None:
    assert parse_command("submit_job /tmp/a#b  # the job").values["job_folder"] == "/tmp/a#b"
    assert parse_command("submit_job /tmp/\\#b").values["job_folder"] == "/tmp/#b"


@pytest.mark.timeout(60)
def test_tab_then_enter_submits_the_folder_with_a_space_and_a_quote_in_its_path(server, session, project, tmp_path,
                                                                                 monkeypatch) -> None:
    """The tester's case: Tab completed 'bu7 dir/' unquoted and Enter said 'unexpected argument'."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    waiting_for_sites(tmp_path / "bu7 dir" / "it's #1", name="odd-path")  # a job folder's own name is checked

    async def script(shell, pipe) -> None:
        buffer = shell.prompt.default_buffer
        await _until(lambda: shell.prompt.app.is_running, "the prompt")
        pipe.send_text(f"submit_job {tmp_path}/bu7\\ d")
        await _until(lambda: buffer.text.endswith("\\ d"), "typing")
        pipe.send_text("\t")
        await _until(lambda: buffer.text.endswith("bu7\\ dir/"), "the first Tab")
        pipe.send_text("it\t")
        await _until(lambda: buffer.text.endswith("/it\\'s\\ \\#1/"), "the second Tab")
        pipe.send_text("\t")
        await _until(lambda: buffer.text.endswith("/odd-path-3x0.3/"), "the third Tab")
        pipe.send_text("\r")
        await _until(lambda: "Submitted job" in shell.prompt.app.output.stdout.getvalue(), "the job submitted")
        pipe.send_text("bye\r")

    code, output, history = _run_shell(project, tmp_path, script)
    assert code == 0, output
    assert history[0] == f"submit_job {tmp_path}/bu7\\ dir/it\\'s\\ \\#1/odd-path-3x0.3/"
    assert [job["job_name"] for job in session.list_jobs()] == ["odd-path"]


def test_job_names_and_themes_with_blanks_complete_quoted_too() -> None:
    jobs = CompletionData.from_rows([{"job_id": "9f000000-0000-4000-8000-000000000001", "job_name": "my job; #2"}])
    completer = ShellCompleter(lambda: jobs, lambda: ["my theme", "dark"])

    def offered(line: str) -> list[str]:
        return [line[:len(line) + c.start_position] + c.text
                for c in completer.get_completions(Document(line), CompleteEvent(completion_requested=True))]

    (line,) = offered("list_jobs -n my")
    assert line == "list_jobs -n my\\ job\\;\\ \\#2" and parse_command(line).values["name_prefix"] == "my job; #2"
    (line,) = offered("theme 'my")
    assert line == "theme 'my theme'" and parse_command(line).values["name"] == "my theme"


def test_an_escaped_blank_is_highlighted_as_part_of_its_word() -> None:
    shown = [(style, text) for style, text in highlight("submit_job /tmp/bu7\\ dir/ extra") if text.strip()]
    assert shown[1:] == [(STRING, "/tmp/bu7\\ dir/"), (ERROR, "extra")]
