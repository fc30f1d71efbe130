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


def test_progress_sizes_and_line() -> None:
    from console.shell.progress import progress_text, size_text

    assert [size_text(n) for n in (812, 45_200_000, 1_500_000_000, 5_300)] == ["812 B", "45.2 MB", "1.50 GB",
                                                                              "5.30 kB"]
    assert progress_text("download_job 3f2a1b2c", 45_200_000, 6_100_000, 12.4) == \
        "download_job 3f2a1b2c: 45.2 MB received, 6.10 MB/s, 12 s"


def test_a_spool_probe_counts_new_spools_only_and_never_goes_down(tmp_path) -> None:
    import os
    import time
    import uuid

    from console.backends.spools import UUID_GLOB, spool_probe

    old = tmp_path / ".flare-download-old"
    old.mkdir()
    (old / "result.zip").write_bytes(b"x" * 500)
    os.utime(old / "result.zip", (time.time() - 60, time.time() - 60))  # another, earlier download's
    probe = spool_probe((tmp_path, ".flare-download-*/result.zip"), (tmp_path, UUID_GLOB))
    assert probe() == 0
    spool = tmp_path / ".flare-download-new"
    spool.mkdir()
    (spool / "result.zip").write_bytes(b"x" * 1000)
    (spool / "unpacked.bin").write_bytes(b"x" * 9999)  # not a spool file
    (tmp_path / str(uuid.uuid4())).write_bytes(b"x" * 24)  # FLARE's, in the temporary folder
    (tmp_path / "not-a-uuid").write_bytes(b"x" * 7)
    assert probe() == 1024
    (spool / "result.zip").unlink()  # unpacked and removed: the line keeps what was received
    assert probe() == 1024


async def _no_progress_in_a_batch() -> None:
    import asyncio
    import io

    from console.shell.batch import BatchFrontend
    from console.shell.output import Format
    from console.shell.progress import progress_line

    out = io.StringIO()
    async with progress_line(BatchFrontend(Format.TABLE, out), lambda: 10**6, "download_job x"):
        await asyncio.sleep(0.2)
    assert out.getvalue() == ""


def test_a_batch_shows_no_progress_line(monkeypatch) -> None:
    import asyncio

    from console.shell import progress

    monkeypatch.setattr(progress, "FIRST_AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.01)
    asyncio.run(_no_progress_in_a_batch())
