"""A FLARE login from a big current folder against one from an empty folder (flare9 item 1).

FLARE 2.9's library looked for comm_config.json by walking the current folder (8 walks per login);
ours searches the kit (``console.backends.nvflare_login._search_config_in_kit``). On one FLARE POC,
``flare-console --kit KIT -c "pwd server"`` is run from an empty folder and from a folder of FILES empty
files, alternately (both see the same load), REPEAT times each; the table gives the medians. With
``--checkout DIR``, the same runs with another checkout's console (``PYTHONPATH=DIR``), for a before/after.

    python benchmarks/bench_flare_login_cwd.py [--repeat 5] [--files 20000] [--checkout /path/to/older]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from nvflare_peer import running_poc

REPO = Path(__file__).resolve().parent.parent


def many_files(root: Path, files: int) -> Path:
    """``files`` empty files, 10 per folder, folders two deep (a checkout, a data folder)."""
    for i in range(0, files, 10):
        folder = root / f"d{i // 1000}" / f"e{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(10):
            (folder / f"f{k}.txt").touch()
    return root


def one_login(python: Path, checkout: Path, kit: Path, cwd: Path, home: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run([str(python), "-m", "console", "--kit", str(kit), "-c", "pwd server"], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"HOME": str(home), "PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"})
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the batch failed from {cwd}: {done.stderr[-500:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--checkout", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    checkouts = [("this checkout", REPO)] + ([("--checkout", args.checkout.resolve())] if args.checkout else [])
    with tempfile.TemporaryDirectory(prefix="bench-login-cwd-") as scratch:
        root = Path(scratch)
        folders = {"empty folder": root / "empty", f"{args.files} files": many_files(root / "big", args.files)}
        folders["empty folder"].mkdir()
        with running_poc() as poc:
            samples: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeat):  # alternated: every cell sees the same load
                for label, checkout in checkouts:
                    for where, folder in folders.items():
                        samples.setdefault((label, where), []).append(
                            one_login(poc.python, checkout, poc.admin_kit, folder, root))
    print(f"flare-console -c 'pwd server' on a FLARE POC, median of {args.repeat} (s)")
    print(f"{'console':16} {'empty folder':>14} {f'{args.files} files':>14}")
    for label, _ in checkouts:
        cells = [statistics.median(samples[(label, where)]) for where in folders]
        print(f"{label:16} {cells[0]:14.2f} {cells[1]:14.2f}")


if __name__ == "__main__":
    main()
