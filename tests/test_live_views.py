"""The live views in a real pty (pexpect) against a real server and sites: top, follow, plot."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pyte
import pytest
from relay import Relay, kit_through
from screen import Screen, tmux_screen
from shell_helpers import CONSOLE, PROMPT, console_env, run_console, wrapped

from conftest import Federation, Project, wait_until
from jobs import numpy_job, stalling_job, waiting_for_sites

#: A trainer that writes a log line per round and reports metrics that change by round.
LOGGING_TRAINER = '''
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    ctx.logger.info("%s training round %d of %d", ctx.site_name, ctx.round, ctx.num_rounds)
    deadline = time.monotonic() + {sleep}
    while time.monotonic() < deadline and not ctx.aborted():
        time.sleep(0.02)
    bonus = 0.05 if ctx.site_name == "site-1" else 0.0
    return TaskResult({{k: v + 1 for k, v in model.items()}}, weight=1.0,
                      metrics={{"accuracy": 0.5 + 0.1 * ctx.round + bonus, "loss": 1.0 / ctx.round}})
'''


def logging_job(root: Path, *, rounds: int, sleep: float, name: str = "live-job") -> Path:
    folder = numpy_job(root, name=name, rounds=rounds, sleep=sleep)
    (folder / "app" / "custom" / "trainer.py").write_text(LOGGING_TRAINER.format(sleep=sleep))
    return folder


def spawn_shell(project, home: Path, dimensions: tuple[int, int] = (40, 160), **env: str) -> pexpect.spawn:
    (home / "tmp").mkdir(exist_ok=True)
    return pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)],
                         env=console_env(home, NO_COLOR="1", TMPDIR=str(home / "tmp"), **env),
                         encoding="utf-8", timeout=20, dimensions=dimensions)


@pytest.fixture
def project(fed: Federation) -> Project:
    """The module's shared federation (conftest ``fed``): each test starts its own console."""
    return fed.project


@pytest.fixture
def session(fed: Federation) -> Any:
    return fed.session


@pytest.fixture
def shell(project: Project, tmp_path: Path) -> Iterator[pexpect.spawn]:
    child = spawn_shell(project, tmp_path)
    try:
        child.expect(PROMPT)
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_follow_streams_while_typing_and_unfollow_stops_it(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=60, sleep=0.5)))  # aborted at the end
    shell.send(f"follow {job_id[:8]} all -n 0\r")
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    shell.send("list_jo")  # half a command typed while lines arrive above it
    shell.expect(re.compile(r"\[site-2\] [^\r\n]*site-2 training round 2 of 60"))
    shell.expect(re.compile(r"\[server\] [^\r\n]*round 2/60"))
    shell.send("bs\r")  # the half-typed line survived the lines printed above it
    shell.expect_exact("live-job")
    shell.expect(PROMPT)
    shell.send(f"monitor_job {job_id[:8]}\r")  # a followed log does not keep its status from being monitored
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    shell.send("monitors\r")
    shell.expect(re.compile(r"(log: all[^\n]*\n[^\n]*status|status[^\n]*\n[^\n]*log: all)"))
    shell.expect(PROMPT)
    shell.send("unfollow\r")  # the one log followed (report 10 #17: it was "JOB_ID is missing")
    shell.expect_exact("stopped following 1 log")
    shell.expect(PROMPT)
    shell.send("unfollow\r")
    shell.expect_exact("no followed log runs; 'monitors' lists what runs in the background")
    shell.expect(PROMPT)
    # Terminal tester: 'follow all' said "JobNotFound: no such job: all"; 'follow' alone was a usage error
    # with one job running, where 'unfollow' alone takes the one followed.
    shell.send("follow all\r")
    shell.expect(wrapped("'all' is a target, not a job: follow JOB [all|server|SITE] (the job first)"))
    shell.expect(PROMPT)
    shell.send("follow -n 0\r")
    shell.expect_exact(f"following the log of {job_id[:8]} (live-job) on server in the background")
    shell.expect(PROMPT)
    shell.send("unfollow\r")
    shell.expect_exact("stopped following 1 log")
    shell.expect(PROMPT)
    shell.send(f"follow {job_id[:8]} server -n 0 --timeout 1\r")  # as monitor_job's: it stops by itself
    shell.expect_exact("in the background")
    shell.expect_exact(f"stopped following the log of {job_id[:8]} (live-job): --timeout 1 s passed")
    shell.expect(PROMPT)
    shell.send("unmonitor\r")  # the one monitor running
    shell.expect_exact("stopped 1 monitor")
    shell.expect(PROMPT)
    shell.send("monitors\r")
    shell.expect_exact("no monitors running")
    shell.expect(PROMPT)
    session.abort_job(job_id)
    shell.send("bye\r")
    shell.expect(pexpect.EOF)


ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")
FOLLOWED = re.compile(r"\[(server|site-1|site-2)\] (.*)$")


def followed_lines(transcript: str) -> dict[str, list[str]]:
    """``[target] line`` lines as printed above the prompt, per target, escape sequences removed."""
    found: dict[str, list[str]] = {}
    for row in re.split(r"\r\n|\n|\r", ANSI.sub("", transcript)):
        match = FOLLOWED.search(row)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2).rstrip())
    return found


def job_log(kit: Path, job_id: str) -> list[str]:
    """A job's ``log.txt`` as its server or site wrote it (in that participant's folder)."""
    found = sorted(kit.rglob(f"{job_id}/log.txt"))
    assert found, f"no log of {job_id} under {kit}"
    return [line.rstrip() for line in found[0].read_text(errors="replace").splitlines()]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("back", ["while the job runs", "after the job ended"])
def test_follow_goes_on_after_a_dropped_connection_with_no_line_lost_or_repeated(project, session, back: str,
                                                                                 tmp_path: Path) -> None:
    """The console's connection drops (a relay cut, the server and sites keep running) while
    the job logs on; when it is back (the job still running, or ended meanwhile), follow
    delivers what was written meanwhile. A batch
    follows the same job throughout, so the server's and sites' streams stay up: the console
    joins them (its first lines up to where they are) and resumes into them (the lines it
    lacks up to there). In the end every target's followed lines are its whole log, once each,
    in order, for both."""
    admin = json.loads((project.admin_kit / "startup" / "fed_admin.json").read_text())["admin"]
    relay = Relay(admin["port"])
    kit = kit_through(project.admin_kit, relay.port, tmp_path / "kit")
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=10, sleep=0.5)))
    (tmp_path / "tmp").mkdir()
    batch = subprocess.Popen([CONSOLE, "--kit", str(project.admin_kit), "-c", f"follow {job_id[:8]} all -n 1000"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=console_env(tmp_path))
    shell = pexpect.spawn(CONSOLE, ["--kit", str(kit)], encoding="utf-8", timeout=30, dimensions=(40, 250),
                          env=console_env(tmp_path, NO_COLOR="1", TMPDIR=str(tmp_path / "tmp")))
    shell.logfile_read = transcript = io.StringIO()
    try:
        shell.expect(PROMPT)
        wait_until(lambda: session.get_job_status(job_id) == "RUNNING", 30, "the job to run")
        shell.send(f"follow {job_id[:8]} all -n 1000\r")
        shell.expect(re.compile(r"\[site-1\] [^\r\n]*site-1 training round 2 of 10"))
        relay.refusing.set()  # down for a while: the job writes lines this console does not receive
        assert relay.cut() >= 1
        shell.expect_exact("connection to the server lost; reconnecting...")
        site_log = next(iter(sorted(project.kit("site-2").rglob(f"{job_id}/log.txt"))))
        wait_until(lambda: "site-2 training round 5 of 10" in site_log.read_text(errors="replace"), 60,
                   "site-2 to log round 5 while the console is cut off")
        if back == "after the job ended":
            wait_until(lambda: session.get_job_status(job_id).startswith("FINISHED"), 60, "the job to end")
        relay.refusing.clear()
        shell.expect_exact("reconnected to the server", timeout=60)
        shell.expect(re.compile(r"log of \w+ \(live-job\) ended with the job \(FINISHED:COMPLETED\)"), timeout=120)
        shell.send("bye\r")
        shell.expect(pexpect.EOF)
        out, err = batch.communicate(timeout=60)
        assert batch.returncode == 0, err
    finally:
        if shell.isalive():
            shell.terminate(force=True)
        if batch.poll() is None:
            batch.kill()
            batch.wait(10)
        relay.close()
    followed = followed_lines(transcript.getvalue())
    in_batch = followed_lines(out)
    for target in ("server", "site-1", "site-2"):
        written = job_log(project.kit(target), job_id)
        assert followed.get(target) == written, (target, followed.get(target), written)
        assert in_batch.get(target) == written, (target, in_batch.get(target), written)


@pytest.mark.timeout(180)
def test_follow_in_a_batch_blocks_until_the_job_ends_and_exits_as_monitor_job(session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=3, sleep=0.3)))
    done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"follow {job_id[:8]} all", timeout=60)
    assert done.returncode == 0, done.stderr
    assert session.get_job_meta(job_id)["status"] == "FINISHED:COMPLETED"
    for r in (1, 2, 3):
        assert re.search(rf"\[site-1\] .*site-1 training round {r} of 3", done.stdout), done.stdout
        assert re.search(rf"\[site-2\] .*site-2 training round {r} of 3", done.stdout), done.stdout
    assert re.search(r"\[server\] .*round 3/3", done.stdout), done.stdout

    # As monitor_job: a job that failed, or was aborted, fails the batch, its status said on stderr.
    failing = session.submit_job(str(numpy_job(tmp_path, name="fails", rounds=2, fail_on="site-1")))
    failed = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"follow {failing[:8]} all", timeout=60)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"job {failing} (fails) ended FINISHED:EXECUTION_EXCEPTION, not FINISHED:COMPLETED" in failed.stderr
    assert "cannot train today" in failed.stdout  # its log was followed to the end first
    aborted = session.submit_job(str(numpy_job(tmp_path, name="aborted", rounds=100, sleep=0.2)))
    wait_until(lambda: session.get_job_status(aborted) == "RUNNING", 30, "the job to run")
    session.abort_job(aborted)
    gone = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"follow {aborted[:8]}", timeout=60)
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert f"job {aborted} (aborted) ended FINISHED:ABORTED, not FINISHED:COMPLETED" in gone.stderr

    wrong = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"follow {job_id[:8]} site-9")
    assert wrong.returncode == 1
    assert "site-9 is not a target of job" in wrong.stdout + wrong.stderr
    snapshot = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", "top")  # a batch's top: one snapshot
    assert snapshot.returncode == 0 and f"{aborted[:8]}" in snapshot.stdout, snapshot.stdout + snapshot.stderr


@pytest.mark.timeout(120)
def test_top_shows_rounds_advancing_aborts_with_confirmation_and_leaves_with_q(
        shell: pexpect.spawn, session, tmp_path: Path) -> None:
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=40, sleep=0.3)))
    shell.send(f"monitor_job {job_id[:8]} --interval 0.2\r")
    shell.expect_exact("in the background")
    shell.expect(PROMPT)
    screen = Screen(shell, 40, 160)
    shell.send("top\r")
    screen.wait_for(r"flare-console top +admin@example\.com@server +\(pushed\)")
    screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")
    first = screen.wait_for(rf"{job_id[:8]} +live-job +RUNNING +(\d+)/40 +2(/2)? ")
    advanced = screen.wait_for(rf"{job_id[:8]} +live-job +RUNNING +({int(first.group(1)) + 2}|[1-9]\d)/40")
    assert int(advanced.group(1)) >= int(first.group(1)) + 2
    assert re.search(rf"{job_id[:8]} .* accuracy=0\.\d+ loss=0\.\d+", screen.text), screen.text

    shell.send("\r")  # Enter: the selected job's details
    screen.wait_for(rf"Details of {job_id}")
    # Key/value lines, not JSON: the submitter in words, the deployed sites one per line.
    screen.wait_for(r"submitter +admin@example\.com \(example, project_admin\)")
    screen.wait_for(r"started +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n(.*\n)*.*deployed +server: OK\n +site-1: OK\n +site-2: OK")
    assert '"' not in screen.text.split("Details of")[1], screen.text
    shell.send("\x1b")  # Esc hides them
    screen.wait_for(r"q quit")
    screen.wait_gone("Details of")

    shell.send("a")  # abort asks first; anything but y cancels
    screen.wait_for(rf"abort {job_id[:8]} \(live-job\)\? y/N")
    shell.send("n")
    screen.wait_for("abort cancelled")
    # Keys that leave top otherwise answer the question instead (no), and top stays.
    for key in ("\x03", "\x1b", "\x04", "q"):  # Ctrl-C, Esc, Ctrl-D, q
        shell.send("a")
        screen.wait_for(r"y/N")
        shell.send(key)
        screen.wait_gone("y/N")
        assert "abort cancelled" in screen.text and "flare-console top" in screen.text, (key, screen.text)
    shell.send("a")
    screen.wait_for(r"y/N")
    shell.send("y")
    screen.wait_for(rf"abort of {job_id[:8]} sent")  # said at once (the row too, until its status changes)
    screen.wait_for(rf"{job_id[:8]} +live-job +FINISHED:ABORTED")
    assert session.get_job_meta(job_id)["status"] == "FINISHED:ABORTED"
    # The monitor started before top went on: its line went to top's foot.
    screen.wait_for(rf"{job_id[:8]}  live-job  FINISHED:ABORTED")
    # Its duration reads the same in the list and in its details (one rounding rule).
    elapsed = screen.wait_for(rf"{job_id[:8]} +live-job +FINISHED:ABORTED .*?(\d+:\d\d:\d\d)").group(1)
    shell.send("\r")
    assert screen.wait_for(r"(?m)^  duration +(\d+:\d\d:\d\d)$").group(1) == elapsed, screen.text
    shell.send("\x1b")
    screen.wait_gone("Details of")

    # A smaller terminal: drawn again to its width, nothing wrapped.
    shell.setwinsize(24, 90)
    screen.screen.resize(24, 90)
    screen.wait_for(r"flare-console top .*\n(.*\n)*Sites \(2 connected\)")
    screen.wait_for(rf"{job_id[:8]} +live-job +FINISHED:ABORTED")
    assert all(len(line.rstrip()) <= 90 for line in screen.screen.display)

    shell.send("q")
    shell.expect(PROMPT)
    shell.send("bye\r")
    shell.expect(pexpect.EOF)


@pytest.mark.timeout(120)
def test_ctrl_backslash_does_what_ctrl_c_does_in_questions_top_and_plot(shell: pexpect.spawn, session,
                                                                     tmp_path: Path) -> None:
    """The last tester's item 1: Ctrl-\\ did nothing where the shell reads keys itself (raw mode)."""
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=40, sleep=0.2, name="quit-key")))
    try:
        shell.send(f"abort_job {job_id[:8]}\r")  # a question: Ctrl-\\ answers no, as Ctrl-C
        shell.expect_exact("are you sure? [y/N]")
        shell.send("\x1c")
        shell.expect_exact("abort_job cancelled")
        shell.expect(PROMPT)
        screen = Screen(shell, 40, 160)
        shell.send("top\r")
        screen.wait_for(rf"{job_id[:8]} +quit-key +RUNNING")
        shell.send("a")  # top's own question: no, and top stays
        screen.wait_for(r"y/N")
        shell.send("\x1c")
        screen.wait_gone("y/N")
        assert "abort cancelled" in screen.text and "flare-console top" in screen.text, screen.text
        shell.send("\x1c")  # leaves top
        screen.wait_gone("flare-console top")
        shell.send(f"plot {job_id[:8]} loss\r")
        screen.wait_for(r"q leaves")
        shell.send("\x1c")  # leaves the live chart; its whole picture stays
        screen.wait_gone("q leaves")
        shell.send("help bye\r")  # the prompt is back, reading keys
        screen.wait_for("stop monitors, close the session and leave")
        assert session.get_job_status(job_id) == "RUNNING"
    finally:
        session.abort_job(job_id)
        wait_until(lambda: session.get_job_status(job_id).startswith("FINISHED"), 60, "the job to end")


@pytest.mark.timeout(120)
def test_top_shows_what_jobs_recorded_before_it_opened(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    """A job that ended and one in its second round, both before top opened: their last
    recorded round and its metrics are read in the background, not awaited from pushes. The
    details pane gives a site's errors under its name."""
    ended = session.submit_job(str(logging_job(tmp_path, rounds=3, sleep=0.0, name="ended-job")))
    failing = session.submit_job(str(numpy_job(tmp_path, name="failing-job", rounds=1, fail_on="site-2",
                                                min_clients=1)))
    running = session.submit_job(str(stalling_job(tmp_path, "stalling-job")))
    try:
        for job_id in (ended, failing):
            session.monitor_job(job_id, timeout=60, poll_interval=0.1)
        wait_until(lambda: session.get_job_meta(running).get("round_metrics"), 60, "round 1 of the stalling job")
        screen = Screen(shell, 40, 160)
        shell.send("top\r")
        screen.wait_for(rf"{ended[:8]} +ended-job +FINISHED:COMPLETED +3/3 +2 +\d+:\d\d:\d\d +accuracy=0\.\d+ "
                        r"loss=0\.\d+")
        screen.wait_for(rf"{running[:8]} +stalling-job +RUNNING +1/5 +\S+ +\d+:\d\d:\d\d +accuracy=0\.5\b")
        listed = screen.text.split("\nJOB ", 1)[1].splitlines()[1:]
        at = next(i for i, line in enumerate(listed) if line.startswith(failing[:8]))
        shell.send("\x1b[A" * len(listed) + "\x1b[B" * at + "\r")  # to the first job, down to the failing one
        screen.wait_for(rf"Details of {failing}")
        screen.wait_for(r"(?m)^  errors\n    site-2  \S.*cannot train today")
        shell.send("q")
        shell.expect(PROMPT)
    finally:
        session.abort_job(running)


LONG_NAME = "federated-training-of-a-rather-long-model-name-across-all-sites"


@pytest.mark.timeout(120)
def test_top_columns_use_the_terminal_width_and_elide_long_names(project, session, tmp_path: Path) -> None:
    """At 200 columns a long job name is shown whole; at 80 it ends in '…' and gives the
    room, so the status, round and sites stay whole on the job's one line; nothing passes the
    edge at either width."""
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=40, sleep=0.3, name=LONG_NAME)))
    shell = spawn_shell(project, tmp_path, dimensions=(40, 200))
    try:
        shell.expect(PROMPT)
        screen = Screen(shell, 40, 200)
        shell.send("top\r")
        screen.wait_for(rf"{job_id[:8]} +{LONG_NAME} +RUNNING +\d+/40 +\S+ +\d+:\d\d:\d\d +accuracy=")
        assert all(len(line) <= 200 for line in screen.screen.display)
        assert "…" not in screen.text, screen.text

        shell.setwinsize(40, 80)
        screen.screen.resize(40, 80)
        row = screen.wait_for(rf"{job_id[:8]} +{LONG_NAME[:7]}\S*… +(RUNNING|FINISHED:COMPLETED) +\d+/40 +\S+ "
                              rf"+\d+:\d\d:\d\d\b[^\n]*").group(0)
        assert len(row.rstrip()) <= 80, row
        assert re.search(r"site-1 +connected +\d+s ago", screen.text), screen.text
        assert all(len(line.rstrip()) <= 80 for line in screen.screen.display)
        shell.send("q")
        shell.expect(PROMPT)
        shell.send("bye\r")
        shell.expect(pexpect.EOF)
    finally:
        session.abort_job(job_id)
        if shell.isalive():
            shell.terminate(force=True)


@pytest.mark.timeout(120)
def test_plot_draws_a_finished_jobs_series(shell: pexpect.spawn, session, project, tmp_path: Path) -> None:
    # A running job's chart is redrawn in place as rounds finish, until q.
    running = session.submit_job(str(logging_job(tmp_path, rounds=40, sleep=0.2, name="long-job")))
    screen = Screen(shell, 40, 160)
    shell.send(f"plot {running[:8]} loss\r")
    first = int(screen.wait_for(r"\(round (\d+)/40 done; q leaves").group(1))
    screen.wait_for(rf"loss · job {running[:8]} \(long-job\) RUNNING")
    screen.wait_for(rf"\(round ({first + 2}|{first + 3}|{first + 4})/40 done")
    shell.send("q")
    session.abort_job(running)

    job_id = session.submit_job(str(logging_job(tmp_path, rounds=3, sleep=0.0)))
    session.monitor_job(job_id, timeout=60, poll_interval=0.2)
    assert session.get_job_meta(job_id)["status"] == "FINISHED:COMPLETED"
    screen = Screen(shell, 40, 160)
    shell.send(f"plot {job_id[:8]} accuracy\r")
    screen.wait_for(rf"accuracy · job {job_id[:8]} \(live-job\) FINISHED:COMPLETED")
    legend = screen.wait_for(r"(\S\S) aggregated +(\S\S) site-1 +(\S\S) site-2")
    assert len(set(legend.groups())) == 3  # NO_COLOR: each series has its own mark
    screen.wait_for(r"\(x: round\)")
    shell.send("plot nope\r")
    screen.wait_for("JobNotFound: no such job: nope")
    # follow on an ended job shows its log's end now, then says so (no background follow to stop), in the
    # one end line a live follow has, with the final status (terminal tester: it had none).
    shell.send(f"follow {job_id[:8]} site-1 -n 3\r")
    screen.wait_for(rf"\[site-1\] .*\n(.*\n)*log of {job_id[:8]} \(live-job\) ended with the job "
                    r"\(FINISHED:COMPLETED\)")
    shell.send("unfollow all\r")
    screen.wait_for("no log is followed")

    # The series as data, in a batch: the values the trainer reported, round by round.
    done = run_console(tmp_path, "--kit", str(project.admin_kit), "--format", "json", "-c", f"plot {job_id} loss")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["rounds"] == [1, 2, 3] and data["status"] == "FINISHED:COMPLETED"
    by_source = {s["source"]: s["points"] for s in data["series"] if s["metric"] == "loss"}
    assert set(by_source) == {"aggregated", "site-1", "site-2"}
    assert by_source["site-2"] == [[1, 1.0], [2, 0.5], [3, pytest.approx(1 / 3)]]
    # The command's own --format json is data too, whatever the console's format setting.
    own = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", f"plot {job_id} loss --format json")
    assert own.returncode == 0, own.stderr
    assert json.loads(own.stdout)["rounds"] == [1, 2, 3]


def _transcript(screen: Screen) -> str:
    """The scrollback and the screen, as the user can scroll through them (``screen`` made with history)."""
    history = screen.screen.history.top  # type: ignore[attr-defined]
    cols = screen.screen.columns
    scrolled = ["".join(row[x].data for x in range(cols)).rstrip() for row in history]
    return "\n".join([*scrolled, screen.text])


@pytest.mark.timeout(120)
def test_plot_taller_than_the_terminal_ends_with_its_whole_picture_once(project, session, tmp_path: Path) -> None:
    """Two charts do not fit 30 rows: live, they are squeezed to fit; when the job ends the live view
    goes (hint and all) and the whole picture is printed once, with nothing partial in the scrollback."""
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=4, sleep=0.8, name="tall-job")))
    child = spawn_shell(project, tmp_path, (30, 120))
    screen = Screen(child, 30, 120)
    screen.screen = pyte.HistoryScreen(120, 30, history=5000)
    screen.stream = pyte.Stream(screen.screen)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send(f"plot {job_id[:8]}\r")
        screen.wait_for(r"\(round [1-3]/4 done; q leaves")
        live = screen.wait_for(r"(?s)accuracy · job \S+ \(tall-job\) RUNNING.*loss · job .*\(round \d/4 done")
        assert live  # both charts on the screen at once while the job runs
        screen.wait_for(r"\(x: round\)\n.*on server>\s*\Z", timeout=60)
        whole = _transcript(screen)
        assert "q leaves" not in whole, whole  # no stale hint, on the screen or above it
        assert "RUNNING" not in whole, whole  # no partial copy of a live picture left in the scrollback
        finished = whole[whole.index(f"plot {job_id[:8]}"):]
        for metric in ("accuracy", "loss"):
            assert finished.count(f"{metric} · job {job_id[:8]} (tall-job) FINISHED:COMPLETED") == 1, whole
        assert finished.count("(x: round)") == 1 and finished.count("aggregated") == 2, whole
        assert len(re.findall(r"└─+┘\n +1 +2 +3 +4\n", finished)) == 2, whole  # each chart's frame and axis
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_plot_in_colour_reaches_the_terminal_as_colour(project, session, tmp_path: Path) -> None:
    """The chart's colours are the console's own: drawn, not escaped into visible text."""
    job_id = session.submit_job(str(logging_job(tmp_path, rounds=2, sleep=0.0)))
    session.monitor_job(job_id, timeout=60, poll_interval=0.2)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], encoding="utf-8", timeout=30,
                          dimensions=(60, 100), env=console_env(tmp_path, TMPDIR=str(tmp_path / "tmp")))
    try:
        child.expect(PROMPT)
        child.send(f"plot {job_id[:8]} accuracy\r")
        child.expect(r"\(x: round\)")
        assert "\x1b[3" in child.before  # a colour escape, sent as one
        assert "\\x1b" not in child.before and "^[" not in child.before  # never shown as text
        # Two rounds: the x axis says 1 and 2 (uniplot's own ticks read 1.0 1.5 2.0).
        assert re.search(r"└─+┘\s*\n 1 +2\s*\n", ANSI.sub("", child.before).replace("\r", "")), child.before
        # On the screen, each row of the frame whole on its line (user10 #1: refilled, the rows broke into
        # pieces of 20 cells with '0m' and '32m' showing), as '| cat' shows the chart.
        screen = Screen(child, 60, 100)
        child.expect(PROMPT)
        child.send(f"plot {job_id[:8]} accuracy\r")
        drawn = screen.wait_for(r"(?s)┌─+┐\n(│.*\n)+└─+┘\n 1 +2\s*\n.*\(x: round\)").group()
        frame = drawn.split("\n")
        assert all(re.fullmatch(r"│.{88}│( [0-9.]+)?", row.rstrip()) for row in frame[1:frame.index(
            next(r for r in frame if r.startswith("└")))]), drawn
        assert not re.search(r"\d+m", drawn.replace("(x: round)", "")), drawn
        # To a file or a pipe, no colour (as ls --color=auto): the ASCII marks NO_COLOR uses.
        child.send(f"plot {job_id[:8]} accuracy > {tmp_path / 'plot.txt'}\r")
        screen.wait_for("wrote .* lines to .*plot.txt")
        text = (tmp_path / "plot.txt").read_text()
        assert "\x1b" not in text and "(x: round)" in text and re.search(r"(\S\S) aggregated +(\S\S) site-1", text)
        child.send(f"plot {job_id[:8]} accuracy | grep -c site-1\r")
        screen.wait_for(r"grep -c site-1\n1\n")
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)


@pytest.mark.timeout(120)
def test_top_keeps_the_selected_job_in_view_on_a_short_terminal(project, session, tmp_path: Path) -> None:
    """More jobs than rows: moving down scrolls, so the selected job (the one 'a' would abort)
    and its details are always on the screen."""
    folder = waiting_for_sites(tmp_path)  # queued for sites that never come: they stay listed
    meta = json.loads((folder / "meta.json").read_text())
    meta["deploy_map"] = {"app": ["server", "site-8", "site-9"]}  # not this federation's sites
    (folder / "meta.json").write_text(json.dumps(meta))
    ids = [session.submit_job(str(folder)) for _ in range(14)]
    shell = spawn_shell(project, tmp_path, dimensions=(16, 120))
    try:
        shell.expect(PROMPT)
        screen = Screen(shell, 16, 120)
        shell.send("top\r")
        screen.wait_for(rf"{ids[-1][:8]} +needs-sites +SUBMITTED")  # newest first
        assert ids[0][:8] not in screen.text  # the oldest is below the fold
        # The title counts the rows that show, not every job listed (user 10, item 5: "20 shown", 3 visible).
        shown = len(re.findall(r"needs-sites +SUBMITTED", screen.text))
        # (of 14 or more: the module's server keeps jobs other tests left queued)
        counted = re.search(rf"Jobs \(0 running; 1-{shown} of (\d+) shown: Up/Down scrolls\)", screen.text)
        assert counted and int(counted.group(1)) >= 14, screen.text
        shell.send("\x1b[B" * 13)  # Down to the oldest
        screen.wait_for(rf"{ids[0][:8]} +needs-sites +SUBMITTED")
        shell.send("\r")
        # The details, the selected row above them and the column header, all at once on 16 rows.
        screen.wait_for(rf"(?s)JOB +NAME +STATUS.*{ids[0][:8]} +needs-sites.*Details of {ids[0]}")
        shell.send("\x1b[A")  # Up, details shown: they follow, the row stays in view
        screen.wait_for(rf"(?s)JOB +NAME +STATUS.*{ids[1][:8]} +needs-sites.*Details of {ids[1]}")
        shell.send("\r")  # details hidden: the Sites block is back above the jobs
        screen.wait_for(rf"(?s)Sites \(\d connected\).*SITE +STATE.*JOB +NAME +STATUS.*{ids[1][:8]} +needs-sites")
        shell.setwinsize(12, 120)  # the least top is made for: header and selected row still shown
        screen = Screen(shell, 12, 120)
        shell.send("\x1b[A\r")
        screen.wait_for(rf"(?s)JOB +NAME +STATUS.*{ids[2][:8]} +needs-sites.*Details of {ids[2]}")
        # Details cut short scroll with PgDn/PgUp, their last line saying what is not shown.
        screen.wait_for(r"\.\.\. \d+ more lines? \(PgDn shows them\)")
        shell.send("\x1b[6~")  # PgDn
        screen.wait_for(r"\.\.\. \d+ lines? above")
        shell.send("\x1b[5~")  # PgUp: back to their top
        screen.wait_for(r"\.\.\. \d+ more lines? \(PgDn shows them\)")
        shell.send("q")
        shell.expect(PROMPT)
        shell.send("bye\r")
        shell.expect(pexpect.EOF)
    finally:
        for job_id in ids:
            session.abort_job(job_id)
        if shell.isalive():
            shell.terminate(force=True)


#: Logs a line per round; rounds after the first wait for a file the test writes (``{flag}``).
GATED_TRAINER = '''
import os
import time
from console.runtime.contract import TaskResult


def train(model, ctx):
    while ctx.round > 1 and not os.path.exists({flag!r}) and not ctx.aborted():
        time.sleep(0.02)
    ctx.logger.info("%s training round %d of %d", ctx.site_name, ctx.round, ctx.num_rounds)
    return TaskResult({{k: v + 1 for k, v in model.items()}}, weight=1.0, metrics={{"loss": 1.0 / ctx.round}})
'''


def gated_job(root: Path, name: str, rounds: int) -> tuple[Path, Path]:
    """A job whose rounds after the first wait until the returned flag file exists."""
    flag = root / f"{name}.go"
    folder = numpy_job(root, name=name, rounds=rounds)
    (folder / "app" / "custom" / "trainer.py").write_text(GATED_TRAINER.format(flag=str(flag)))
    return folder, flag


@pytest.mark.timeout(120)
def test_lines_that_came_while_top_was_open_are_printed_above_the_prompt_after_q(project, session,
                                                                               tmp_path: Path) -> None:
    """Finding 1 of the seventh user: a monitor's and a follow's lines that came while top covered the
    screen were lost from the scrollback (top's foot shows the last three). After q they follow the
    ``top`` line, in order, and top's own screen leaves nothing there (the alternate screen)."""
    folder, flag = gated_job(tmp_path, "under-top", rounds=5)
    job_id = session.submit_job(str(folder))
    child = spawn_shell(project, tmp_path, (30, 150))
    screen = tmux_screen(child, 30, 150)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send(f"monitor_job {job_id[:8]}\r")
        screen.wait_for(r"in the background.*\n(.*\n)*.*on server>\s*\Z")
        child.send(f"follow {job_id[:8]} all -n 0\r")
        screen.wait_for(r"following the log .*\n(.*\n)*.*on server>\s*\Z")
        child.send("top\r")
        screen.wait_for(rf"{job_id[:8]} +under-top +RUNNING")
        flag.write_text("go")  # rounds 2-5 now, while top is open
        screen.wait_for(rf"{job_id[:8]} +under-top +FINISHED:COMPLETED", timeout=60)
        screen.wait_for(r"ended with the job")  # top's foot: the follow's last line
        screen.wait_for(r"\.\.\. \d+ earlier lines: all are printed above the prompt when top closes")
        child.send("q")
        screen.wait_for(r"ended with the job(.*\n)*.*on server>\s*\Z")
        whole = screen.screen.transcript()
        assert "flare-console top" not in whole, whole  # top's screen is not left in the scrollback
        after = whole[whole.rindex("on server> top"):]
        assert f"{job_id[:8]}  under-top  FINISHED:COMPLETED" in after, whole
        assert f"log of {job_id[:8]} (under-top) ended with the job (FINISHED:COMPLETED)" in after, whole
        for site in ("site-1", "site-2"):
            rounds = [int(r) for r in re.findall(rf"\[{site}\] .*{site} training round (\d) of 5", after)]
            assert rounds in ([2, 3, 4, 5], [1, 2, 3, 4, 5]), whole  # every one, in order, once (1: a slow start)
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        flag.write_text("go")
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_watch_redraws_in_place_keeps_its_header_and_prints_held_lines_when_it_ends(project, session,
                                                                                  tmp_path: Path) -> None:
    """The seventh user's watch: at 40x10 the "N more lines" note wrapped and pushed the header off;
    in tmux every redraw stayed in the scrollback; a monitor's line printed meanwhile was drawn over."""
    child = spawn_shell(project, tmp_path, (10, 40), PAGER="cat")  # answers wider than 40 stay on the screen
    screen = tmux_screen(child, 10, 40)
    folder, flag = gated_job(tmp_path, "under-watch", rounds=2)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send("watch -n 60 sys_info server\r")
        found = screen.wait_for(r"\.\.\. \d+ more lines[^\n]*")
        # The heading keeps its Ctrl-C hint whole at 40 columns: the time went, the command was cut.
        assert screen.text.startswith("Every 60 s: sys_info se…  (Ctrl-C stops)\n"), screen.text
        assert len(found.group(0)) <= 40 and screen.text.rstrip().endswith(found.group(0)), screen.text  # one line
        child.sendcontrol("c")
        screen.wait_for(r"watch stopped\n.*on server>\s*\Z")

        child.setwinsize(24, 100)
        screen.screen.resize(24, 100)
        job_id = session.submit_job(str(folder))
        child.send(f"monitor_job {job_id[:8]}\r")
        screen.wait_for(r"in the background.*\n(.*\n)*.*on server>\s*\Z")
        child.send("watch -n 0.5 monitors\r")
        screen.wait_for(r"under-watch +RUNNING +status")
        flag.write_text("go")
        screen.wait_for("no monitors running", timeout=60)  # the monitor ended, its line held
        rounds = screen.wait_for(r"Every 0\.5 s: monitors +(\d\d:\d\d:\d\d)")
        screen.wait_for(rf"Every 0\.5 s: monitors +(?!{rounds.group(1)})")  # a few redraws later
        child.sendcontrol("c")
        screen.wait_for(r"watch stopped\n.*on server>\s*\Z")
        whole = screen.screen.transcript()
        after = whole[whole.rindex("on server> watch -n 0.5 monitors"):]
        assert after.count("Every 0.5 s: monitors") == 1, whole  # the last picture, once: no copy per redraw
        picture, held = after.index("no monitors running"), after.index(f"{job_id[:8]}  under-watch  FINISHED:COMPLETED")
        assert picture < held < after.index("watch stopped"), whole
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        flag.write_text("go")
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_two_followed_logs_name_their_job_in_the_tag(shell: pexpect.spawn, session, tmp_path: Path) -> None:
    """Finding 5 of the seventh user: two runs of one job folder, both followed, gave lines no one could
    tell apart. One followed log keeps the short tag; from the second on, the tag names the job."""
    folder, flag = gated_job(tmp_path, "twin", rounds=2)
    first, second = session.submit_job(str(folder)), session.submit_job(str(folder))
    try:
        wait_until(lambda: all(session.get_job_meta(j).get("round_metrics") for j in (first, second)), 60,
                   "round 1 of both runs")
        shell.send(f"follow {first[:8]} all -n 2\r")
        shell.expect(re.compile(r"\n\[site-1\] [^\r\n]*site-1 training round 1 of 2"))  # alone: short
        shell.expect(PROMPT)
        shell.send(f"follow {second[:8]} all -n 0\r")
        shell.expect_exact("in the background")
        shell.expect(PROMPT)
        flag.write_text("go")
        seen = set()
        while len(seen) < 4:  # round 2 of both sites of both runs, each tagged with its job
            shell.expect(re.compile(r"\[(\w{8}) (site-\d)\] [^\r\n]*(site-\d) training round 2 of 2"))
            job, site, logged = shell.match.group(1), shell.match.group(2), shell.match.group(3)
            assert job in (first[:8], second[:8]) and site == logged, shell.match.group(0)
            seen.add((job, site))
        assert "\n[site-" not in shell.before, shell.before  # no short tag once two are followed
    finally:
        flag.write_text("go")
        for job_id in (first, second):
            session.monitor_job(job_id, timeout=60, poll_interval=0.1)


@pytest.mark.timeout(120)
def test_job_completion_offers_what_the_command_can_act_on_first(shell: pexpect.spawn, session,
                                                               tmp_path: Path) -> None:
    """Finding 8 of the seventh user and the twelfth's item 1: abort_job's Tab offered finished jobs. A job-ID
    argument offers only the jobs its command takes (the registry's ``Param.jobs``): abort_job the queued or
    running ones, delete_job those not dispatched or running; each newest first. A unique one is completed
    with a blank after it, as every unique completion (item 2)."""
    older = session.submit_job(str(numpy_job(tmp_path, name="rank-old", rounds=1)))
    session.monitor_job(older, timeout=60, poll_interval=0.1)
    folder, flag = gated_job(tmp_path, "rank-running", rounds=2)
    running = session.submit_job(str(folder))
    newer = session.submit_job(str(numpy_job(tmp_path, name="rank-new", rounds=1)))
    try:
        session.monitor_job(newer, timeout=60, poll_interval=0.1)
        wait_until(lambda: session.get_job_meta(running)["status"] == "RUNNING", 60, "the gated job to run")
        screen = Screen(shell, 40, 160)
        shell.send("refresh\r")
        screen.wait_for(r"completion data refreshed.*\n.*on server>\s*\Z")
        for command, offered in (("delete_job", [newer, older]), ("abort_job", [running])):
            shell.send(f"{command} rank-")
            screen.wait_for(rf"(?m)^ *{offered[0][:8]} +rank-")
            screen.pump(0.3)  # the whole menu
            menu = re.findall(r"(?m)^ *(\w{8}) +rank-\S+ ", screen.text)
            assert menu == [j[:8] for j in offered], (command, screen.text)
            shell.send("\t")  # Tab takes the first (abort_job's only one: with a blank after it)
            line = screen.wait_for(rf"on server> {command} {offered[0]}")
            if len(offered) == 1:
                after_id = line.end() - (line.string.rfind("\n", 0, line.start()) + 1)  # its column on the screen
                wait_until(lambda column=after_id + 1: (screen.pump(), screen.screen.cursor.x)[1] == column, 10,
                           "the cursor after the blank that follows the ID")
            shell.sendcontrol("c")
            screen.wait_for(r"on server>\s*\Z")
    finally:
        flag.write_text("go")
        session.monitor_job(running, timeout=60, poll_interval=0.1)


@pytest.mark.timeout(120)
def test_lines_that_come_while_a_live_plot_is_drawn_print_above_it(project, session, tmp_path: Path) -> None:
    """The neighbour of finding 1: plot redraws in place below the prompt's line (no full screen), so a
    monitor's and a follow's lines print above it and stay in the scrollback, and the plot's whole
    picture is printed once at the end."""
    folder, flag = gated_job(tmp_path, "under-plot", rounds=3)
    child = spawn_shell(project, tmp_path, (40, 120), PAGER="cat")
    screen = tmux_screen(child, 40, 120)
    try:
        screen.wait_for(r"on server>\s*\Z")
        job_id = session.submit_job(str(folder))
        child.send(f"monitor_job {job_id[:8]}; follow {job_id[:8]} all -n 0\r")
        screen.wait_for(r"following the log .*\n(.*\n)*.*on server>\s*\Z")
        child.send(f"plot {job_id[:8]}\r")
        screen.wait_for(r"q leaves")
        flag.write_text("go")
        screen.wait_for(r"\(x: round\)\n(.*\n)*.*on server>\s*\Z", timeout=60)
        whole = screen.screen.transcript()
        after = whole[whole.rindex(f"on server> plot {job_id[:8]}"):]
        assert f"{job_id[:8]}  under-plot  FINISHED:COMPLETED" in after, whole
        for site in ("site-1", "site-2"):
            assert re.findall(rf"\[{site}\] .*{site} training round (\d) of 3", after)[-2:] == ["2", "3"], whole
        assert after.count("(x: round)") == 1 and "q leaves" not in whole, whole
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        flag.write_text("go")
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(120)
def test_top_says_when_the_server_is_away_and_goes_on_when_it_is_back(project, tmp_path: Path) -> None:
    """flare10 item 3 on our engine: with the server away, top's clock stood still with the sites "connected" and
    nothing said. Its title bar says what the toolbar would (hidden under top) with the rows' age, the clock goes
    on, and all of it clears when the server is back."""
    admin = json.loads((project.admin_kit / "startup" / "fed_admin.json").read_text())["admin"]
    relay = Relay(admin["port"])
    kit = kit_through(project.admin_kit, relay.port, tmp_path / "kit")
    (tmp_path / "tmp").mkdir()
    shell = pexpect.spawn(CONSOLE, ["--kit", str(kit)], encoding="utf-8", timeout=30, dimensions=(30, 160),
                          env=console_env(tmp_path, NO_COLOR="1", TMPDIR=str(tmp_path / "tmp")))
    try:
        shell.expect(PROMPT)
        screen = Screen(shell, 30, 160)
        shell.send("top\r")
        screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")
        assert "disconnected" not in screen.text
        relay.refusing.set()
        assert relay.cut() >= 1
        clock = screen.wait_for(r"disconnected, reconnecting\.\.\.; rows from \d+s ago .*(\d\d:\d\d:\d\d)")
        screen.wait_for(rf"disconnected, reconnecting.* (?!{clock.group(1)})\d\d:\d\d:\d\d", timeout=10)  # it ticks
        relay.refusing.clear()
        screen.wait_gone("disconnected", timeout=60)
        screen.wait_for(r"site-1 +connected .*\n.*site-2 +connected")
        shell.send("q")
        screen.wait_for(r"on server>\s*\Z", timeout=30)  # the prompt again, under what top held
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=60)
    finally:
        if shell.isalive():
            shell.terminate(force=True)
        relay.close()
