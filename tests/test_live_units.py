"""The live views' pure parts: log tailing by offset, the round metrics (FLARE's windows: test_log_window)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_toolkit.utils import get_cwidth

from console.logtail import CHUNK_BYTES, MAX_BEHIND_BYTES, LogTail, last_lines, lines_between
from console.shell.follow import log_block
from console.shell.monitors import LOG_STYLE, MAX_LOG_LINES_SHOWN, HeldLines
from console.shell.plot import RoundMetrics, draw, round_labels
from console.shell.top.columns import elide, layout, render
from console.shell.top.details import detail_lines
from console.shell.top.fit import Blocks, fit
from console.shell.top.model import JobRow, TopModel, find_round
from console.shell.top.view import JOB_COLUMNS, job_cells


def test_log_tail_reads_only_new_complete_lines_and_survives_truncation(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    tail, backlog = LogTail.from_last_lines(log, 5)  # no file yet
    assert backlog == [] and tail.read() == []
    log.write_text("one\ntwo\nthr")
    assert tail.read() == ["one", "two"]
    with open(log, "a") as f:
        f.write("ee\nfour\n")
    assert tail.read() == ["three", "four"]
    assert tail.read() == []
    log.write_text("new start\n")  # rotated: read from the beginning again
    assert tail.read() == ["new start"]
    with open(log, "a") as f:
        f.write("no newline yet")
    assert tail.read() == [] and tail.read(final=True) == ["no newline yet"]


def test_log_tail_backlog_is_the_last_lines_and_a_reader_far_behind_skips_ahead(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    tail, backlog = LogTail.from_last_lines(log, 3)
    assert backlog == ["line 97", "line 98", "line 99"]
    with open(log, "a") as f:
        f.write(("x" * 99 + "\n") * (MAX_BEHIND_BYTES // 100 + 10))
    lines = tail.read()
    assert lines[0].startswith("[... ") and "skipped" in lines[0]
    assert sum(len(line) + 1 for line in lines[1:]) <= CHUNK_BYTES


def test_lines_between_offsets_give_a_resumed_follow_what_it_lacks(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    assert lines_between(log, 7) == ([], 7)  # no log yet: nothing, from where it was
    log.write_bytes(b"one\ntwo\nthree\nfour")
    tail = LogTail(log)
    assert tail.read() == ["one", "two", "three"] and tail.delivered == 14
    assert lines_between(log, 4) == (["two", "three"], 14)  # complete lines only: "four" goes on later
    assert lines_between(log, 4, 8) == (["two"], 8)
    assert lines_between(log, 8, 4) == ([], 8)  # already past where the stream is
    assert lines_between(log, 14, final=True) == (["four"], 18)  # the job ended: the last line too
    assert lines_between(log, 99) == (["one", "two", "three"], 14)  # past the end: rewritten, from its start
    assert last_lines(log, 14, 2) == ["two", "three"] and last_lines(log, 14, 0) == []
    log.write_bytes(b"x" * 10 + b"\n" + b"y\n" * (MAX_BEHIND_BYTES // 2 + 5))
    far, until = lines_between(log, 0)
    assert far[0].startswith("[... ") and "skipped" in far[0] and set(far[1:]) == {"y"}
    assert until == log.stat().st_size


def test_follow_lines_are_prefixed_and_cannot_drive_the_terminal() -> None:
    block = log_block("site-1", ["ok", "\x1b]52;c;cGF3bmVk\x07clip", "\x1b[2Jclear", "bidi \u202e"])
    assert "\x1b" not in block and "\x07" not in block and "\u202e" not in block
    assert block.splitlines() == ["[site-1] ok", "[site-1] \\x1b]52;c;cGF3bmVk\\x07clip",
                                  "[site-1] \\x1b[2Jclear", "[site-1] bidi \\u202e"]


def test_round_metrics_from_meta_and_events_give_series_and_a_chart() -> None:
    metrics = RoundMetrics()
    metrics.add({"round": 1, "aggregated": {"acc": 0.5}, "sites": {"site-1": {"acc": 0.4}, "site-2": {"acc": 0.6}}})
    metrics.add({"round": 2, "num_rounds": 3, "aggregated": {"acc": 0.7, "loss": 0.3},
                 "metrics": {"site-1": {"acc": 0.65, "note": "text is skipped"}}})  # a progress event
    assert not metrics.add({"round": 3, "metrics": {}})
    assert metrics.metric_names() == ["acc", "loss"]
    assert metrics.series("acc") == [("aggregated", [(1, 0.5), (2, 0.7)]), ("site-1", [(1, 0.4), (2, 0.65)]),
                                     ("site-2", [(1, 0.6)])]
    data = metrics.as_data({"job_id": "j", "name": "n", "status": "RUNNING"}, ["loss"])
    assert data["series"] == [{"metric": "loss", "source": "aggregated", "points": [[2, 0.3]]}]
    chart = draw(metrics, ["acc"], "job j", 80, color=False)
    assert "\x1b" not in chart and "acc · job j" in chart and "aggregated" in chart and "site-2" in chart

    # The y labels sit where their values are: a loss from 1 to 0.14 reads 0.5 halfway, 0.0 at the foot.
    loss = RoundMetrics()
    for i, value in enumerate([1.0, 0.5, 0.33, 0.25, 0.2, 0.14], start=1):
        loss.add({"round": i, "aggregated": {"loss": value}})
    rows = [line for line in draw(loss, ["loss"], "job j", 80, color=False).splitlines() if "│" in line]
    labels = {line.rsplit("│", 1)[1].strip(): i for i, line in enumerate(rows) if line.rsplit("│", 1)[1].strip()}
    assert set(labels) >= {"0.5", "0.0"} and "0" not in labels, labels
    assert labels["0.0"] == len(rows) - 1 and abs(labels["0.5"] - (len(rows) - 1) / 2) <= 1, labels


def test_plot_x_axis_labels_whole_rounds_only_at_any_width() -> None:
    """uniplot chose 1.0 1.5 2.0 for two rounds and 0.5 ... 1.0 for one: the labels are whole
    rounds, within the rounds recorded, apart enough to read, centred under their round."""
    for rounds in (1, 2, 3, 5, 7, 12, 17, 40, 100, 999):
        for width in (20, 40, 68, 148):
            first, last = 1, rounds
            x_min, x_max = (0, 2) if rounds == 1 else (first, last)
            line = round_labels(x_min, x_max, width, (first, last))
            labels = line.split()
            assert labels and all(label.isdigit() for label in labels), (rounds, width, line)
            numbers = [int(label) for label in labels]
            assert numbers == sorted(set(numbers)) and first <= numbers[0] and numbers[-1] <= last, line
            assert len(line) <= width + 3, (rounds, width, line)
            if len(numbers) > 1:
                assert len({b - a for a, b in zip(numbers, numbers[1:], strict=False)}) == 1, line  # one step
    assert round_labels(1, 2, 68, (1, 2)).split() == ["1", "2"]
    assert round_labels(0, 2, 68, (1, 1)).strip() == "1" and round_labels(0, 2, 68, (1, 1)).index("1") == 35

    two = RoundMetrics()
    for number in (1, 2):
        two.add({"round": number, "aggregated": {"loss": 1.0 / number}})
    for color in (False, True):
        lines = [ANSI_CODE.sub("", line) for line in draw(two, ["loss"], "job j", 80, color=color).splitlines()]
        under = lines[next(i for i, line in enumerate(lines) if line.startswith("└")) + 1]
        assert under.split() == ["1", "2"], lines
        assert under.startswith(" 1") and len(under) == len(lines[1]) - 1, lines  # in the first and last column


ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def test_top_details_read_as_key_value_lines() -> None:
    """top's details pane: labels and values in two columns, times local, durations H:MM:SS
    (FLARE's timedelta text too), lists one entry per line, errors per site, long values
    wrapped at the pane's width, nothing from the server able to drive the terminal."""
    from console.shell.human import local_time

    job_id = "8a4e0d8c-1111-4222-8333-444455556666"
    meta = {"job_id": job_id, "name": "live-job\x1b[2J", "status": "FINISHED:COMPLETED",
            "submit_time": 1_764_400_000.0, "submit_time_iso": "2025-11-29T07:06:40+00:00",
            "start_time": "2025-11-29 08:06:41.25", "duration": "1 day, 2:03:04.25",
            "deploy_map": {"app": ["server", "site-1", "site-2"]}, "min_clients": 2, "mandatory_clients": [],
            "submitter_name": "admin@example.com", "submitter_org": "example", "submitter_role": "project_admin",
            "job_deploy_detail": ["server: OK", "site-1: OK", "site-2: OK"],
            "job_errors": {"site-2": ["ValueError: site-2 cannot train today " * 4], "server": ["boom"]},
            "round_metrics": [{"round": 1, "aggregated": {"acc": 0.5}}]}
    row = JobRow(job_id, round=3, num_rounds=3, metrics={"acc": 0.812345, "loss": 1 / 3})
    lines = detail_lines(meta, row, 60)
    text = "\n".join(lines)
    assert all(get_cwidth(line) <= 60 for line in lines), text
    assert "\x1b" not in text and "live-job\\x1b[2J" in text, text
    assert lines[:4] == [f"job        {job_id}", "name       live-job\\x1b[2J", "status     FINISHED:COMPLETED",
                         "round      3/3"], text
    assert "submitter  admin@example.com (example, project_admin)" in lines
    assert f"submitted  {local_time(1_764_400_000.0)}" in lines  # the ISO time, local
    assert f"started    {local_time('2025-11-29T08:06:41')}" in lines  # FLARE's blank-separated time
    assert "duration   26:03:04" in lines
    assert "\n".join(["deploy map", "  app  server", "       site-1", "       site-2"]) in text
    assert "\n".join(["deployed   server: OK", "           site-1: OK", "           site-2: OK"]) in text
    assert "\n".join(["latest metrics", "  acc   0.8123", "  loss  0.3333"]) in text
    errors = lines[lines.index("errors") + 1:]
    assert errors[0].startswith("  site-2  ValueError: site-2 cannot") and errors[-1] == "  server  boom", text
    assert len(errors) > 2 and all(line.startswith(" " * 10) for line in errors[1:-1]), text  # wrapped, aligned
    assert "mandatory" not in text and "round_metrics" not in text  # empty, and plot's
    running = detail_lines({"job_id": "j", "status": "RUNNING", "duration": "N/A"},
                           JobRow("j", status="RUNNING", start_time=1000.0), 80, now=1075.0)
    assert "duration  0:01:15 so far" in running


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.75, 0.999])
def test_one_duration_shows_the_same_in_every_view(fraction: float) -> None:
    """top's ELAPSED, its details pane, get_job_meta's record and list_jobs' table show one job's
    duration alike (whole seconds elapsed: the fraction dropped), ended or running; how long ago
    reads alike in top's heartbeat and the job menu."""
    from console.shell.completion import age
    from console.shell.human import human
    from console.shell.top.model import SiteRow
    from console.shell.top.view import site_cells

    job_id = "8a4e0d8c-1111-4222-8333-444455556666"
    meta = {"job_id": job_id, "name": "n", "status": "FINISHED:COMPLETED", "duration": f"0:01:14.{int(fraction * 1e6):06d}"}
    ended = JobRow(job_id, name="n", status="FINISHED:COMPLETED", duration=meta["duration"])
    shown = {
        "top": job_cells(ended, 0.0)[5],
        "details": next(line.split()[1] for line in detail_lines(meta, ended, 80) if line.startswith("duration")),
        "get_job_meta": next(line.split()[1] for line in human(meta).splitlines() if line.startswith("duration")),
        "list_jobs": human([meta]).splitlines()[2].split()[-1],
    }
    assert set(shown.values()) == {"0:01:14"}, shown
    running = JobRow(job_id, status="RUNNING", start_time=1000.0)
    now = 1074.0 + fraction
    details = detail_lines({"job_id": job_id, "status": "RUNNING", "duration": "N/A"}, running, 80, now=now)
    assert f"duration  {job_cells(running, now)[5]} so far" in details
    assert job_cells(running, now)[5] == "0:01:14"
    beat = site_cells(SiteRow("site-1", last_heartbeat=1000.0), 1119.0 + fraction)[2]
    assert beat == age(1000.0, 1119.0 + fraction) == "1m ago"


def test_top_model_applies_pushed_events_and_polls() -> None:
    model = TopModel()
    model.apply_sites([{"client_name": "site-1", "client_last_heartbeat": 100.0}], {"site-1": 1})
    model.apply_sys_info({"site-1": {"cpu_seconds": 1.0, "memory_rss_mib": 50.4}})
    assert model.sites["site-1"].memory == "50 MiB"
    model.apply_sys_info(["Client: site-1", {"percent": "5.2"}])  # FLARE's shape
    model.apply_event("job_status", {"job_id": "a" * 36, "name": "n", "status": "RUNNING"})
    model.apply_event("job_progress", {"job_id": "a" * 36, "data": {"round": 2, "num_rounds": 5,
                                                                    "sites_responded": 1,
                                                                    "metrics": {"site-1": {"acc": 0.5}}}})
    row = model.jobs["a" * 36]
    assert (row.round, row.num_rounds, row.sites_responded, row.metrics) == (2, 5, 1, {"acc": 0.5})
    model.apply_event("site_status", {"site": "site-1", "status": "disconnected"})
    assert not model.sites["site-1"].connected
    model.move(1)
    assert model.selected_job() is row


def test_top_model_takes_the_last_recorded_round_from_the_meta_unless_a_later_one_was_pushed() -> None:
    model = TopModel()
    job_id = "b" * 36
    recorded = [{"round": 1, "aggregated": {"acc": 0.5}, "sites": {}},
                {"round": 2, "aggregated": {}, "sites": {"site-1": {"acc": 0.6}, "site-2": {"acc": 0.8}}}]
    model.apply_meta({"job_id": job_id, "start_time": "2025-11-29T08:00:00+00:00", "round_metrics": recorded})
    row = model.jobs[job_id]
    assert (row.round, row.num_rounds, row.metrics) == (2, None, {"acc": pytest.approx(0.7)})  # the sites' mean
    assert job_cells(row, 0.0)[3] == "2"  # an ended job read afterwards: its last round, planned count unknown
    model.apply_event("job_progress", {"job_id": job_id, "data": {"round": 4, "num_rounds": 5,
                                                                  "aggregated": {"acc": 0.9}}})
    model.apply_meta({"job_id": job_id, "round_metrics": recorded})  # an answer that left before round 4
    assert (row.round, row.metrics) == (4, {"acc": 0.9}) and job_cells(row, 0.0)[3] == "4/5"


def test_each_read_of_a_hostile_log_fits_one_event_frame(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_bytes((b"\x01" * 999 + b"\n") * 3000)  # 3 MB that JSON escapes six times over
    tail = LogTail(log)
    reads = 0
    while lines := tail.read():
        reads += 1
        assert len(json.dumps({"k": "event", "topic": "job_log", "data": {"lines": lines}})) < 1 << 19
    assert reads >= 3000 * 1000 // CHUNK_BYTES


def test_follow_completes_all_beside_the_server() -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from console.shell.completion import CompletionData, ShellCompleter

    rows = [{"job_id": "abcdef12-1111-4222-8333-444455556666", "job_name": "x", "status": "RUNNING"}]
    completer = ShellCompleter(lambda: CompletionData.from_rows(rows))
    words = [c.text for c in completer.get_completions(Document("follow abcdef12 "), CompleteEvent())]
    assert "server" in words and "all" in words
    assert "all" not in [c.text for c in completer.get_completions(Document("ls "), CompleteEvent())]


TEXT = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Mn", "Me", "Cf"))
JOB_ROW = st.tuples(st.text("0123456789abcdef", min_size=8, max_size=8), st.text(TEXT, max_size=80),
                    st.sampled_from(["SUBMITTED", "RUNNING", "FINISHED:COMPLETED", "FINISHED:EXECUTION_EXCEPTION"]),
                    st.text(TEXT, max_size=7), st.text(TEXT, max_size=5), st.text(TEXT, max_size=6),
                    st.text(TEXT, max_size=120)).map(list)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(JOB_ROW, max_size=6), width=st.integers(60, 240))
def test_top_tables_fit_any_width_and_elide_what_does_not_fit(rows: list[list[str]], width: int) -> None:
    widths = layout(JOB_COLUMNS, rows, width)
    shown = [w for w in widths if w is not None]
    assert sum(shown) + 2 * (len(shown) - 1) <= width  # the row fits: nothing is cut at the edge
    for cells in [[c.head for c in JOB_COLUMNS], *rows]:
        text = render(cells, widths, width)
        assert get_cwidth(text) <= width
        for cell, w in zip(cells, widths, strict=True):
            if w is not None and get_cwidth(cell) <= w:
                assert cell.strip() in text  # what fits is shown whole
    assert widths[0] is not None and widths[2] is not None  # job ID and status are never left out


def test_top_columns_take_the_room_there_is() -> None:
    name = "federated-training-of-a-very-long-model-name-on-many-sites"
    row = ["1234abcd", name, "RUNNING", "3/40", "2/2", "12s", "accuracy=0.8 loss=0.2"]
    wide = layout(JOB_COLUMNS, [row], 200)
    assert render(row, wide, 200).split() == ["1234abcd", name, "RUNNING", "3/40", "2/2", "12s", "accuracy=0.8",
                                              "loss=0.2"]
    narrow = layout(JOB_COLUMNS, [row], 80)
    text = render(row, narrow, 80)
    assert len(text) <= 80 and "…" in text and text.startswith("1234abcd  federated-training")
    assert " RUNNING " in text and " 3/40 " in text  # metrics and the name gave the room, not the status
    assert elide("名前名前", 5) == "名前…" and elide("abc", 3) == "abc" and elide("abcd", 3) == "ab…"


def test_top_counts_rounds_from_1_on_both_engines() -> None:
    """Ours says the round under way from 1; FLARE's controllers say current_round from 0: the
    third of 3 rounds reads 3/3 either way."""
    model = TopModel()
    model.apply_progress("ours", {"round": 3, "num_rounds": 3})
    model.apply_progress("flare", find_round({"ScatterAndGather": {"current_round": 2, "num_rounds": 3}}))
    assert (model.jobs["ours"].round, model.jobs["flare"].round) == (3, 3)


@given(st.text() | st.text(alphabet=st.characters(max_codepoint=0x7f)))
def test_visible_text_has_one_meaning_on_the_fast_path_and_the_slow(text: str) -> None:
    # visible()/visible_line() skip their search for printable ASCII: the result must not depend on it.
    from console.shell import safe_text

    slow = safe_text._UNSAFE.sub(safe_text._shown, text)
    assert safe_text.visible(text) == slow
    assert safe_text.visible_line(text) == safe_text._LINE_BREAKS.sub(safe_text._shown, slow)
    assert not set("\x1b\n\r\x07\x08") & set(safe_text.visible_line(text))


def _lines(prefix: str, count: int) -> list[list[tuple[str, str]]]:
    return [[("", f"{prefix}{i}")] for i in range(count)]


@settings(max_examples=300, deadline=None)
@given(st.integers(4, 40), st.integers(0, 8), st.integers(0, 40), st.data())
def test_top_fits_its_body_keeping_the_header_and_the_selected_row(height: int, sites: int, jobs: int,
                                                                   data: st.DataObject) -> None:
    """At any body height top has (a terminal of 12 rows or more): never more lines than rows, the
    jobs' title, header and selected row always shown, and the list scrolls only as far as it must."""
    selected = data.draw(st.integers(0, jobs - 1)) if jobs else None
    details = data.draw(st.integers(0, 30))
    blocks = Blocks(sites=[[("", "Sites")], [("", "SITE")], *_lines("site-", sites or 1)],
                    sites_hidden=lambda n: [("", f"Sites, {n} hidden")],
                    jobs_head=[[("", "Jobs")], [("", "JOB")]], rows=_lines("job-", jobs or 1), selected=selected,
                    details=[[], [("", "Details")], *_lines("detail-", details)] if details else [],
                    details_hidden=lambda n: [("", f"{n} more")])
    first = data.draw(st.integers(0, max(jobs - 1, 0)))
    lines, new_first = fit(blocks, height, first)
    texts = ["".join(t for _, t in line) for line in lines]
    assert len(texts) <= height
    assert "Jobs" in texts and "JOB" in texts
    if selected is not None:
        assert f"job-{selected}" in texts
        shown = [int(t[4:]) for t in texts if t.startswith("job-")]
        assert shown == list(range(new_first, new_first + len(shown)))  # a window of the list, in order
        if first <= selected < first + len(shown) and first + len(shown) <= jobs:
            assert new_first == first  # the selection was in view: nothing moved
    if details and height >= 12:
        assert "Details" in texts  # room for the details' title at least


def test_lines_held_under_a_view_keep_every_status_line_and_the_newest_log_lines_in_order() -> None:
    """A follow flood while top is open: printed after it as a paced flush is (the newest lines, a
    count of the rest), the monitors' status lines all kept where they came."""
    held = HeldLines()
    held("12:00:00  aaaa  job  RUNNING", "class:status.running", {"job_id": "aaaa", "status": "RUNNING"})
    for i in range(1000):
        held(f"[site-1] line {i}", LOG_STYLE)
        if i == 900:
            held("12:00:09  aaaa  job  FINISHED:COMPLETED", "class:status.completed",
                 {"job_id": "aaaa", "status": "FINISHED:COMPLETED"})
    assert len(held.lines) <= 2 * MAX_LOG_LINES_SHOWN + 2  # bounded while the view is open
    printed: list[tuple[str, str]] = []
    held.release(lambda text, style, meta: printed.append((text, style)), "top")
    lines = [line for text, _ in printed for line in text.split("\n")]
    assert lines[0] == (f"[... {1000 - MAX_LOG_LINES_SHOWN} log lines that came while top was open are passed "
                        f"over: only the last {MAX_LOG_LINES_SHOWN} follow; get_job_logs has them all ...]")
    assert lines[1] == "12:00:00  aaaa  job  RUNNING"
    assert lines[2] == f"[site-1] line {1000 - MAX_LOG_LINES_SHOWN}" and lines[-1] == "[site-1] line 999"
    assert lines.index("12:00:09  aaaa  job  FINISHED:COMPLETED") == lines.index("[site-1] line 900") + 1
    assert len(lines) == 1 + 2 + MAX_LOG_LINES_SHOWN
    assert len(printed) == 5  # one print per run of lines of one kind, each status line on its own


def test_plot_y_axis_shows_the_highest_and_lowest_values() -> None:
    """The seventh user's plot had two y labels, 0.5 and 0.0, for a loss from 1 down: the maximum
    could not be read. The top and bottom rows carry the highest and lowest value where uniplot's
    round-number labels leave them bare."""
    metrics = RoundMetrics()
    for number in range(1, 6):
        metrics.add({"round": number, "aggregated": {"loss": 1.0 / number, "accuracy": 0.5 + 0.08 * number,
                                                     "shift": -3 + 0.7 * number}})
    for color in (False, True):
        text = draw(metrics, ["accuracy", "loss", "shift"], "job j", 80, color=color)
        for chart in text.split("\n\n"):
            lines = [ANSI_CODE.sub("", line).rstrip() for line in chart.splitlines()]
            top = next(i for i, line in enumerate(lines) if line.startswith("┌")) + 1
            bottom = next(i for i, line in enumerate(lines) if line.startswith("└")) - 1
            high, low = (re.search(r"│ (\S+)$", lines[row]) for row in (top, bottom))
            assert high and low, lines
            assert float(high.group(1)) == {"accuracy": 0.9, "loss": 1.0, "shift": 0.5}[chart.split(" ·")[0].split()[-1]]
            assert float(low.group(1)) in (0.0, -2.3), lines


def test_top_keeps_a_round_once_known_until_a_later_one_on_flare() -> None:
    """FLARE records no rounds in a job's meta: top knows them only from show_stats while the job runs. A
    round once known stays shown: when the job ends, when a listing misses the job once, when top opens
    again in the same session (the backend's ``rounds_seen``), and an older reading does not undo it."""
    seen: dict[str, dict[str, object]] = {}
    job = "c" * 36
    listed = {"job_id": job, "job_name": "hello-numpy-sag", "status": "RUNNING"}
    model = TopModel(seen)
    model.apply_jobs([listed])
    model.apply_progress(job, find_round({"ScatterAndGather": {"phase": "train", "current_round": 2,
                                                                "num_rounds": 3}}))
    assert job_cells(model.jobs[job], 0.0)[3] == "3/3"
    # The workflow winding down counts one round more than there are (never 4/3), a late reading an earlier
    # one; then the job ends.
    model.apply_progress(job, find_round({"ScatterAndGather": {"phase": "_finished_", "current_round": 3,
                                                                "num_rounds": 3}}))
    assert job_cells(model.jobs[job], 0.0)[3] == "3/3"
    model.apply_progress(job, find_round({"ScatterAndGather": {"phase": "train", "current_round": 0,
                                                                "num_rounds": 3}}))
    model.apply_jobs([{**listed, "status": "FINISHED:COMPLETED", "duration": "0:00:15"}])
    assert job_cells(model.jobs[job], 0.0)[3] == "3/3"
    model.apply_jobs([])  # a poll whose listing missed it
    model.apply_jobs([{**listed, "status": "FINISHED:COMPLETED"}])
    assert job_cells(model.jobs[job], 0.0)[3] == "3/3"
    reopened = TopModel(seen)  # top closed and opened again: the ended job is listed, never read again
    reopened.apply_jobs([{**listed, "status": "FINISHED:COMPLETED"}])
    assert job_cells(reopened.jobs[job], 0.0)[3] == "3/3"
    reopened.apply_event("job_deleted", {"job_id": job})
    assert job not in seen  # a deleted job's round is forgotten with it
