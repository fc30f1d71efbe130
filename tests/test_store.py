"""The job store on its own: final-status guard, prefixes, listing, crash debris, locking."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from console.server.status import JobStatus
from console.server.store import JobStore, StoreLocked, Submitter
from console.wire.errors import ErrorType, RemoteError

ME = Submitter("admin@example.com", "example", "project_admin")


def _add(store: JobStore, tmp: Path, job_id: str, name: str = "job") -> dict:
    archive = tmp / f"{job_id}.zip"
    archive.write_bytes(b"zip")
    fields = {"name": name, "deploy_map": {"app": ["server"]}, "min_clients": 0, "mandatory_clients": [],
              "resource_spec": {}}
    return store.create_job(job_id, archive, fields, "folder", ME)


@pytest.fixture
def store(tmp_path: Path):
    s = JobStore(tmp_path / "store")
    yield s
    s.close()


def test_final_status_is_never_overwritten(store: JobStore, tmp_path: Path) -> None:
    _add(store, tmp_path, "aaaa-1")
    assert store.set_status("aaaa-1", JobStatus.RUNNING, start_time="2026-01-01T00:00:00+00:00")
    assert store.set_status("aaaa-1", JobStatus.FINISHED_ABORTED)["duration"] != "N/A"
    assert store.set_status("aaaa-1", JobStatus.RUNNING) is None
    assert store.set_status("aaaa-1", JobStatus.FINISHED_COMPLETED) is None
    assert store.get("aaaa-1")["status"] == "FINISHED:ABORTED"


def test_prefix_resolution(store: JobStore, tmp_path: Path) -> None:
    for job_id in ("abc-1", "abd-2", "b-3"):
        _add(store, tmp_path, job_id)
    assert store.resolve("abc") == "abc-1"
    assert store.resolve("b") == "b-3"
    with pytest.raises(RemoteError) as err:
        store.resolve("ab")
    assert err.value.error_type is ErrorType.INVALID_ARGUMENT and "abc-1" in err.value.message
    with pytest.raises(RemoteError) as err:
        store.resolve("zz")
    assert err.value.error_type is ErrorType.JOB_NOT_FOUND and err.value.message == "no such job: zz; list_jobs shows your jobs"


def test_listing_order_filters_and_limit(store: JobStore, tmp_path: Path) -> None:
    for i, name in enumerate(["alpha", "beta", "alpine", "gamma"]):
        _add(store, tmp_path, f"id-{i}", name)
    assert [m["name"] for m in store.list_jobs()] == ["alpha", "beta", "alpine", "gamma"]
    assert [m["name"] for m in store.list_jobs(reverse=True, limit=2)] == ["gamma", "alpine"]
    assert [m["name"] for m in store.list_jobs(name_prefix="al")] == ["alpha", "alpine"]
    assert [m["job_id"] for m in store.list_jobs(id_prefix="id-2")] == ["id-2"]
    assert store.list_jobs(submitter="nobody") == []


def test_listing_limits_and_filters_as_flare(store: JobStore, tmp_path: Path) -> None:
    """FLARE 2.9's list_jobs: sort by submit time, then jobs[-m:] (or jobs[:m] with -r)."""
    names = ["Alpha", "beta", "alpine", "gamma", "ALPS", "émile", "Émilie"]
    for i, name in enumerate(names):
        _add(store, tmp_path, f"id-{i}", name)
    listed = lambda **kw: [m["name"] for m in store.list_jobs(**kw)]  # noqa: E731
    assert listed(limit=2) == ["émile", "Émilie"]  # the two most recent, in submit order
    assert listed(limit=1) == ["Émilie"]  # "my last job"
    assert listed(limit=2, reverse=True) == ["Émilie", "émile"]
    assert listed(limit=0) == names and listed(limit=99) == names
    assert listed(name_prefix="al") == ["Alpha", "alpine", "ALPS"]  # case-insensitive, as FLARE
    assert listed(name_prefix="AL", limit=2) == ["alpine", "ALPS"]
    assert listed(name_prefix="ÉM") == ["émile", "Émilie"]
    assert [m["job_id"] for m in store.list_jobs(id_prefix="ID-3")] == ["id-3"]
    assert store.resolve("ID-4") == "id-4"
    # The scheduler's queue keeps the oldest instead.
    assert [m["name"] for m in store.list_jobs(limit=2, keep_oldest=True)] == ["Alpha", "beta"]


def test_restart_abandons_active_jobs_and_removes_debris(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = JobStore(root)
    _add(store, tmp_path, "run-1")
    _add(store, tmp_path, "wait-1")
    store.set_status("run-1", JobStatus.RUNNING)
    store.close()
    (root / "jobs" / "orphan").mkdir()  # a job whose row never committed
    (root / "incoming" / "half.zip").write_bytes(b"partial")
    store = JobStore(root)
    try:
        assert store.abandon_active() == ["run-1"]
        assert store.get("run-1")["status"] == "FINISHED:ABANDONED"
        assert store.get("wait-1")["status"] == "SUBMITTED"
        assert not (root / "jobs" / "orphan").exists()
        assert list((root / "incoming").iterdir()) == []
        db = sqlite3.connect(root / "jobs.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    finally:
        store.close()


def test_one_server_per_store(store: JobStore, tmp_path: Path) -> None:
    with pytest.raises(StoreLocked, match="already running"):
        JobStore(tmp_path / "store")


def test_writes_handed_to_the_writer_run_in_order_off_the_caller_and_survive(tmp_path: Path) -> None:
    """``write`` runs the store's writes on its one writer thread, in the order handed over (a
    late RUNNING after the final status is refused as ever); ``close`` finishes them, and a new
    store on the same folder finds every one (each was committed with an fsync)."""
    root = tmp_path / "store"
    store = JobStore(root)
    _add(store, tmp_path, "job-1")
    writer = store.write(threading.current_thread)
    store.write(store.set_status, "job-1", JobStatus.RUNNING, start_time="2026-01-01T00:00:00+00:00")
    for round_number in range(1, 51):
        store.write(store.update_meta, "job-1", round_metrics=[{"round": round_number}])
    final = store.write(store.set_status, "job-1", JobStatus.FINISHED_COMPLETED)
    late = store.write(store.set_status, "job-1", JobStatus.RUNNING)
    assert final.result(timeout=30)["status"] == "FINISHED:COMPLETED"
    assert late.result(timeout=30) is None
    assert writer.result(timeout=30) is not threading.current_thread()
    store.close()
    reopened = JobStore(root)
    try:
        meta = reopened.get("job-1")
        assert meta["status"] == "FINISHED:COMPLETED" and meta["round_metrics"] == [{"round": 50}]
    finally:
        reopened.close()
