"""The last answer shown, kept as rendered (console.shell.shown_last): reused only for the very same answer.

A real PromptSession on a pipe input and prompt_toolkit's DummyOutput at a size of our choosing (the
pager's rule reads the same size from $COLUMNS and $LINES) stands in for the terminal: what is asserted is the text an answer shows and whether a rendering was reused.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from console.shell.answer import Answers
from console.shell.client_side import Outcome, ShellState
from console.shell.human import Expanded
from console.shell.output import Format

pytestmark = pytest.mark.timeout(60)

JOB = {"job_id": "531c7543-12cb-454c-8d81-c0a1b2c3d4e5", "job_name": "hello-numpy-sag",
       "status": "FINISHED:COMPLETED", "submit_time": "2026-11-30T06:13:32.511901+00:00",
       "duration": "0:00:13.859426"}


class _Screen(DummyOutput):
    def __init__(self, columns: int, rows: int = 40) -> None:
        self.size = Size(rows=rows, columns=columns)

    def get_size(self) -> Size:
        return self.size


def _sized(session: PromptSession[str], monkeypatch: pytest.MonkeyPatch, columns: int, rows: int = 40) -> None:
    session.output.size = Size(rows=rows, columns=columns)  # type: ignore[attr-defined]
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", str(rows))


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Answers]:
    with create_pipe_input() as keys:
        session: PromptSession[str] = PromptSession(input=keys, output=_Screen(200))
        _sized(session, monkeypatch, 200)
        yield Answers(session, ShellState(), None, None, lambda text, style: None)  # type: ignore[arg-type]


def _jobs(**changed: object) -> Outcome:
    """A list_jobs answer as it comes from the engine: new objects each time."""
    return Outcome([dict(JOB, **changed), dict(JOB, job_id="9f06b843-f3a9-4704-be95-8ee16beabfcc")])


def test_the_same_answer_again_is_written_as_rendered_and_any_change_renders_anew(answers: Answers) -> None:
    first = answers._on_screen(_jobs())
    assert first.text is not None and "FINISHED:COMPLETED" in first.text and not first.paged
    assert answers._on_screen(_jobs()) is first  # an equal answer, other objects: kept

    running = answers._on_screen(_jobs(status="RUNNING"))
    assert running is not first and "RUNNING" in running.text  # type: ignore[operator]
    assert answers._on_screen(_jobs()).text == first.text  # and back


def test_values_equal_in_python_but_shown_apart_are_never_taken_for_each_other(answers: Answers) -> None:
    for value in (1, 1.0, True, 1, [1], (1,), "1", 1):  # each shown right after one equal to it in Python
        fresh = Answers(answers.prompt, answers.state, None, None, lambda text, style: None)  # type: ignore[arg-type]
        assert answers._on_screen(Outcome({"rounds": value})).text == fresh._on_screen(Outcome({"rounds": value})).text


def test_an_answer_changed_in_place_after_it_was_shown_is_rendered_again(answers: Answers) -> None:
    outcome = _jobs()
    before = answers._on_screen(outcome)
    outcome.result[0]["status"] = "FINISHED:ABORTED"
    after = answers._on_screen(outcome)
    assert after is not before and "FINISHED:ABORTED" in after.text  # type: ignore[operator]


def test_settings_and_the_screen_size_are_part_of_what_is_kept(answers: Answers,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    table = answers._on_screen(_jobs())
    answers.state.format = Format.JSON
    as_json = answers._on_screen(_jobs())
    assert as_json.text is not None and as_json.text.lstrip().startswith("[")
    answers.state.format = Format.TABLE
    assert answers._on_screen(_jobs()).text == table.text
    answers.state.expanded = Expanded.ON
    assert answers._on_screen(_jobs()).text != table.text  # each job a record
    answers.state.expanded = Expanded.OFF
    assert answers._on_screen(Outcome(format=Format.JSON, result=_jobs().result)).text == as_json.text

    _sized(answers.prompt, monkeypatch, 100)  # narrower than the table: it needs the pager (chopped) now
    narrow = answers._on_screen(_jobs())
    assert narrow.paged and not table.paged and narrow.text == table.text


def test_an_answer_taller_than_the_screen_goes_to_the_pager_and_is_not_kept(answers: Answers) -> None:
    tall = [dict(JOB, job_id=f"{n:08d}-f3a9-4704-be95-8ee16beabfcc") for n in range(60)]
    shown = answers._on_screen(Outcome(tall))
    assert shown.paged
    again = answers._on_screen(Outcome([dict(row) for row in tall]))
    assert again.paged and again is not shown and again.text == shown.text
