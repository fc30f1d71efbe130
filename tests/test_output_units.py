"""What the shell prints for people, as pure rendering: wrapping in cells, the pager's rule."""

from __future__ import annotations

import pytest
from hypothesis import given
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


def test_a_record_is_not_wrapped_for_a_file_or_where_there_is_no_room() -> None:
    row = {"job_id": JOB_ID, "name": NAME}
    assert f"name    {NAME}" in human(row, 40, fold=False)
    assert f"name    {NAME}" in human(row, 20)  # 12 cells beside the key: the terminal wraps it instead


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
    from console.shell.follow import LogPrinter
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
