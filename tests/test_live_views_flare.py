"""top and follow on a live NVIDIA FLARE 2.9 POC (the ``flare_poc`` fixture): polled, not pushed."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest
from screen import tmux_screen

from conftest import EXAMPLES

JOB = str(EXAMPLES / "hello-numpy-sag")
SUBMITTED = re.compile(r"Submitted job: ([0-9a-f-]{36})")
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")


class LogsOnDisk:
    """Each target's ``log.txt`` of one job, copied from the POC's workspace folders while the job
    runs (FLARE's stored log of a site may be "not available"; the workspace goes with the job)."""

    def __init__(self, flare_poc, job: str) -> None:
        self.paths = {t: flare_poc.poc.prod / t / job / "log.txt" for t in ("server", *flare_poc.sites)}
        self.copies = dict.fromkeys(self.paths, b"")
        self.rewritten: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._copy, daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        while True:
            last_round = self.stop.is_set()
            for target, path in self.paths.items():
                try:
                    data = path.read_bytes()
                except OSError:
                    continue  # not there yet, or removed with the job's workspace
                if not data.startswith(self.copies[target]):
                    self.rewritten.append(target)
                if len(data) >= len(self.copies[target]):
                    self.copies[target] = data
            if last_round:
                return
            self.stop.wait(0.05)

    def lines(self) -> dict[str, list[str]]:
        self.stop.set()
        self.thread.join(10)
        return {t: data.decode("utf-8", "replace").splitlines() for t, data in self.copies.items()}


@pytest.mark.timeout(300)
def test_top_and_follow_on_flare_while_a_job_runs(flare_poc, tmp_path: Path) -> None:
    """One FLARE job (about 15 s) watched both ways at once: a batch follows every target's log
    to the end, each line exactly once and in order as in the log on disk, while top, in a pty,
    shows its rounds polled and its end; q leaves top."""
    done = flare_poc.run_console(tmp_path, "-c", f"submit_job {JOB}", timeout=120)
    found = SUBMITTED.search(done.stdout)
    assert found, f"{done.stdout}\n{done.stderr}"
    job = found.group(1)
    on_disk = LogsOnDisk(flare_poc, job)
    follower = subprocess.Popen([str(flare_poc.python), *flare_poc.console_args("-c", f"follow {job[:8]} all -n 5")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=flare_poc.console_env(tmp_path))
    shell = flare_poc.spawn_console(tmp_path, NO_COLOR="1")
    try:
        shell.expect(PROMPT, timeout=60)
        screen = tmux_screen(shell, 40, 160)
        shell.send(f"monitor_job {job[:8]}\r")
        screen.wait_for(r"in the background.*\n(.*\n)*.*server>\s*\Z", timeout=60)
        shell.send(f"follow {job[:8]} all\r")
        screen.wait_for(r"following the log of .* in the background", timeout=60)
        shell.send("top\r")
        screen.wait_for(r"flare-console top .*\(polled every 1 s\)", timeout=30)
        screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected", timeout=30)
        # Polled: the job shows running (its round too, when a poll falls inside one), then ended.
        seen = screen.wait_for(rf"{job[:8]} +hello-numpy-sag +(RUNNING|FINISHED:COMPLETED) ", timeout=120)
        screen.wait_for(rf"{job[:8]} +hello-numpy-sag +FINISHED:COMPLETED", timeout=180)
        ended = f"log of {job[:8]} (hello-numpy-sag) ended with the job"
        # A follow that ended while top was open: its note is in top's foot, above its key line, never drawn
        # over the view; printed once above the prompt when top closes.
        screen.wait_for(rf"{re.escape(ended)}\n q quit ", timeout=60)
        shell.send("q")
        screen.wait_for(r"server>\s*\Z", timeout=30)
        if seen.group(1) == "RUNNING":  # the monitor's last line came while top was open (the seventh user's
            # finding 1): printed after it, not lost with top's screen
            screen.wait_for(rf"{job[:8]}  hello-numpy-sag  FINISHED:COMPLETED", timeout=30)
            whole = screen.screen.transcript()
            assert whole.rindex(f"{job[:8]}  hello-numpy-sag  FINISHED:COMPLETED") > whole.rindex("> top"), whole
        screen.wait_for(rf"{re.escape(ended)}\n(.*\n)*.*server>\s*\Z", timeout=30)
        whole = screen.screen.transcript()
        assert whole.count(ended) == 1 and whole.index(ended) > whole.rindex("> top"), whole

        out, err = follower.communicate(timeout=120)
        assert follower.returncode == 0, f"{out}\n{err}"
        lines = out.splitlines()
        for target in ("server", *flare_poc.sites):
            assert any(line.startswith(f"[{target}] ") for line in lines), out[-3000:]
        assert any("MPM: Good Bye!" in line for line in lines if line.startswith("[server] "))
        real = on_disk.lines()
        assert not on_disk.rewritten, on_disk.rewritten
        for target, written in real.items():
            # -n 5 then everything after: the followed lines are the log's last lines, each once,
            # in order (a repeated or a missed line, or a notice in between, fails here).
            followed = [line[len(target) + 3:] for line in lines if line.startswith(f"[{target}] ")]
            assert 5 <= len(followed) <= len(written), (target, len(followed), len(written))
            assert followed == written[len(written) - len(followed):], (target, followed[:8], written[-len(followed):][:8])
    finally:
        on_disk.stop.set()
        if shell.isalive():
            shell.terminate(force=True)
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)

