"""What the shell prints for people, as pure rendering: wrapping in cells, the pager's rule."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from console.shell.cells import rows, width, wrap
from console.shell.human import Expanded, has_table, human
from console.shell.output import DEFAULT_PAGER, Format, needs_pager, pager_command

NAME = "héllo-🚀-数据-a-very-long-name-for-testing-column-widths"
JOB_ID = "531c7543-12cb-454c-8d81-c0a1b2c3d4e5"
TEXT = st.text(st.sampled_from("ab -é数🚀\u0301"), max_size=80)


@given(TEXT, st.integers(2, 50))
def test_wrap_keeps_every_character_and_fits_each_line_in_cells(text: str, cells: int) -> None:
    lines = wrap(text, cells)
    assert all(width(line) <= cells for line in lines), lines
    # Nothing lost: only the blanks a line was broken at go.
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("cells", range(2, 60))
def test_a_wide_character_is_never_split_nor_a_character_dropped_at_any_width(cells: int) -> None:
    lines = wrap(NAME, cells)
    assert "".join(lines) == NAME and all(width(line) <= cells for line in lines)


def test_rows_counts_as_a_terminal_wraps() -> None:
    assert rows("", 40) == 1 and rows("a" * 40, 40) == 1 and rows("a" * 41, 40) == 2
    assert rows("a" * 39 + "数", 40) == 2  # the wide character does not fit in the last cell: next row
    assert rows("数" * 20, 40) == 1


def test_one_long_line_is_no_reason_for_the_pager_only_height_is(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("LINES", "20")
    assert not needs_pager(f"Submitted job: {JOB_ID}")
    assert not needs_pager("x" * 300)  # 8 rows
    assert needs_pager("x" * 40 * 19)  # one line, 19 rows wrapped: taller than the screen
    assert needs_pager("\n".join(["数" * 25] * 10))  # 10 lines, 20 rows
    assert not needs_pager("\n".join(["数" * 10] * 10))
    table = human([{"job_id": JOB_ID, "name": NAME}], 40, Expanded.OFF)
    assert needs_pager(table, Format.TABLE, wide_table=True)
    assert not needs_pager(table, Format.JSON, wide_table=True)


def test_less_chops_only_a_wide_table(monkeypatch) -> None:
    monkeypatch.delenv("PAGER", raising=False)
    assert pager_command(None, chop=False) == DEFAULT_PAGER.split()
    assert "-S" not in pager_command("less -SRXF", chop=False)  # the former default, kept in old configs
    assert pager_command(None, chop=True)[-1] == "-S"
    assert pager_command("more", chop=True) == ["more"]  # the user's own pager as they wrote it
    assert pager_command("less -S -R", chop=True) == ["less", "-S", "-R"]


@pytest.mark.parametrize("columns", [30, 40, 60, 80])
def test_records_and_expanded_records_wrap_their_values_whole(columns: int) -> None:
    row = {"job_id": JOB_ID, "name": NAME, "status": "RUNNING"}
    for text, sep in ((human(row, columns), "  "), (human([row], columns, Expanded.ON), " | ")):
        lines = text.splitlines()
        assert all(width(line) <= columns for line in lines), text
        values: dict[str, str] = {}
        key = ""
        for line in lines:
            if line.startswith("-[ RECORD"):
                continue
            head, _, value = line.partition(sep)
            key = head.strip() or key
            values[key] = values.get(key, "") + value.strip()
        assert values == row, text


def test_a_record_is_not_wrapped_for_a_file_and_wraps_below_its_key_where_there_is_no_room_beside_it() -> None:
    row = {"job_id": JOB_ID, "name": NAME}
    assert f"name    {NAME}" in human(row, 40, fold=False)
    narrow = human(row, 20).splitlines()  # 12 cells beside the key: wrapped there, not cut by the terminal
    assert narrow[0] == "job_id  531c7543-12c" and all(width(line) <= 20 for line in narrow), narrow
    tiny = human(row, 13).splitlines()  # 5 cells beside it: too few, the value goes below its key
    assert tiny[0] == "job_id" and tiny[1].startswith("  531c") and all(width(line) <= 13 for line in tiny), tiny
    assert "".join(line.strip() for line in tiny[tiny.index("name") + 1:]) == NAME


@pytest.mark.parametrize("columns", [26, 32, 40, 60])  # from where the longest key fits
def test_values_in_nested_records_wrap_under_themselves_at_narrow_widths(columns: int) -> None:
    """check_status server at 40 columns: "  client_last_conn_time | 2026-11-30 02:" then "07:57" at column 0 (a
    nested record's value was left to the terminal with fewer cells beside its key than the top level's)."""
    site = {"client_name": "site-1", "client_last_conn_time": "2026-11-30 02:07:57", "client_status": "no_jobs"}
    status = {"server_start_time": "2026-11-30 02:00:00", "client_status": [site, site], "job": {"job_id": JOB_ID}}
    for mode in (Expanded.AUTO, Expanded.ON):
        text = human(status, columns, mode)
        assert all(width(line) <= columns for line in text.splitlines()), text
        assert "2026-11-30" in text and "02:07:57" in text and JOB_ID[:4] in text
    assert "  client_last_conn_time | 2026-11-30\n                        | 02:07:57" in human(status, 40)


def test_has_table_sees_rows_at_the_top_or_in_a_record() -> None:
    assert has_table([{"a": 1}]) and has_table({"x": 1, "rounds": [{"a": 1}]})
    assert not has_table({"job_id": JOB_ID}) and not has_table("text") and not has_table(None)


def test_rows_in_a_record_become_records_when_too_wide_in_auto() -> None:
    meta = {"job_id": JOB_ID, "rounds": [{"round": 1, "site": "site-1", "name": NAME, "acc": 0.5}]}
    text = human(meta, 40)
    assert "-[ RECORD 1 ]" in text and all(width(line) <= 40 for line in text.splitlines()), text
    assert "-[ RECORD" not in human(meta, 200)


@pytest.mark.parametrize("pane", range(16, 90, 3))
def test_tops_details_pane_wraps_a_wide_character_name_by_cells_losing_nothing(pane: int) -> None:
    from console.shell.top.details import detail_lines

    meta = {"job_id": JOB_ID, "name": NAME, "status": "RUNNING", "mandatory_clients": ["site-1"]}
    lines = detail_lines(meta, None, pane)
    assert all(width(line) <= pane for line in lines), lines
    at = next(i for i, line in enumerate(lines) if line.startswith("name"))
    name = lines[at].removeprefix("name").strip()
    for line in lines[at + 1:]:
        if not line.startswith(" "):
            break
        name += line.strip()
    assert name == NAME, lines


def _rounds():
    from console.shell.plot import RoundMetrics

    metrics = RoundMetrics()
    for number in (1, 2, 3):
        metrics.add({"round": number, "aggregated": {"accuracy": 0.2 * number}})
    return metrics


@pytest.mark.parametrize("columns", [40, 60, 100])
def test_a_plot_title_is_wrapped_whole_when_printed_and_cut_with_an_ellipsis_live(columns: int) -> None:
    from console.shell.plot import draw

    title = f"job 531c7543 ({NAME}) RUNNING"
    printed = draw(_rounds(), ["accuracy"], title, columns, False)
    heading = printed.split("\n┌")[0] if "┌" in printed else printed.split("\n+")[0]
    assert "".join(line.strip() for line in heading.splitlines()).replace(" ", "") == \
        f"accuracy·{title}".replace(" ", ""), printed
    live = draw(_rounds(), ["accuracy"], title, columns, False, 4, one_line_titles=True)
    first = live.splitlines()[0]
    assert width(first) <= columns and (first.endswith("…") or first.strip().endswith("RUNNING")), live
    assert all(width(line) <= columns for line in printed.splitlines()), printed


def test_json_is_utf8_with_every_terminal_control_escaped() -> None:
    import json

    from console.shell.safe_text import json_text, visible

    value = {"name": NAME, "sly": "a\x1b]52;c;eA==\x07b\u202ec\x85d\U000e0041e\ud800"}
    for pretty in (True, False):
        text = json_text(value, pretty)
        assert NAME in text and "\\u00e9" not in text  # as pgcli prints it, not h\u00e9llo
        assert visible(text) == text  # nothing that drives a terminal left raw
        assert "\\u001b" in text and "\\u202e" in text and "\\udb40\\udc41" in text
        assert json.loads(text) == value  # still exact
        assert ("\n" in text) is pretty  # one document: indented for a person, one line for a pipe


@given(st.text())
@example("\x7f")  # DEL: ASCII, and left raw by json.dumps (found by this test in a full run)
def test_json_text_reads_back_exactly_and_shows_no_control_character(text: str) -> None:
    import json

    from console.shell.safe_text import json_text, visible

    shown = json_text([text], pretty=False)
    assert json.loads(shown) == [text] and visible(shown) == shown


def test_nested_values_in_a_record_show_utf8_not_escapes() -> None:
    meta = {"round_metrics": [{"round": 1, "site-1": {"acc_très_long_metric_name": 0.5, "数据": 1}}]}
    text = human(meta, 200)
    assert "acc_très_long_metric_name" in text and "数据" in text and "\\u" not in text, text


@pytest.mark.parametrize("engine", ["ours", "nvflare"])
def test_the_passed_over_note_names_download_job_not_get_job_logs(engine: str) -> None:
    """get_job_logs returns the newest 5 MiB (FLARE's and ours): a long log's early lines are not there."""
    import asyncio

    from console.commands import Engine
    from console.shell.log_printer import LogPrinter
    from console.shell.monitors import HeldLines, MonitorManager

    printed: list[str] = []

    async def flood() -> None:
        monitors = MonitorManager(None, lambda text, style, meta: printed.append(text))  # type: ignore[arg-type]
        printer = LogPrinter(monitors, job_id=JOB_ID, engine=Engine(engine))
        printer("site-1", [f"line {i}" for i in range(5000)])
        printer.close()

    asyncio.run(flood())
    note = printed[0].splitlines()[0]
    assert "passed over" in note and f"download_job {JOB_ID[:8]}" in note and "get_job_logs" not in note, note
    assert (f"head SITE -n N {JOB_ID}/log.txt" in note) is (engine == "nvflare"), note
    held = HeldLines(Engine(engine))
    for i in range(3 * 200):
        held(f"[server] line {i}", "class:log")
    shown: list[str] = []
    held.release(lambda text, style, meta: shown.append(text), "top")
    assert "download_job JOB has" in shown[0] and "get_job_logs" not in shown[0], shown[0]


def test_delete_jobs_answer_is_said_in_words_and_other_answers_are_left_whole() -> None:
    from console.shell.human import in_words

    assert in_words("delete_job", {"job_id": JOB_ID, "submit_records_marked_deleted": 0}) == f"Deleted job {JOB_ID}"
    assert in_words("delete_job", {"job_id": JOB_ID, "submit_records_marked_deleted": 2}) == (
        f"Deleted job {JOB_ID}; its 2 submit records (what a submit token made) kept, marked deleted")
    assert in_words("delete_job", {"job_id": JOB_ID, "deleted": ["x"]}) is None  # a field would be lost
    assert in_words("abort_job", {"job_id": JOB_ID}) is None


@pytest.mark.parametrize("columns", range(1, 100))
def test_the_live_plots_footer_fits_by_cells_and_keeps_q_leaves_whenever_it_fits(columns: int) -> None:
    from console.shell.plot import live_footer

    text = live_footer(16, 40, columns)
    assert width(text) <= columns
    assert ("q leaves" in text) is (columns >= len("(q leaves)")), text
    if columns >= 75:
        assert text == "(round 16/40 done; q leaves; the chart follows the job until it ends)"


def test_sites_are_listed_in_natural_order_in_round_metrics_and_the_plot_legend() -> None:
    from console.server.round_metrics import RoundMetrics as Recorded
    from console.shell.plot import RoundMetrics

    arrived = {"site-10": {"acc": 0.1}, "site-2": {"acc": 0.2}, "site-1": {"acc": 0.3}}
    recorded = Recorded()
    recorded.add({"round": 1, "metrics": arrived, "aggregated": {"acc": 0.2}})
    assert list(recorded.entries[0]["sites"]) == ["site-1", "site-2", "site-10"]
    shown = RoundMetrics()
    shown.add({"round": 1, "aggregated": {"acc": 0.2}, "metrics": arrived})
    assert [source for source, _ in shown.series("acc")] == ["aggregated", "site-1", "site-2", "site-10"]


@pytest.mark.parametrize("columns", range(8, 90))
def test_tops_details_title_keeps_its_hint_and_cuts_no_id_silently(columns: int) -> None:
    from console.shell.top.details import details_title

    title = details_title(JOB_ID, columns)
    assert width(title) <= columns
    assert JOB_ID in title or JOB_ID[:8] in title or title.endswith("…"), title
    assert ("hides" in title) is (columns >= len(f"{JOB_ID[:8]}  (Enter/Esc hides)")), title


def test_set_and_unset_timeout_say_what_is_in_force_and_keep_the_answer_whole() -> None:
    from console.shell.human import in_words

    assert in_words("set_timeout", {"command_timeout": 30.0}) == "command timeout of this session: 30 s"
    assert in_words("unset_timeout", {"command_timeout": None}) == "command timeout of this session: the server's default"
    assert in_words("set_timeout", {"command_timeout": 30.0, "other": 1}) is None  # a field would be lost


def test_the_consoles_words_for_an_engine_value_show_only_in_the_table() -> None:
    from console.shell.output import render
    from console.worded import Said, Worded

    stats = Worded({"site-a": {"round": 2}, "site-b": {}}, {"site-b": "no stats: the site is not connected"})
    assert json.loads(render(stats, Format.JSON)) == {"site-a": {"round": 2}, "site-b": {}}
    assert json.loads(render(stats, Format.RAW)) == {"site-a": {"round": 2}, "site-b": {}}
    assert "no stats: the site is not connected" in render(stats, Format.TABLE, 200)
    assert stats == {"site-a": {"round": 2}, "site-b": {}}  # the API's reader sees FLARE's answer
    for nothing in (None, {}):
        errors = Said(nothing, "no errors")
        assert json.loads(render(errors, Format.JSON)) == nothing
        assert render(errors, Format.TABLE, 80) == "no errors"
    assert render(Said(None, "no errors"), Format.RAW) == ""


@pytest.mark.parametrize("first", [True, 1, "1"])
def test_a_cell_is_the_same_whichever_equal_value_was_shown_before(first: object) -> None:
    """Cells are kept per key and value (``human._scalar``): True, 1 and "1" are equal or alike, never mixed."""
    from console.shell.human import cell

    cell("ok", first)
    assert [cell("ok", True), cell("ok", 1), cell("ok", "1"), cell("ok", False), cell("ok", 0)] == \
        ["yes", "1", "1", "no", "0"]
    assert [cell("value", 0.0), cell("value", -0.0)] == ["0", "-0"]  # floats are not kept: -0.0 == 0.0
    assert cell("duration", "0:00:09.101962") == "0:00:09" and cell("duration", 9) == "0:00:09"


def test_lines_of_plain_text_pass_as_they_are_and_controls_among_them_do_not() -> None:
    from console.shell.safe_text import visible

    table = "job_id  status\n------  ------\nabc\tRUNNING\r\n"
    assert visible(table) == table  # newlines, tabs and a line-ending carriage return are kept
    assert visible("a\nb\rc\n\x1b[2Jd") == "a\nb\\x0dc\n\\x1b[2Jd"


def test_a_table_repeated_with_other_values_or_widths_is_its_own() -> None:
    """Rows and their lines are kept (``human._text_row``, ``_row_line``): a row whose value changed, or a
    listing whose columns widened, is never shown as it was before."""
    rows = [{"job_id": "a1", "status": "RUNNING"}, {"job_id": "b2", "status": "SUBMITTED"}]
    assert human(rows).splitlines()[2:] == ["a1      RUNNING", "b2      SUBMITTED"]
    rows[0]["status"] = "FINISHED:COMPLETED"
    assert human(rows).splitlines()[2:] == ["a1      FINISHED:COMPLETED", "b2      SUBMITTED"]
    assert human([*rows, {"job_id": "c3" * 5, "status": 1}]).splitlines()[2:] == [
        "a1          FINISHED:COMPLETED", "b2          SUBMITTED", "c3c3c3c3c3  1"]


# -- colours (SGR escapes) take no cell and reach only a terminal (user10's findings 1 and 4) --

GREEN, RESET = "\x1b[32m", "\x1b[0m"


@pytest.mark.parametrize("cells", [5, 20, 79])
def test_a_colour_escape_takes_no_cell_and_is_never_cut(cells: int) -> None:
    from console.shell.cells import SGR, elide, fill, plain

    row = "│" + (GREEN + "▄▄" + RESET) * 30 + "│ 0.9387"
    assert width(row) == 69 and rows(row, 69) == 1 and rows(row, 68) == 2
    for line in wrap(row, cells):
        assert width(line) <= cells
        assert "\x1b" not in SGR.sub("", line), repr(line)  # only whole escapes, no '[32m' left as text
    assert plain("".join(wrap(row, cells))).replace(" ", "") == plain(row).replace(" ", "")
    cut = elide(row, cells)
    if cells < 69:
        assert width(cut) == cells and cut.endswith(RESET + "…")  # the colour does not spill onto what follows
    else:
        assert cut == row
    assert fill(row, 80) == row  # it fits: kept as it is


def test_a_drawn_answer_is_never_refilled_and_goes_to_a_file_without_colour(tmp_path) -> None:
    from console.shell.answer import Answers
    from console.shell.client_side import Outcome, ShellState
    from console.shell.parse import Sink
    from console.shell.plot import RoundMetrics, draw

    metrics = RoundMetrics()
    for number in range(1, 6):
        metrics.add({"round": number, "aggregated": {"accuracy": 0.5 + number / 20},
                     "sites": {"site-1": {"accuracy": 0.4 + number / 10}}})
    chart = draw(metrics, ["accuracy"], "job 12345678 (digits) FINISHED:COMPLETED", 80, color=True)
    assert GREEN[:3] in chart
    answers = Answers(None, ShellState(), None, None, lambda text, style: None)  # type: ignore[arg-type]
    for columns in (40, 80, 160):  # the chart as drawn, whatever the width it is shown at
        assert answers._text(Outcome(message=chart, drawn=True), columns, Expanded.OFF) == chart
    # Its widest row fits the 80 cells it was drawn for, counted in cells, not bytes.
    assert max(width(line) for line in chart.split("\n")) <= 80 < max(len(line) for line in chart.split("\n"))

    written, said = answers.to_file(Outcome(message=chart, drawn=True), Sink(">", str(tmp_path / "plot.txt")))
    text = (tmp_path / "plot.txt").read_text()
    assert written and "\x1b" not in text and "accuracy · job 12345678" in text, said


def test_round_metrics_read_as_a_table_with_a_column_per_metric_and_json_keeps_every_digit() -> None:
    """user10 #10: get_job_meta showed each round's metrics as JSON blobs of 16 digits."""
    from console.shell.output import render

    meta = {"job_id": JOB_ID, "status": "FINISHED:COMPLETED", "round_metrics": [
        {"round": number, "aggregated": {"accuracy": 0.4693593314763231 * number, "loss": 2.2270001, "n": 60},
         "sites": {"site-1": {"accuracy": 0.45, "loss": 2.3}, "site-2": {"accuracy": 0.46}}}
        for number in (1, 2)]}
    text = render(meta, Format.TABLE, 100)
    assert "{" not in text and "0.4693593314763231" not in text, text
    lines = text.split("\n")
    at = lines.index("round_metrics:")
    assert lines[at + 1].split() == ["round", "source", "accuracy", "loss", "n"]
    assert lines[at + 3].split() == ["1", "aggregated", "0.4694", "2.227", "60"]  # 4 significant digits, as top
    assert lines[at + 5].split() == ["1", "site-2", "0.46"]  # a metric a site did not report: blank
    assert lines[at + 6].split() == ["2", "aggregated", "0.9387", "2.227", "60"]
    assert json.loads(render(meta, Format.JSON, 100)) == meta  # JSON: the recorded values, whole
    # Expanded, each row a record; another list of rows is a table as before.
    assert "accuracy | 0.4694" in render(meta, Format.TABLE, 100, Expanded.ON)
    assert "{" in human({"x": [{"round": 1, "other": {"a": 1}}]})


def test_a_field_named_iso_is_shown_in_iso_8601_and_other_times_in_local_words() -> None:
    """Report 10 #17: FLARE's ``submit_time_iso`` was shown as "2026-11-30 03:41:57" under its ISO name."""
    import datetime as dt

    from console.shell.human import cell

    when = "2026-11-30T03:41:57.123456+00:00"
    shown = cell("submit_time_iso", when)
    assert dt.datetime.fromisoformat(shown) == dt.datetime.fromisoformat(when).replace(microsecond=0), shown
    assert "T" in shown and "." not in shown
    assert cell("submit_time_iso", "2026-11-30T03:41:57") == "2026-11-30T03:41:57"
    assert "T" not in cell("submit_time", when)  # other times: local "YYYY-MM-DD HH:MM:SS"


def test_an_action_flare_answers_with_nothing_writes_its_record_in_json() -> None:
    """flare11 item 10: reset_errors and download_job_components printed ``null`` under ``--format json`` where
    every other action writes ``{..., "message": ...}``; a view's nothing (show_errors' ``{}``) stays FLARE's."""
    from console.backends.nvflare_commands import COMMANDS
    from console.shell.output import render

    class Session:  # FLARE 2.9's Session in what these commands ask
        def reset_errors(self, job_id: str) -> None:
            return None

        def download_job_components(self, job_id: str) -> str:
            return f"/tmp/transfer/{job_id}"

        def check_status(self, target_type: str) -> dict:  # remove_client asks first: the site is connected
            return {"status": "SUCCESS", "clients": [{"client_name": "site-b1"}]}

        def remove_client(self, site: str) -> None:
            return None

        def show_errors(self, job_id: str, target_type: str, targets: object = None) -> dict:
            return {}

    job = "a1b2c3d4-0000-4000-8000-000000000001"
    reset = COMMANDS["reset_errors"](Session(), {"job_id": job})
    assert json.loads(render(reset, Format.JSON)) == {"job_id": job, "message": f"errors of {job} reset"}
    assert render(reset, Format.TABLE, 80) == f"errors of {job} reset" and render(reset, Format.RAW) == ""
    got = COMMANDS["download_job_components"](Session(), {"job_id": job})
    assert json.loads(render(got, Format.JSON)) == {"job_id": job, "path": f"/tmp/transfer/{job}",
                                                    "message": f"Downloaded to /tmp/transfer/{job}"}
    removed = json.loads(render(COMMANDS["remove_client"](Session(), {"site": "site-b1"}), Format.JSON))
    assert removed["site"] == "site-b1" and removed["message"].startswith("removed site-b1")
    errors = COMMANDS["show_errors"](Session(), {"job_id": job, "target_type": "server"})
    assert json.loads(render(errors, Format.JSON)) == {}
