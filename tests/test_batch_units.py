"""What scripts read from the console, piece by piece: machine fields of a command's outcome."""

from __future__ import annotations

import json

from console.shell.client_side import Outcome
from console.shell.output import Format

JOB = "0a1b2c3d-0000-4000-8000-000000000001"


def test_a_new_jobs_id_is_a_field_in_json_and_the_answer_in_raw() -> None:
    outcome = Outcome(message=f"Submitted job: {JOB}", fields={"job_id": JOB}, answer=JOB)
    assert json.loads(outcome.message_as(Format.JSON)) == {"job_id": JOB, "message": f"Submitted job: {JOB}"}
    assert outcome.message_as(Format.RAW) == JOB
    assert outcome.message_as(Format.TABLE) == f"Submitted job: {JOB}"  # people keep the sentence


def test_a_message_without_fields_stays_a_message() -> None:
    outcome = Outcome(message="no monitors running")
    assert json.loads(outcome.message_as(Format.JSON)) == {"message": "no monitors running"}
    assert outcome.message_as(Format.RAW) == "no monitors running"
    # An answer with control characters is shown visibly, as any server text.
    assert "\x1b" not in Outcome(message="x", answer="id\x1b[2J").message_as(Format.RAW)


def test_running_duration_as_flares_list_jobs() -> None:
    from datetime import UTC, datetime

    from console.server.job_queries import running_duration

    now = datetime(2026, 1, 1, 12, 0, 5, 500000, tzinfo=UTC)
    assert running_duration("RUNNING", "2026-01-01T12:00:00+00:00", now) == "0:00:05.500000"
    assert running_duration("RUNNING", "2026-01-01T13:00:00+01:00", now) == "0:00:05.500000"
    assert running_duration("FINISHED:COMPLETED", "2026-01-01T12:00:00+00:00", now) is None  # its stored one stays
    assert running_duration("RUNNING", None, now) is None and running_duration("RUNNING", "yesterday", now) is None
