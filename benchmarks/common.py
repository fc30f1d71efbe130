"""Shared pieces of the benchmark scripts: a provisioned project, a server process, tables."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from timing import finish_time, timed  # noqa: F401  (re-exported for the benchmark scripts)

from console.demo import start_part, stop_parts
from console.ports import free_port
from console.provision.kits import provision

ADMIN = "admin@example.com"
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def make_project(root: Path) -> Path:
    project_file = root / "bench.yml"
    project_file.write_text(yaml.safe_dump({"name": "bench", "participants": [
        {"name": "server", "type": "server", "org": "bench", "host": "localhost",
         "fed_learn_port": free_port(), "admin_port": free_port()},
        {"name": "site-1", "type": "client", "org": "bench"},
        {"name": "site-2", "type": "client", "org": "bench"},
        {"name": ADMIN, "type": "admin", "org": "bench", "role": "project_admin"},
    ]}))
    return Path(provision(project_file, root / "workspace"))


def _start_part(part: str, kit: Path, ready: bytes) -> subprocess.Popen[bytes]:
    log = kit / f"{part}-stderr.txt"
    log.write_bytes(b"")
    proc = start_part(part, kit)
    deadline = time.monotonic() + 30
    while ready not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text())
        time.sleep(0.02)
    return proc


def quick_job(root: Path, steps: int, step_seconds: float) -> Path:
    """examples/hello-server with its step plan changed."""
    folder = root / f"quick-{steps}x{step_seconds}"
    shutil.copytree(EXAMPLES / "hello-server", folder)
    (folder / "app" / "config" / "config_fed_server.json").write_text(
        json.dumps({"controller": "hello:run", "args": {"steps": steps, "step_seconds": step_seconds}}))
    return folder


@contextmanager
def running_server(prod: Path, sites: tuple[str, ...] = ()) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The server (and the named sites, each connected) until the block ends."""
    procs = [_start_part("server", prod / "server", b"admin endpoint listening")]
    try:
        for site in sites:
            procs.append(_start_part("site", prod / site, b"connected to the server"))
        yield procs
    finally:
        stop_parts(procs)


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="flare-bench-") as tmp:
        yield Path(tmp)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def print_table(title: str, rows: list[tuple[str, str, str, str]],
                header: tuple[str, str, str, str] = ("measure", "median", "target", "runs")) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
