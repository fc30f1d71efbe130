"""top and follow on a live NVIDIA FLARE 2.9 POC (the ``flare_poc`` fixture): polled, not pushed."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pexpect
import pytest
from screen import tmux_screen

from conftest import EXAMPLES
from jobs import short_of_sites

JOB = str(EXAMPLES / "hello-numpy-sag")
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")


class LogsOnDisk:
    """Each target's ``log.txt`` of one job, copied from the POC's workspace folders while the job
    runs (FLARE's stored log of a site may be "not available"; the workspace goes with the job)."""

    def __init__(self, flare_poc, job: str) -> None:
        self.flare_poc, self.job = flare_poc, job
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

    def stored_server_log(self, home: Path) -> list[str]:
        """The server's log as FLARE's log store has it, when it continues the copy: the server writes its last
        lines just before its workspace goes, which a copier starved on a loaded machine may miss."""
        done = self.flare_poc.run_console(home, "--format", "json", "-c", f"get_job_logs {self.job} server")
        stored = json.loads(done.stdout).get("logs", {}).get("server", "") if done.returncode == 0 else ""
        copy = self.copies["server"].decode("utf-8", "replace")
        return stored.splitlines() if stored.startswith(copy) else copy.splitlines()

    def check_followed(self, out: str, target: str, at_least: int, home: Path) -> list[str]:
        """The lines ``out`` shows of ``target``: the log's last lines, each once, in order, at least ``at_least``
        (a repeated or a missed line, or a notice in between, fails here)."""
        followed = _followed(out, target)
        written = self.lines()[target]
        if target == "server" and followed != written[len(written) - len(followed):]:
            written = self.stored_server_log(home)
        assert at_least <= len(followed) <= len(written), (target, len(followed), len(written))
        assert followed == written[len(written) - len(followed):], (target, followed[:8], written[-len(followed):][:8])
        return followed


@pytest.fixture(scope="module")
def sag_job(flare_poc, tmp_path_factory: pytest.TempPathFactory):
    """One hello-numpy-sag job (about 15 s) submitted for this module's follows, and its logs copied from disk
    while it runs (FLARE's server removes its own copy when the job ends)."""
    home = tmp_path_factory.mktemp("sag-job")
    job = flare_poc.submit(home, JOB)
    on_disk = LogsOnDisk(flare_poc, job)
    try:
        yield job, on_disk
    finally:
        on_disk.stop.set()


def _followed(out: str, target: str) -> list[str]:
    return [line[len(target) + 3:] for line in out.splitlines() if line.startswith(f"[{target}] ")]


@pytest.mark.timeout(300)
def test_top_and_follow_on_flare_while_a_job_runs(flare_poc, sag_job, tmp_path: Path) -> None:
    """One FLARE job (about 15 s) watched both ways at once: a batch follows every target's log
    to the end, each line exactly once and in order as in the log on disk, while top, in a pty,
    shows its rounds polled and its end; q leaves top."""
    job, on_disk = sag_job
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
        # Its sites (FLARE's deploy_map: in its meta only) and its duration (listed once it ended), as a snapshot
        # shows them too (below).
        live = screen.wait_for(rf"{job[:8]} +hello-numpy-sag +FINISHED:COMPLETED +\S+ +2 +\d+:\d\d:\d\d .*",
                               timeout=30).group(0)
        ended = f"log of {job[:8]} (hello-numpy-sag) ended with the job (FINISHED:COMPLETED)"
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
        # top > FILE: the row the live view showed (session 12's user, item 1: SITES was "-" there).
        shell.send(f"top > {tmp_path / 'top.txt'}\r")
        screen.wait_for(r"wrote \d+ lines to ", timeout=60)
        [written] = [line for line in (tmp_path / "top.txt").read_text().splitlines() if line.startswith(job[:8])]
        assert re.split(r" {2,}", written.strip()) == re.split(r" {2,}", live.strip()), (written, live)

        out, err = follower.communicate(timeout=120)
        assert follower.returncode == 0, f"{out}\n{err}"
        lines = out.splitlines()
        for target in ("server", *flare_poc.sites):
            assert any(line.startswith(f"[{target}] ") for line in lines), out[-3000:]
        assert any("MPM: Good Bye!" in line for line in lines if line.startswith("[server] "))
        on_disk.lines()
        assert not on_disk.rewritten, on_disk.rewritten
        for target in ("server", *flare_poc.sites):  # -n 5 then everything after (from its start: a log that was
            on_disk.check_followed(out, target, 5, tmp_path)  # not there yet when the follow started)
    finally:
        if shell.isalive():
            shell.terminate(force=True)
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)


@pytest.mark.timeout(300)
def test_a_follow_of_all_started_after_the_job_ended_shows_every_targets_last_lines(flare_poc, sag_job,
                                                                                     tmp_path: Path) -> None:
    """FLARE's server removes its job workspace, log.txt with it, when the job ends (the sites keep theirs): a
    follow started after that showed every site's last lines and not one of the server's, exit 0 (a loaded CI
    run's, started late). The server's last lines come from FLARE's log store, as on disk, each once."""
    job, on_disk = sag_job
    ended = flare_poc.run_console(tmp_path, "-c", f"monitor_job {job[:8]}", timeout=180)  # at once if it has
    assert ended.returncode == 0, f"{ended.stdout}\n{ended.stderr}"
    workspace, deadline = flare_poc.poc.prod / "server" / job, time.monotonic() + 60
    while workspace.exists() and time.monotonic() < deadline:  # what the follow has to do without
        time.sleep(0.2)
    assert not workspace.exists()
    done = flare_poc.run_console(tmp_path, "-c", f"follow {job[:8]} all -n 5", timeout=120)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    on_disk.lines()  # after the follow: the sites write their last lines after the job's status
    for target in ("server", *flare_poc.sites):
        assert len(on_disk.check_followed(done.stdout, target, 5, tmp_path)) == 5, (done.stdout[-3000:], done.stderr)
    assert "MPM: Good Bye!" in _followed(done.stdout, "server")[-1]
    assert f"job {job} (hello-numpy-sag) ended FINISHED:COMPLETED" in done.stdout



@pytest.mark.timeout(300)
def test_a_batch_follow_on_flare_times_out_as_monitor_job(flare_poc, tmp_path: Path) -> None:
    """On FLARE as on ours: `follow JOB --timeout T` ends a batch (exit 1) naming the status once T passed, as
    monitor_job's does (its JSON events are the batch's own: tests/test_batch_streams.py)."""
    import shutil

    # Many rounds (aborted at the end): the job outlasts the follow's start however slow (a loaded CI run's
    # follow began after hello-numpy-sag's 3 rounds had ended, and rightly ended with the job, exit 0).
    folder = tmp_path / "long-numpy-sag"
    shutil.copytree(JOB, folder)
    config = folder / "app" / "config" / "config_fed_server.json"
    config.write_text(config.read_text().replace('"num_rounds": 3', '"num_rounds": 200'))
    job = flare_poc.submit(tmp_path, folder)
    try:
        timed = flare_poc.run_console(tmp_path, "-c", f"follow {job} --timeout 2", "-c", "list_jobs")
        assert timed.returncode == 1, f"{timed.stdout}\n{timed.stderr}"
        assert re.search(rf"job {job} \(hello-numpy-sag\) is still [A-Z:_]+ after --timeout 2 s", timed.stderr), \
            timed.stderr
        assert "job_name" not in timed.stdout  # the batch stopped there
        # --format json: both end with their closing document, timed out or not (README's promise)
        timed = flare_poc.run_console(tmp_path, "--format", "json", "--continue-on-error",
                                      "-c", f"follow {job} --timeout 1", "-c", f"monitor_job {job} --timeout 1")
        ends = [d for d in map(json.loads, timed.stdout.splitlines()) if "event" not in d]
        assert [d["job_id"] for d in ends] == [job, job] and all(d["status"] and d["message"] for d in ends), \
            f"{timed.stdout}\n{timed.stderr}"
    finally:  # the POC is the session's: the job does not run on into the next test
        flare_poc.run_console(tmp_path, "--yes", "-c", f"abort_job {job}")


@pytest.mark.timeout(300)
def test_a_job_short_of_sites_says_why_it_waits_and_its_unconnected_site_is_no_follow_target(
        flare_poc, tmp_path: Path) -> None:
    """flare10 item 15 on a live FLARE: a job whose deploy_map names a site that never connected stays SUBMITTED;
    monitor_job says why (FLARE's schedule_history), and so does its row in top; `follow J site-9` is refused as
    `ls site-9` is, not polled for ever in silence."""
    job = flare_poc.submit(tmp_path, short_of_sites(tmp_path, JOB, flare_poc.sites[0]))
    try:
        # FLARE's scheduler tries it within seconds of the submit; then the reason is in the meta, and the
        # monitor's first status event says it. One batch per try (each console logs in: seconds).
        for _ in range(10):
            done = flare_poc.run_console(tmp_path, "--format", "json", "--continue-on-error", "-c",
                                         f"monitor_job {job} --timeout 1", "-c", f"follow {job} site-9 --timeout 30")
            if "min_sites" in done.stdout:
                break
        events = [d for d in map(json.loads, done.stdout.splitlines()) if d.get("event") == "status"]
        assert events and events[0]["status"] == "SUBMITTED", done.stdout
        assert events[0].get("waiting") == "connected sites (1) < min_sites (2)", done.stdout
        assert done.returncode == 1 and f"site-9 is a site of job {job[:8]} but is not connected" in done.stderr, \
            f"{done.stdout}\n{done.stderr}"
        # top: the job's row says why it waits (its last column, empty of metrics while it waits), not only
        # the details pane.
        shell = flare_poc.spawn_console(tmp_path, NO_COLOR="1")
        try:
            shell.expect(PROMPT, timeout=60)
            screen = tmux_screen(shell, 40, 160)
            shell.send("top\r")
            screen.wait_for(rf"{job[:8]} +needs-site-9 +SUBMITTED .*not scheduled yet: connected sites \(1\) < "
                            r"min_sites \(2\)", timeout=60)
            shell.send("q")
            screen.wait_for(r"server>\s*\Z", timeout=30)
            # bye while a monitor runs (the job waits for ever): the console leaves at once, its poll stopped.
            shell.send(f"monitor_job {job[:8]}\r")
            screen.wait_for(r"in the background.*\n(.*\n)*.*server>\s*\Z", timeout=60)
            shell.send("bye\r")
            shell.expect(pexpect.EOF, timeout=30)
            shell.close()
            assert shell.exitstatus == 0, (shell.exitstatus, shell.signalstatus)
        finally:
            if shell.isalive():
                shell.terminate(force=True)
    finally:
        flare_poc.run_console(tmp_path, "--yes", "-c", f"abort_job {job}", "-c", f"delete_job {job}")
