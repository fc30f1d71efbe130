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
from console.shell.log_printer import log_block
from console.shell.monitors import LOG_STYLE, MAX_LOG_LINES_SHOWN, HeldLines
from console.shell.plot import RoundMetrics, draw, round_labels
from console.shell.top.answers import find_round
from console.shell.top.columns import elide, layout, render
from console.shell.top.details import detail_lines
from console.shell.top.fit import Blocks, fit
from console.shell.top.model import JobRow, TopModel
from console.shell.top.rows import JOB_COLUMNS, job_cells


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
    from console.shell.completion_data import age
    from console.shell.human import human
    from console.shell.top.model import SiteRow
    from console.shell.top.rows import site_cells

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


@settings(deadline=None)
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
    natural = [max([get_cwidth(c.head), *(get_cwidth(r[i]) for r in rows)]) for i, c in enumerate(JOB_COLUMNS)]
    if any(w is not None and w < natural[i] for i, w in enumerate(widths)):  # a cell cut: no room left free
        assert sum(shown) + 2 * (len(shown) - 1) == width, (widths, natural)  # (finding 20: NAME cut, 7 free)


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


@settings(deadline=None)
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
                    details_hidden=lambda above, below: [("", f"{above} above, {below} more")],
                    jobs_cut=lambda at, shown, count: [("", f"Jobs {at + 1}-{at + shown} of {count}")],
                    details_first=data.draw(st.integers(0, 40)))
    first = data.draw(st.integers(0, max(jobs - 1, 0)))
    lines, new_first = fit(blocks, height, first)
    texts = ["".join(t for _, t in line) for line in lines]
    assert len(texts) <= height
    assert "JOB" in texts
    shown = [int(t[4:]) for t in texts if t.startswith("job-")]
    if len(shown) == jobs or not jobs:
        assert "Jobs" in texts
    else:  # the title says which rows show of how many (user 10, item 5: "20 shown" with 3 visible)
        assert f"Jobs {new_first + 1}-{new_first + len(shown)} of {jobs}" in texts
    hidden = next((t for t in texts if t.startswith("Sites, ")), None)
    if hidden is not None:  # a count of sites really not shown, never "0 hidden"
        assert hidden == f"Sites, {(sites or 1) - sum(t.startswith('site-') for t in texts)} hidden" and "0 hidden" not in hidden
    cut = next((t for t in texts if t.endswith(" more")), None)
    if cut is not None:  # details cut short: the lines shown, above and below add up to them all
        above, below = (int(n) for n in re.findall(r"\d+", cut))
        seen = [int(t[7:]) for t in texts if t.startswith("detail-")]
        assert seen == list(range(above, above + len(seen))) and above + len(seen) + below == details
        assert blocks.details_first == above
    if selected is not None:
        assert f"job-{selected}" in texts
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
                        f"over: only the last {MAX_LOG_LINES_SHOWN} follow; download_job JOB has the whole log once the job "
                        "ends ...]")
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


def test_top_says_loading_until_the_first_answers_not_that_nothing_is_there() -> None:
    model = TopModel()
    assert (model.sites_title(), model.sites_empty()) == ("Sites (loading…)", "  (loading…)")
    assert (model.jobs_title([]), model.jobs_empty()) == ("Jobs (loading…)", "  (loading…)")
    model.apply_sites([], {})
    model.apply_jobs([])
    assert (model.sites_title(), model.sites_empty()) == ("Sites (0 connected)", "  (no site connected)")
    assert (model.jobs_title([]), model.jobs_empty()) == ("Jobs (0 running, 0 shown)", "  (no jobs)")


def test_check_status_server_shows_flares_engine_status_never_server_stopped() -> None:
    from console.shell.human import human

    answer = {"server_status": "stopped", "server_start_time": 1.7e9, "jobs": [], "clients": []}
    shown = human(answer)
    assert "engine_status      stopped (no job runs on the server)" in shown and "server_status" not in shown, shown
    assert "engine_status      started (jobs run on the server)" in human({**answer, "server_status": "started"})
    # A shutdown's answer keeps its words (console/backends/nvflare_shutdown._stopping).
    assert "server is shutting down" in human({"server_status": "server is shutting down"})


def test_top_shows_the_connection_state_and_how_old_its_rows_are() -> None:
    """flare10 item 3: with the server down, top's clock stood still and it showed "3 connected" and RUNNING
    jobs as current. The header says what the toolbar (hidden under top) says, with the rows' age, on both
    engines; it redraws every REDRAW_EVERY s whether or not a poll answered."""
    import time
    from types import SimpleNamespace

    from console.shell.top.rows import link_words
    from console.shell.top.view import REDRAW_EVERY, TopView

    assert link_words(True, False, 0.5, 1.0) == "" and link_words(True, False, None, 1.0) == ""
    assert link_words(False, False, 42, 1.0) == "disconnected, reconnecting...; rows from 42s ago"
    assert link_words(False, False, None, 1.0) == "disconnected, reconnecting..."
    assert link_words(False, True, 75, 1.0) == "server shut down by you: q, then bye leaves; rows from 1m ago"
    # Connected as far as the link knows, but the poll waits on an answer (FLARE's calls time out late).
    assert link_words(True, False, 12.4, 1.0) == "the server has not answered for 12 s; rows from 12s ago"
    assert link_words(True, False, 4.0, 2.0) == ""  # within three polls of ours (2 s), as a busy server may be
    # Ours knows the server's silence from its heartbeat (the toolbar's "no answer for N s"): said at once.
    assert link_words(True, False, 1.5, 2.0, 3) == "the server has not answered for 3 s; rows from 1s ago"
    assert link_words(False, False, 8.0, 2.0, None) == "disconnected, reconnecting...; rows from 8s ago"
    # There a poll that waits long waits for a frozen site it asked (10 s), the server answering meanwhile.
    assert link_words(True, False, 13.0, 2.0, None, tells_silence=True) == ""

    for pushes in (True, False):  # ours, FLARE
        backend = SimpleNamespace(rounds_seen={}, pushes=pushes, user="admin@nvidia.com", server="localhost",
                                  connected=True, shut_down_by_you=False, silent_for=None,
                                  tells_silence=False)
        view = TopView(backend, no_color=True)  # type: ignore[arg-type]
        assert view.app.refresh_interval == REDRAW_EVERY
        view.feed.fresh_at = time.monotonic() - 0.2
        header = "".join(text for _, text in view._header())
        assert "flare-console top" in header and "disconnected" not in header
        backend.connected, view.feed.fresh_at = False, time.monotonic() - 40
        fragments = view._header()
        assert fragments[0] == ("class:top.down", " disconnected, reconnecting...; rows from 40s ago ")
        assert "".join(text for _, text in fragments).count("flare-console top") == 1
        backend.shut_down_by_you = True
        assert "server shut down by you" in "".join(text for _, text in view._header())


def test_top_site_states_come_from_check_status_as_flare_and_ours_answer_it() -> None:
    """flare10 item 4: top showed a killed or shut-down FLARE site as ``connected`` while check_status said No
    Reply, and a disabled site vanished (item 17). STATE is check_status's: listed and answering, listed and
    not answering (no reply), not listed (gone), disabled by this console; "N connected" counts the first."""
    from console.shell.top.feed import _site_rows
    from console.shell.top.model import CONNECTED, DISABLED, GONE, NO_REPLY, TopModel
    from console.shell.top.rows import site_cells

    # FLARE 2.9's check_status client, as its Session hands it on: the rows' metas, and the table.
    flare = {"client_status": [
        {"client_name": "site-a1", "app_name": "app", "job_id": "e9", "status": "started"},
        {"client_name": "site-a2", "status": "no_jobs"},
        {"client_name": "site-b1", "status": "no_reply"}],
        "client_statuses": [["client", "app_name", "job_id", "status"], ["site-a1", "app", "e9", "started"],
                            ["site-a2", "?", "?", "No Jobs"], ["site-b1", "?", "?", "No Reply"]]}
    assert _site_rows(flare) == [("site-a1", "e9", "started"), ("site-a2", "", "no_jobs"),
                                 ("site-b1", "", "no_reply")]  # (each row once, not from both shapes)
    table_only = {"client_statuses": flare["client_statuses"]}
    assert _site_rows(table_only)[2] == ("site-b1", "?", "No Reply")
    ours = {"client_status": [{"client_name": "site-1", "status": "error: the site did not answer in time"}]}
    assert _site_rows(ours) == [("site-1", "", "error: the site did not answer in time")]

    model = TopModel()
    listed = [{"client_name": name, "client_last_conn_time": 1_700_000_000.0} for name in ("site-a1", "site-a2", "site-b1")]
    statuses = {"site-a1": "started", "site-a2": "no_jobs", "site-b1": "no_reply"}
    model.apply_sites(listed, {"site-a1": 1}, statuses)
    assert {n: s.state for n, s in model.sites.items()} == {"site-a1": CONNECTED, "site-a2": CONNECTED,
                                                            "site-b1": NO_REPLY}
    assert model.sites_title() == "Sites (2 connected)"
    assert site_cells(model.sites["site-b1"], 1_700_000_060.0)[:4] == ["site-b1", "no reply", "1m ago", "0"]
    model.apply_sites(listed[:2], {}, None)  # a poll that did not ask the sites: the states stand, b1 left the list
    assert (model.sites["site-a1"].state, model.sites["site-b1"].state) == (CONNECTED, GONE)
    model.apply_sites(listed[1:2], {}, {"site-a2": "no_jobs"}, frozenset({"site-a1", "site-c9"}))
    assert {n: s.state for n, s in model.sites.items()} == {"site-a1": DISABLED, "site-a2": CONNECTED,
                                                            "site-b1": GONE, "site-c9": DISABLED}
    assert model.sites_title() == "Sites (1 connected)"
    assert site_cells(model.sites["site-c9"], 1_700_000_060.0) == ["site-c9", "disabled", "-", "0", "-", "-"]


def test_top_counts_a_flare_jobs_sites_from_its_deploy_map() -> None:
    """flare10 item 17: top's SITES column was always '-' on FLARE; its meta's deploy_map names the job's sites
    (FLARE tells no round's answers: how many answered stays unknown)."""
    from console.shell.top.model import TopModel
    from console.shell.top.rows import job_cells

    model = TopModel()
    model.apply_meta({"job_id": "e9", "status": "RUNNING",
                      "deploy_map": {"app_server": ["server"], "app_site": ["site-a1", "site-b1"]}})
    assert job_cells(model.jobs["e9"], 0.0)[4] == "-/2"
    model.apply_meta({"job_id": "f1", "status": "RUNNING", "deploy_map": {"app": ["@ALL"]}})
    assert job_cells(model.jobs["f1"], 0.0)[4] == "-"


def test_a_job_left_submitted_says_why_from_flares_schedule_history() -> None:
    """flare10 item 15: a job needing a site that never connected sat SUBMITTED in monitor_job and top with no
    reason; FLARE's scheduler writes one in the meta's ``schedule_history``. A monitor's line says it, and a new
    reason gives a new line; top's details pane shows it."""
    import asyncio
    from types import SimpleNamespace

    from console.api.spec import MonitorReturnCode
    from console.commands import Engine
    from console.shell.monitors import MonitorManager, not_scheduled, status_line

    job = {"job_id": "b26f0000-0000-4000-8000-000000000001", "name": "needs-c9", "status": "SUBMITTED"}
    waiting = {**job, "schedule_history": ["2026-11-30 03:50:01: connected sites (1) < min_sites (2)"]}
    assert not_scheduled(job) is None and not_scheduled({**waiting, "status": "RUNNING"}) is None
    assert not_scheduled({**job, "schedule_history": ["2026-11-30 03:50:01: scheduled"]}) is None
    assert not_scheduled(waiting) == "connected sites (1) < min_sites (2)"
    assert status_line(waiting, 0).endswith("needs-c9  SUBMITTED  (not scheduled yet: connected sites (1) < min_sites (2))")
    missing = {**job, "schedule_history": [*waiting["schedule_history"], "2026-11-30 03:50:09: missing required site site-c9"]}
    metas = [job, waiting, waiting, missing, missing, {**job, "status": "FINISHED:ABORTED"}]

    async def monitor_job(job_id: str, timeout: float, interval: float, cb) -> object:
        for meta in metas:  # as FLARE's poll delivers them: each check's meta
            cb(meta)
        return MonitorReturnCode.JOB_FINISHED, metas[-1]

    said: list[str] = []
    backend = SimpleNamespace(engine=Engine.NVFLARE, monitor_job=monitor_job)
    asyncio.run(MonitorManager(backend, lambda text, _s, _m: said.append(text)).follow(job["job_id"]))  # type: ignore[arg-type]
    assert [line.split("  ", 3)[-1] for line in said] == [
        "SUBMITTED", "SUBMITTED  (not scheduled yet: connected sites (1) < min_sites (2))",
        "SUBMITTED  (not scheduled yet: missing required site site-c9)", "FINISHED:ABORTED"]
    text = "\n".join(detail_lines(missing, None, 100, 0.0))
    assert "not scheduled" in text and "missing required site site-c9" in text


def test_top_keeps_its_clock_and_elides_its_title_and_says_what_details_are_cut() -> None:
    """User 10, item 5: the clock was the first thing elided (``(pushed)  03:…``); details cut short
    said "a taller terminal shows them" with no way to scroll."""
    from console.shell.top.rows import details_cut, header_line

    title = " flare-console top  admin@example.com@server  (pushed)"
    for width in (80, 60, 40, 30, 20):
        line = header_line(title, "03:12:45 ", width)
        assert get_cwidth(line) == width and line.endswith("03:12:45 "), (width, line)
        assert width >= get_cwidth(title) + 10 or "…" in line
    assert "…" in header_line(title, "03:12:45 ", 12)  # too narrow for both: elided, never wider
    assert get_cwidth(header_line(title, "03:12:45 ", 12)) == 12
    assert details_cut(0, 16) == "  ... 16 more lines (PgDn shows them)"
    assert details_cut(5, 1) == "  ... 5 lines above, 1 more line (PgUp/PgDn scroll)"
    assert details_cut(3, 0) == "  ... 3 lines above (PgUp shows them)"


def test_top_reads_a_queued_jobs_meta_again_and_its_row_says_why_it_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 10's top on FLARE: a job left SUBMITTED said why only in the details pane. Its row's last column (no
    metrics yet) says the scheduler's last reason, read again while it waits (the reason changes, not the status;
    FLARE pushes nothing), and says nothing of it once the job runs."""
    import asyncio
    from types import SimpleNamespace
    from typing import Any

    from console.shell.top import feed as top_feed

    monkeypatch.setattr(top_feed, "WAITING_REREAD_SECONDS", 0.05)
    job_id = "b26f0000-0000-4000-8000-000000000002"
    short = {"job_id": job_id, "name": "needs-site-9", "status": "SUBMITTED",
             "schedule_history": ["2026-11-30 03:50:01: connected sites (1) < min_sites (2)"]}
    missing = {**short, "schedule_history": [*short["schedule_history"], "2026-11-30 03:50:11: missing required "
                                                                          "site site-9"]}
    metas = [short, missing]
    status = {"now": "SUBMITTED"}
    read: list[str] = []

    async def get_job_meta(asked: str) -> dict[str, Any]:
        read.append(asked)
        return metas[min(len(read), len(metas)) - 1]

    async def request(command: str, args: dict[str, Any]) -> Any:
        if command == "list_jobs":
            return [{"job_id": job_id, "job_name": "needs-site-9", "status": status["now"]}]
        return {"clients": []} if command == "check_status" else {}

    backend = SimpleNamespace(pushes=False, request=request, get_job_meta=get_job_meta, disabled_sites=set())
    model = TopModel()

    async def waits_until(said: str) -> str:
        for _ in range(200):
            await feed.poll()
            cell = job_cells(model.jobs[job_id], 0.0)[6]
            if said in cell:
                return cell
            await asyncio.sleep(0.01)
        raise AssertionError(f"{said!r} never in {job_cells(model.jobs[job_id], 0.0)}")

    async def watch() -> list[str]:
        reader = asyncio.create_task(feed._read_metas())
        try:
            return [await waits_until("min_sites"), await waits_until("missing required site")]
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    feed = top_feed.TopFeed(backend, model, lambda: None)  # type: ignore[arg-type]
    cells = asyncio.run(watch())
    assert cells == ["not scheduled yet: connected sites (1) < min_sites (2)",
                     "not scheduled yet: missing required site site-9"], cells
    status["now"] = "RUNNING"
    model.apply_jobs([{"job_id": job_id, "job_name": "needs-site-9", "status": "RUNNING"}])
    assert job_cells(model.jobs[job_id], 0.0)[6] == "-"  # a reason read while it waited is none once it runs


def test_top_rows_of_ended_jobs_follow_one_rule_whenever_they_ended() -> None:
    """A job that ended before top opened read ROUND 10, SITES -/2; one that ended while it was open
    400/400, 2/2. Ours records the rounds planned beside the rounds (meta num_rounds): both read R/N, and an
    ended job's SITES are the sites it ran on."""
    from console.server.round_metrics import RoundMetrics as Recorded

    recorded = Recorded()
    for number in (1, 2):
        recorded.add({"round": number, "num_rounds": 2, "aggregated": {"acc": 0.5 * number}})
    assert recorded.num_rounds == 2
    before, during = "d" * 36, "e" * 36
    model = TopModel()
    ended = {"job_id": before, "job_name": "a", "status": "FINISHED:COMPLETED", "duration": "0:00:09"}
    model.apply_jobs([ended])
    model.apply_meta({"job_id": before, "status": "FINISHED:COMPLETED", "round_metrics": recorded.entries,
                      "num_rounds": recorded.num_rounds, "job_clients": ["site-1", "site-2"]})
    model.apply_jobs([{"job_id": during, "job_name": "b", "status": "RUNNING"}, ended])
    model.apply_meta({"job_id": during, "status": "RUNNING", "job_clients": ["site-1", "site-2"]})
    model.apply_progress(during, {"round": 2, "num_rounds": 2, "sites_responded": 2, "aggregated": {"acc": 1.0}})
    assert job_cells(model.jobs[during], 0.0)[3:5] == ["2/2", "2/2"]  # running: how many answered this round
    model.apply_event("job_status", {"job_id": during, "status": "FINISHED:COMPLETED"})
    assert job_cells(model.jobs[before], 0.0)[3:5] == job_cells(model.jobs[during], 0.0)[3:5] == ["2/2", "2"]


def test_a_job_whose_abort_top_sent_says_so_until_its_status_changes() -> None:
    """FLARE takes ~10 s to end an aborted job: its row read RUNNING as if nothing had been sent."""
    from console.shell.top.rows import status_class

    model = TopModel()
    job = "f" * 36
    model.apply_jobs([{"job_id": job, "job_name": "long", "status": "RUNNING"}])
    model.abort_sent(job)
    cells = job_cells(model.jobs[job], 0.0)
    assert cells[2] == "RUNNING, abort sent" and status_class(cells[2]) == status_class("RUNNING")
    model.apply_jobs([{"job_id": job, "job_name": "long", "status": "RUNNING"}])  # a poll: still running
    assert job_cells(model.jobs[job], 0.0)[2] == "RUNNING, abort sent"
    model.apply_event("job_status", {"job_id": job, "status": "FINISHED:ABORTED"})
    assert job_cells(model.jobs[job], 0.0)[2] == "FINISHED:ABORTED"
    model.abort_sent(job)  # an ended job: nothing to say
    assert job_cells(model.jobs[job], 0.0)[2] == "FINISHED:ABORTED"
