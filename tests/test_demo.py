"""``flare-console demo`` end to end with piped stdin: provision once, serve, run the batch, stop."""

from __future__ import annotations

from pathlib import Path

from shell_helpers import run_console


def test_demo_runs_a_batch_and_reuses_its_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    script = "submit_job hello-server\nlist_jobs\n"
    first = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin=script)
    assert first.returncode == 0, first.stderr
    assert "Submitted job: " in first.stdout and "server stopped" in first.stdout
    second = run_console(tmp_path, "demo", "--workspace", str(workspace), stdin="list_jobs\n")
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in (workspace / "demo_project").glob("prod_*")) == ["prod_00"]
    assert "hello-server" in second.stdout  # the job submitted by the first run is still there
    assert "prod_00" in second.stdout
