"""``flare-console demo`` end to end with piped stdin: provision once, federate, run the batch, stop."""

from __future__ import annotations

from pathlib import Path

from shell_helpers import run_console


def test_demo_federates_runs_a_batch_and_reuses_its_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "demo"
    first = run_console(tmp_path, "demo", "--workspace", str(workspace),
                        stdin="submit_job hello-numpy\ncheck_status client\n")
    assert first.returncode == 0, first.stderr
    assert "demo stopped: server and sites are down" in first.stdout
    job_id = next(line for line in first.stdout.splitlines() if line.startswith("Submitted job: ")).split()[-1]
    assert "site-1" in first.stdout and "site-2" in first.stdout  # both sites were connected

    second = run_console(tmp_path, "demo", "--workspace", str(workspace),
                         stdin=f"monitor_job {job_id} --interval 0.2\nlist_jobs\n")
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in (workspace / "demo_project").glob("prod_*")) == ["prod_00"]
    # The job submitted by the first run was abandoned when it stopped, or finished first.
    assert f"{job_id[:8]}  hello-numpy  FINISHED:" in second.stdout
