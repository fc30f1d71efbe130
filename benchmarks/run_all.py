"""``make bench``: every benchmark script in turn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_api.py", "bench_shell.py", "bench_load.py", "bench_models.py", "bench_live.py", "bench_store.py",
           "bench_list_jobs.py", "bench_download.py", "bench_audit_flood.py", "bench_audit_share.py", "bench_remote_paths.py",
           "bench_delete_flood.py", "bench_login_claims.py"]

if __name__ == "__main__":
    failed = [s for s in SCRIPTS if subprocess.call([sys.executable, str(HERE / s)], cwd=HERE) != 0]
    sys.exit(1 if failed else 0)
