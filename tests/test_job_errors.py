"""A job's errors carry when each note was recorded, and a note that settles an earlier one takes its place
(console.server.job_errors): the shape get_job_meta returns, read back from a stored meta, and the limits."""

from __future__ import annotations

from datetime import datetime

from console.runtime.limits import MAX_ERRORS_PER_TARGET
from console.server.deployment import AWAY_AT_THE_END, AWAY_SETTLED
from console.server.job_errors import DROPPED, JobErrors, Supersedes


def test_each_note_has_its_time_in_the_metas_format_beside_the_unchanged_messages() -> None:
    errors = JobErrors()
    errors.add("site-2", "lost: its site process ended without a word", at=1_800_000_000.5)
    errors.add("server", "boom")
    meta = errors.meta()
    assert meta["job_errors"] == {"site-2": ["lost: its site process ended without a word"], "server": ["boom"]}
    (stamp,) = meta["job_error_times"]["site-2"]
    assert datetime.fromisoformat(stamp).timestamp() == 1_800_000_000.5  # ISO 8601 with offset, as start_time
    assert datetime.fromisoformat(stamp).tzinfo is not None
    assert list(meta["job_error_times"]) == list(meta["job_errors"])


def test_a_later_note_takes_the_place_of_the_one_it_settles_and_says_what_that_said_and_when() -> None:
    errors = JobErrors()
    errors.add("site-2", "lost: it shut down", at=1_800_000_000)
    errors.add("site-2", AWAY_AT_THE_END, at=1_800_000_001)
    stored = JobErrors.from_meta(errors.meta())  # (the collection at its next login works on the stored meta)
    stored.add("site-2", "its workspace was collected when it connected again", AWAY_SETTLED, at=1_800_000_100)
    messages, times = stored.meta()["job_errors"]["site-2"], stored.meta()["job_error_times"]["site-2"]
    assert AWAY_AT_THE_END not in messages and len(messages) == len(times) == 2
    assert messages[0] == "lost: it shut down"
    # The earlier note's time as the shell shows the notes' times (local_time), not in ISO 8601.
    earlier = datetime.fromtimestamp(1_800_000_001).strftime("%Y-%m-%d %H:%M:%S")
    assert messages[1] == (f"its workspace was collected when it connected again (in place of the note of {earlier} "
                           "that said the site was away when the job ended)")
    assert [datetime.fromisoformat(t).timestamp() for t in times] == [1_800_000_000, 1_800_000_100]


def test_a_note_with_nothing_to_settle_is_added_as_it_is() -> None:
    errors = JobErrors()
    errors.add("site-1", "it had no workspace of the job", Supersedes("never recorded", "whatever"))
    assert errors.messages == {"site-1": ["it had no workspace of the job"]}


def test_a_meta_stored_before_times_reads_with_none_for_its_old_notes() -> None:
    errors = JobErrors.from_meta({"job_errors": {"server": ["old", "older"], "bad": "not a list"}})
    errors.add("server", "new")
    meta = errors.meta()
    assert meta["job_errors"] == {"server": ["old", "older", "new"]}
    assert meta["job_error_times"]["server"][:2] == [None, None] and meta["job_error_times"]["server"][2]


def test_the_limit_per_target_holds_with_the_times() -> None:
    errors = JobErrors()
    for n in range(MAX_ERRORS_PER_TARGET + 5):
        errors.add("server", f"error {n}")
    messages, times = errors.messages["server"], errors.times["server"]
    assert len(messages) == len(times) == MAX_ERRORS_PER_TARGET and messages[-1] == DROPPED


def test_the_table_shows_each_note_on_its_line_after_its_local_time() -> None:
    from console.shell.human import human, local_time

    stamp = "2026-11-30T10:00:01.500000+00:00"
    shown = human({"job_id": "j", "job_errors": {"site-2": ["lost: a, b", "collected"]},
                   "job_error_times": {"site-2": [stamp, None]}}, width=200)
    assert f"site-2  {local_time(stamp)}  lost: a, b\n" in shown and shown.endswith("\n          collected")
    assert "job_error_times" not in shown
    errors = human({"server": {"errors": ["boom"], "error_times": [stamp]}}, width=200)  # show_errors
    assert f"errors  {local_time(stamp)}  boom" in errors and "error_times" not in errors
    listed = human([{"job_id": "j", "job_errors": {"s": ["x"]}, "job_error_times": {"s": [stamp]}}], width=200)
    assert f"s: {local_time(stamp)}  x" in listed and "job_error_times" not in listed  # list_jobs -d, a table


def test_list_jobs_d_shows_a_jobs_errors_as_get_job_meta_does() -> None:
    """list_jobs -d's rows (expanded: one job's meta is wider than a terminal) show each target's notes as
    get_job_meta's record does, time first, one a line; never a JSON text with the times glued in."""
    from console.shell.human import Expanded, human, local_time

    stamp, later = "2026-11-30T10:00:01.500000+00:00", "2026-11-30T10:23:49+00:00"
    meta = {"job_id": "j", "job_errors": {"site-2": ["lost: a, b", "collected"], "server": ["boom"]},
            "job_error_times": {"site-2": [stamp, later], "server": [None]}}
    notes = [f"site-2  {local_time(stamp)}  lost: a, b", f"        {local_time(later)}  collected", "server  boom"]
    shown = human(meta, width=200)  # get_job_meta
    assert "\njob_errors:\n" + "\n".join("  " + note for note in notes) in shown
    listed = human([meta, {**meta, "job_id": "k"}], width=200, mode=Expanded.ON)  # list_jobs -d
    assert "job_errors | " + "\n           | ".join(notes) in listed, listed
    assert "job_error_times" not in listed and '["' not in listed and listed.count("site-2  ") == 2
    auto = human([{**meta, "deploy_map": {"app": ["@ALL"]}, "meta": "x" * 150}], width=100)  # too wide: expanded
    assert "job_errors | " + "\n           | ".join(notes) in auto, auto
    narrow = human([meta], width=30, mode=Expanded.ON)  # wrapped under the note, inside the record's column
    assert all(line.startswith(("-[ RECORD", "job_id     | ", "job_errors | ", "           | "))
               for line in narrow.splitlines()), narrow
    assert human([{"job_id": "j", "job_errors": {"s": []}, "job_error_times": {"s": []}}], width=200,
                 mode=Expanded.ON).endswith("job_errors | (none)")


def test_tops_details_pane_shows_each_note_after_its_time() -> None:
    from console.shell.human import local_time
    from console.shell.top.details import _values

    stamp = "2026-11-30T10:00:01+00:00"
    values = _values({"job_id": "j", "job_errors": {"site-1": ["lost"]}, "job_error_times": {"site-1": [stamp]}},
                     None, 0.0)
    assert values["job_errors"] == {"site-1": [f"{local_time(stamp)}  lost"]}


def test_list_jobs_d_as_json_keeps_the_answers_shape() -> None:
    """--format json is the answer exactly: the errors and their ISO times as the server sent them."""
    import json

    from console.shell.output import Format, render

    rows = [{"job_id": "j", "job_errors": {"s": ["x"]}, "job_error_times": {"s": ["2026-11-30T10:00:01+00:00"]}}]
    assert json.loads(render(rows, Format.JSON)) == rows
