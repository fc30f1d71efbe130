"""Security findings 7 and 10: what a job's code makes the server record of its metrics is
bounded (bytes per round and per job, nesting depth), each refusal said in the job's errors,
and list_jobs does not read any job's recorded metrics.

The rule on its own (``RoundMetrics``), the store keeping ``round_metrics`` beside the meta
(an older store's moved there when opened), and a real server running the tester's fat-meta
job shape.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.runtime.limits import (
    MAX_JOB_METRICS_BYTES,
    MAX_METRICS_BYTES,
    MAX_METRICS_DEPTH,
    MAX_ROUND_METRICS_BYTES,
    NestedTooDeep,
    check_json,
    json_depth,
)
from console.server.round_metrics import RoundMetrics
from console.server.status import JobStatus
from console.server.store import JobStore, Submitter

from conftest import ADMIN, Served
from jobs import hello_server

ME = Submitter(ADMIN, "example", "project_admin")


def _round(number: int, site_bytes: int = 0, aggregated_bytes: int = 0) -> dict:
    return {"round": number, "metrics": {"site-1": {"blob": "s" * site_bytes, "loss": 0.5}},
            "aggregated": {"loss": 1.0 / number, "blob": "a" * aggregated_bytes}}


def test_a_round_over_its_bound_loses_its_per_site_part_then_itself() -> None:
    book = RoundMetrics()
    assert book.add({"round": 1, "metrics": {}, "aggregated": {}}) == (False, None)  # no metrics: nothing kept
    assert book.add(_round(1)) == (True, None)
    changed, error = book.add(_round(2, site_bytes=MAX_ROUND_METRICS_BYTES))
    assert changed and "its per-site metrics were kept out" in error, error
    assert book.entries[-1]["sites"] == {} and book.entries[-1]["aggregated"]["loss"] == 0.5
    assert book.add(_round(3, site_bytes=MAX_ROUND_METRICS_BYTES)) == (True, None)  # said once
    changed, error = book.add(_round(4, aggregated_bytes=MAX_ROUND_METRICS_BYTES))
    assert not changed and "the round was kept out" in error, error
    assert [e["round"] for e in book.entries] == [1, 2, 3]


def test_a_job_past_its_bytes_keeps_its_first_rounds_and_says_so_once() -> None:
    book = RoundMetrics()
    per_round = MAX_ROUND_METRICS_BYTES // 2
    errors = [book.add(_round(n, aggregated_bytes=per_round))[1] for n in range(1, 400)]
    said = [e for e in errors if e]
    assert len(said) == 1 and f"reached the limit of {MAX_JOB_METRICS_BYTES} bytes" in said[0], said
    kept = [e["round"] for e in book.entries]
    assert kept == list(range(1, len(kept) + 1)) and len(kept) < 399
    assert sum(book.sizes) <= MAX_JOB_METRICS_BYTES
    assert sum(len(json.dumps(e, separators=(",", ":"))) for e in book.entries) == sum(book.sizes)


def _job(store: JobStore, tmp: Path, job_id: str) -> None:
    archive = tmp / f"{job_id}.zip"
    archive.write_bytes(b"zip")
    store.create_job(job_id, archive, {"name": f"n-{job_id}", "deploy_map": {"app": ["server"]}}, "folder", ME)


def test_round_metrics_and_errors_live_beside_the_meta_and_listing_never_reads_them(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store")
    try:
        for job_id in ("aaaa", "bbbb"):
            _job(store, tmp_path, job_id)
        rounds = [{"round": 1, "aggregated": {"loss": 0.5}, "sites": {}}]
        store.update_meta("aaaa", round_metrics=rounds, schedule_count=2)
        assert store.get("aaaa")["round_metrics"] == rounds and store.get("aaaa")["schedule_count"] == 2
        assert "round_metrics" not in store.get("bbbb")
        raw = store._db.execute("SELECT meta FROM jobs WHERE job_id='aaaa'").fetchone()[0]  # noqa: SLF001
        assert "round_metrics" not in json.loads(raw)
        assert all("round_metrics" not in m for m in store.list_jobs())
        rows = store.list_rows(reverse=True)
        assert [(r["job_id"], r["job_name"], r["status"], r["duration"], r["study"]) for r in rows] == [
            ("bbbb", "n-bbbb", "SUBMITTED", "N/A", "default"), ("aaaa", "n-aaaa", "SUBMITTED", "N/A", "default")]
        assert rows[1]["submit_time"] == store.get("aaaa")["submit_time_iso"]
        final = store.set_status("aaaa", JobStatus.FINISHED_EXECUTION_EXCEPTION, job_errors={"server": ["boom"]})
        assert final["job_errors"] == {"server": ["boom"]} and store.get("aaaa")["job_errors"] == {"server": ["boom"]}
        assert all("job_errors" not in m for m in store.list_jobs())
        store.delete_job("aaaa", Submitter("admin@example.com", "example", "project_admin"))
        assert store._db.execute("SELECT COUNT(*) FROM job_extras").fetchone()[0] == 0  # noqa: SLF001
    finally:
        store.close()


def test_an_older_store_has_its_round_metrics_and_errors_moved_beside_when_opened(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "store")
    _job(store, tmp_path, "aaaa")
    store.close()
    rounds = [{"round": r, "aggregated": {"loss": 1 / r}, "sites": {}} for r in (1, 2)]
    db = sqlite3.connect(tmp_path / "store" / "jobs.db")  # as a server before job_extras wrote it
    meta = json.loads(db.execute("SELECT meta FROM jobs").fetchone()[0])
    db.execute("UPDATE jobs SET meta=?", (json.dumps({**meta, "round_metrics": rounds, "job_errors": {"s": ["x"]}}),))
    db.execute("DELETE FROM job_extras")
    db.execute("PRAGMA user_version=0")
    db.commit()
    db.close()
    store = JobStore(tmp_path / "store")
    try:
        assert store.get("aaaa")["round_metrics"] == rounds and store.get("aaaa")["job_errors"] == {"s": ["x"]}
        assert "round_metrics" not in store.list_jobs()[0] and "job_errors" not in store.list_jobs()[0]
    finally:
        store.close()


FAT = '''
def run(ctx):
    for r in range(1, 161):  # the tester's fat-meta shape, its aggregated part near a round's 16 KiB
        ctx.progress(round=r, metrics={"site-x": {f"m{i:04d}": float(i + r) for i in range(400)}},
                     aggregated={"loss": 1.0 / r, "blob": "a" * 15000})
'''


@pytest.fixture(scope="module")
def session(served: Served) -> Iterator[object]:
    from console.flare_api import new_secure_session

    sess = new_secure_session(ADMIN, str(served.project.admin_kit), timeout=10)
    try:
        yield sess
    finally:
        sess.close()


@pytest.mark.timeout(120)
def test_a_fat_metrics_job_is_bounded_and_told(session, tmp_path: Path) -> None:
    job = hello_server(tmp_path, name="fat-meta")
    (job / "app" / "custom" / "hello.py").write_text(FAT)
    job_id = session.submit_job(str(job))
    meta = session.wait_for_job(job_id, timeout=90)
    assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
    errors = meta["job_errors"]["server"]
    assert len(errors) == 2, errors
    assert "round 1's metrics take" in errors[0] and "per-site metrics were kept out" in errors[0]
    assert "round_metrics): round " in errors[1] and "and later ones were kept out" in errors[1]
    recorded = meta["round_metrics"]
    assert len(json.dumps(recorded)) < MAX_JOB_METRICS_BYTES + 10_000
    assert [e["round"] for e in recorded] == list(range(1, len(recorded) + 1)) and len(recorded) < 160
    assert all(e["sites"] == {} for e in recorded)
    assert job_id in [row["job_id"] for row in session.list_jobs()]


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_metrics_deeper_than_the_bound_are_refused_at_the_job_process() -> None:
    check_json({"loss": _nested(MAX_METRICS_DEPTH - 1)}, MAX_METRICS_BYTES, "metrics")
    with pytest.raises(NestedTooDeep, match="deeper than the limit of 32 levels"):
        check_json({"loss": _nested(MAX_METRICS_DEPTH)}, MAX_METRICS_BYTES, "metrics")
    assert json_depth(_nested(200_000), 32) == 33  # counted without recursion, and no further than needed
    assert json_depth({"a": [1, {"b": 2}]}, 32) == 3 and json_depth(5, 32) == 0


def test_a_site_answer_with_metrics_too_deep_is_refused_by_the_server() -> None:
    from console.server.task_answers import task_answer

    assert task_answer({"weight": 2, "metrics": {"loss": _nested(MAX_METRICS_DEPTH - 1)}})[0] == 2.0
    with pytest.raises(ValueError, match="deeper than the limit of 32 levels"):
        task_answer({"metrics": {"loss": _nested(MAX_METRICS_DEPTH)}})


def test_a_round_nested_too_deep_is_kept_out_and_said() -> None:
    book = RoundMetrics()
    changed, error = book.add({"round": 1, "metrics": {"site-1": {"loss": _nested(40)}}, "aggregated": {"loss": 1}})
    assert not changed and "deeper than the limit of 34 levels" in error, error
    assert book.add({"round": 2, "metrics": {"site-1": {"loss": 0.5}}, "aggregated": {"loss": 1}}) == (True, None)


DEEP = '''
def run(ctx):
    def nested(depth):
        value = 1
        for _ in range(depth):
            value = [value]
        return value

    try:  # the tester's deep-metrics job: refused here, and said in the job's errors though caught
        ctx.progress(round=1, metrics={"site-x": {"loss": nested(900)}}, aggregated={"loss": 1})
    except Exception as exc:
        ctx.logger.info("progress refused: %r", exc)
    # Job code that writes its own lines past ctx.progress: the server keeps out what is too deep...
    ctx.channel.emit("progress", data={"round": 2, "metrics": {"site-x": {"loss": nested(100)}}})
    # ... and says so for a line no parser reads.
    ctx.channel.emit("progress", data={"round": 3, "metrics": {"site-x": {"loss": nested(980)}}})
    ctx.progress(round=4, metrics={"site-x": {"loss": 0.25}}, aggregated={"loss": 0.25})
'''


@pytest.mark.timeout(120)
def test_a_deep_metrics_job_is_refused_and_told(session, tmp_path: Path) -> None:
    job = hello_server(tmp_path, name="deep-metrics")
    (job / "app" / "custom" / "hello.py").write_text(DEEP)
    meta = session.wait_for_job(session.submit_job(str(job)), timeout=90)
    assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
    errors = meta["job_errors"]["server"]
    assert len(errors) == 3, errors
    assert errors[0].startswith("progress refused: a progress event nests objects or arrays deeper than the limit "
                                "of 34 levels"), errors
    assert "round 2's metrics nest objects or arrays deeper than the limit of 34 levels" in errors[1], errors
    assert "cannot read (it nests arrays or objects too deeply); it was ignored" in errors[2], errors
    assert [e["round"] for e in meta["round_metrics"]] == [4]
    assert len(json.dumps(meta, indent=2)) < 10_000  # was 1.6 MB printed with `set format json`
