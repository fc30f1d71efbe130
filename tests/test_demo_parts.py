"""The demo's watch on its parts (console.demo_parts) with real child processes: a part that ends on its own is
said once, with its pid, how it ended and what to do; one the demo stops itself is not; unsubscribed, on stderr."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from console.demo_parts import PartWatch, how_it_ended


def _part() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_part_killed_is_said_and_one_the_demo_stops_is_not(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    site, server = _part(), _part()
    said: queue.Queue[str] = queue.Queue()
    watch = PartWatch({"site-2": (site, tmp_path / "site-2"), "server": (server, tmp_path / "server")},
                      "flare-console demo").start()
    try:
        watch.subscribe(said.put)
        site.send_signal(signal.SIGKILL)
        line = said.get(timeout=10)
        assert line.startswith(f"demo: site-2 (pid {site.pid}) ended: killed by SIGKILL (its log: "
                               f"{tmp_path / 'site-2' / 'log.txt'})"), line
        assert "leave (bye) and start the demo again: flare-console demo" in line
        watch.subscribe(None)  # the console left: on stderr
        watch.stopping.set()  # the demo stops the rest itself: nothing said
        server.terminate()
        server.wait(10)
        assert said.empty() and "server" not in capsys.readouterr().err
        assert watch.said == [line]
    finally:
        for proc in (site, server):
            proc.kill()
            proc.wait()


def test_how_a_part_ended_in_words() -> None:
    assert how_it_ended(3) == "exit code 3" and how_it_ended(-15) == "killed by SIGTERM"
    assert how_it_ended(-200) == "killed by signal 200"
