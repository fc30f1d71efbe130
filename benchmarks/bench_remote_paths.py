"""Remote path completion (``cat server <Tab>``) on a real server: how soon a folder's names are there,
what a keystroke costs once they are, and the longest the event loop (where keys are read) is held
while a folder of 100,000 files is fetched and taken in.

Run: ``.venv/bin/python benchmarks/bench_remote_paths.py`` (also in ``make bench``). Prints medians.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.backends.opening import open_backend
from console.shell.completion import CompletionData, ShellCompleter
from console.shell.remote_paths import RemoteFolders

from common import ADMIN, make_project, median_ms, print_table, running_server, scratch

MANY = 100_000


def _fill(workspace: Path) -> None:
    (workspace / "few").mkdir()
    for i in range(20):
        (workspace / "few" / f"result-{i:02}.txt").write_bytes(b"")
    many = workspace / "many"
    many.mkdir()
    for i in range(MANY):
        (many / f"part-{i:06}.bin").write_bytes(b"")


async def _stall_while(work: asyncio.Future[object]) -> float:
    """The longest gap between 1 ms ticks of the loop while ``work`` runs (a key waits that long)."""
    longest = 0.0
    last = time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest = max(longest, now - last - 0.001)
        last = now
    await work
    return longest


async def _measure(admin_kit: Path) -> list[tuple[str, str, str, str]]:
    backend = await open_backend(admin_kit)
    rows = []
    try:
        small = []
        for _ in range(15):
            started = time.perf_counter()
            names = await backend.folder_names("server", "few")
            small.append(time.perf_counter() - started)
        assert len(names) == 20, names
        rows.append(("names of a 20-file folder, asked and read", f"{median_ms(small):.1f} ms", "", str(len(small))))

        fetches, stalls = [], []
        for _ in range(5):
            ready = asyncio.Event()
            folders = RemoteFolders(backend.folder_names, on_ready=ready.set, deadline=30)
            started = time.perf_counter()
            folders.names("server", "many")
            stalls.append(await _stall_while(asyncio.ensure_future(ready.wait())))
            fetches.append(time.perf_counter() - started)
        rows.append((f"names of a {MANY:,}-file folder, until kept (sorted, first 20,000)",
                     f"{median_ms(fetches):.0f} ms", "", str(len(fetches))))
        rows.append(("  longest the loop was held meanwhile (a key's wait)", f"{median_ms(stalls):.1f} ms",
                     "<= 10 ms", f"max {max(stalls) * 1000:.1f} ms"))
        # The same ticks with nothing fetched, as long: what the machine's other load alone costs.
        idle = [await _stall_while(asyncio.ensure_future(asyncio.sleep(statistics.median(fetches))))
                for _ in range(5)]
        rows.append(("  the same with nothing fetched (the machine's own noise)", f"{median_ms(idle):.1f} ms", "",
                     f"max {max(idle) * 1000:.1f} ms"))

        completer = ShellCompleter(CompletionData, remote=folders)
        keys = []
        for text in ("cat server many/", "cat server many/p", "cat server many/part-01", "cat server many/part-0199"):
            for _ in range(50):
                started = time.perf_counter()
                offered = list(completer.get_completions(Document(text, len(text)), CompleteEvent()))
                keys.append(time.perf_counter() - started)
            assert offered, text
        rows.append(("a keystroke's completion in that folder (menu <= 200)", f"{median_ms(keys):.2f} ms",
                     "<= 10 ms", f"p99 {sorted(keys)[int(len(keys) * 0.99)] * 1000:.2f} ms"))
    finally:
        await backend.close()
    return rows


def main() -> None:
    with scratch() as tmp:
        prod = make_project(tmp)
        _fill(prod / "server")
        with running_server(prod):
            rows = asyncio.run(_measure(prod / ADMIN))
    print_table("remote path completion (loopback, our server, medians)", rows)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
