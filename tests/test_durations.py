"""``console.durations``: the one reading of a job's ``duration`` that the shell's views and the
FLARE backend's poll share, for every form either takes (FLARE's and our server's timedelta text,
with days and fractions, a number of seconds) and junk, which reads as None, never an error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.backends.nvflare_pace import Pace, expect_end
from console.durations import duration_seconds
from console.shell.human import cell


@pytest.mark.parametrize(("text", "expected"), [
    ("0:00:12.345678", 12.345678),          # FLARE 2.9's list_jobs / get_job_meta duration
    ("0:00:12", 12.0),                      # timedelta prints no fraction when there is none
    ("2:03:04.5", 7384.5),
    ("1 day, 2:03:04.25", 93784.25),
    ("3 days, 0:00:00", 259200.0),
    ("-1 day, 23:59:59", -1.0),             # str(timedelta(seconds=-1))
    ("  0:01:00.000001\n", 60.000001),      # surrounding blanks ignored
    ("26:03:04", 93784.0),                  # hours past a day, as a human writes them
])
def test_timedelta_text_reads_as_seconds(text: str, expected: float) -> None:
    assert duration_seconds(text) == pytest.approx(expected)


@pytest.mark.parametrize(("number", "expected"), [(0, 0.0), (12, 12.0), (3725.4, 3725.4), (-1.5, -1.5)])
def test_a_number_is_seconds_already(number: float, expected: float) -> None:
    assert duration_seconds(number) == expected


@pytest.mark.parametrize("junk", [
    None, True, False, "", "N/A", "12", "12 s", "1:2", "1:2:3", "0:00:60x", "0:0:01", "1 days 0:00:01",
    "0:00:01.", "a:bc:de", "1:00:00:00", "9" * 5000 + ":00:00", "0:00:00." + "1" * 5000,
    float("nan"), float("inf"), -float("inf"), 10 ** 400, [1], {"duration": 1}, b"0:00:01",
])
def test_anything_else_is_none_never_an_error(junk: object) -> None:
    assert duration_seconds(junk) is None


@given(st.timedeltas(min_value=timedelta(days=-10_000), max_value=timedelta(days=10_000)))
def test_every_timedelta_text_reads_back_as_its_seconds(delta: timedelta) -> None:
    assert duration_seconds(str(delta)) == pytest.approx(delta.total_seconds(), abs=1e-6)


def test_the_shell_and_the_flare_poll_read_a_duration_alike() -> None:
    # The shell shows FLARE's duration text as whole seconds; the poll expects a RUNNING job to end
    # after the median of the same name's finished runs, read from the same text.
    assert cell("duration", "1 day, 2:03:04.75") == "26:03:04"
    assert cell("duration", "N/A") == "N/A"
    assert cell("took", "0:00:03.5") == "0:00:03"  # timedelta text with a fraction, whatever its key
    overlong = "1" * 5000 + ":00:00.5"  # unreadable: shown as sent, never as 0:00:00 or an error
    assert cell("duration", overlong) == cell("note", overlong)
    rows = [{"job_id": f"old-{i}", "name": "hello", "status": "FINISHED:COMPLETED", "duration": text}
            for i, text in enumerate(["0:00:10.5", "0:00:12.5", "N/A", "0:00:11.5"])]
    pace = Pace()
    expect_end(pace, "new", "hello", 1000.0, rows)
    assert pace.expected_end == pytest.approx(1011.5)
