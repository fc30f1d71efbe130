"""``flare-console demo``: a local federation (server and two sites) and the console on it.

Two engines. Ours (the default) provisions once into the user's data dir (or ``--workspace``) and reuses it afterwards;
starts the server and both sites as child processes and waits until both sites are
connected; stages the examples in the admin kit's upload folder (``submit_job
hello-numpy`` works as typed); opens the shell as the project admin (a batch when stdin
is not a terminal); stops every process it started on the way out, also on Ctrl-C or an
error.

``--engine nvflare``: an NVIDIA FLARE POC instead (``console.poc``, needs the ``[nvflare]`` extra),
prepared fresh in a temporary workspace (or ``--workspace``, kept afterwards) on a free loopback
port; the console opens on FLARE's admin kit once both sites are connected, with FLARE's
hello-numpy-sag staged, and every FLARE process is stopped on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import yaml

from console import demo_guard
from console.demo_parts import PartWatch
from console.invocation import console_command
from console.ports import free_port
from console.private_files import PRIVATE_UMASK, tighten
from console.provision.kits import provision
from console.shell.cells import fill_for
from console.shell.closed_pipe import silence
from console.shell.endings import ENDING, signals_end_cleanly

if TYPE_CHECKING:
    from console.shell.leaving import Unfinished

ADMIN = "admin@example.com"
SITES = ("site-1", "site-2")
PROJECT = "demo_project"
#: Exit codes of the console ended by SIGTERM or SIGHUP (``console.shell.endings``).
ENDING_CODES = frozenset(128 + sig for sig in ENDING)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _latest_prod(workspace: Path) -> Path | None:
    prods = sorted((workspace / PROJECT).glob("prod_[0-9][0-9]"))
    return prods[-1] if prods else None


def ensure_project(workspace: Path) -> Path:
    """The demo's newest prod folder, provisioning it the first time."""
    prod = _latest_prod(workspace)
    if prod is not None:
        return prod
    workspace.mkdir(parents=True, exist_ok=True)
    project_file = workspace / "project.yml"
    project_file.write_text(yaml.safe_dump({
        "name": PROJECT,
        "participants": [
            {"name": "server", "type": "server", "org": "demo", "host": "localhost",
             "fed_learn_port": free_port(), "admin_port": free_port()},
            {"name": "site-1", "type": "client", "org": "demo"},
            {"name": "site-2", "type": "client", "org": "demo"},
            {"name": ADMIN, "type": "admin", "org": "demo", "role": "project_admin"},
            {"name": "orgadmin@example.com", "type": "admin", "org": "demo", "role": "org_admin"},
            {"name": "lead@example.com", "type": "admin", "org": "demo", "role": "lead"},
            {"name": "member@example.com", "type": "admin", "org": "demo", "role": "member"},
        ],
    }))
    return Path(provision(project_file, workspace))


def _stage_examples(admin_kit: Path) -> list[str]:
    """Copy the examples into the admin kit's upload folder: ``submit_job hello-server`` finds them."""
    transfer = admin_kit / "transfer"
    staged = []
    for example in sorted(EXAMPLES.iterdir()) if EXAMPLES.is_dir() else []:
        if (example / "meta.json").is_file():
            shutil.copytree(example, transfer / example.name, dirs_exist_ok=True)
            staged.append(example.name)
    return staged


def _wait_for_federation(admin_kit: Path, processes: list[subprocess.Popen[bytes]], sites: int,
                         timeout: float = 60.0) -> None:
    """Until the server answers and sees every site (a part that dies meanwhile ends the wait)."""
    from console.flare_api import NoConnection, new_secure_session

    deadline = time.monotonic() + timeout
    while True:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(map(str, proc.args[-2:]))} exited with code {proc.returncode}")
        try:
            with new_secure_session(ADMIN, str(admin_kit), timeout=2) as sess:
                if len(sess.get_connected_client_list()) >= sites:
                    return
        except NoConnection:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server and {sites} sites were not up within {timeout:.0f} s")
        time.sleep(0.2)


def _tell(text: str, stream: TextIO | None = None) -> None:
    """A line of the demo's (or several) on ``stream`` (stdout when None): broken between words on a terminal,
    whole into a file or pipe."""
    out = stream or sys.stdout  # looked up now: a test (or a caller) may have replaced it
    try:
        print(fill_for(out, text), file=out, flush=True)
    except OSError:  # the terminal is gone (SIGHUP: EIO) or the pipe closed: the demo still stops its parts
        silence(out)  # and Python's flush at exit finds nothing left to fail on


def start_part(part: str, kit: Path) -> subprocess.Popen[bytes]:
    with open(kit / f"{part}-stderr.txt", "ab") as stderr:
        # Its own session: Ctrl-C in the console (cancelling a command) must not reach the server and
        # sites; the demo stops them itself, in order, on the way out.
        return subprocess.Popen([sys.executable, "-m", "console", part, str(kit)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def running_jobs_at(admin_kit: Path, wait: float = 4.0) -> Unfinished | None:
    """The demo server's jobs not ended, by state (``console.shell.leaving.unfinished_jobs``); None when the
    server did not say within ``wait`` s (a stopped or dying server must not hold up the stop). Asked in a
    thread: a FLARE login is not bounded by its own timeout alone."""
    from console.flare_api import new_secure_session
    from console.shell.leaving import unfinished_jobs

    found: list[Unfinished] = []

    def ask() -> None:
        with contextlib.suppress(Exception), new_secure_session(ADMIN, str(admin_kit), timeout=2,
                                                                 command_timeout=2) as sess:
            found.append(unfinished_jobs(sess.list_jobs()))

    asking = threading.Thread(target=ask, name="demo-abandoned", daemon=True)
    asking.start()
    asking.join(wait)
    return found[0] if found else None


def say_abandoned(admin_kit: Path, ending: BaseException | None, engine: str) -> None:
    """On SIGTERM/SIGHUP (nobody was asked, unlike bye and Ctrl-D): name the jobs the stop abandons, and
    the queued ones with what becomes of them (``console.shell.leaving``: per state, as bye's question).
    ``engine``: "ours" or "nvflare" (``console.commands.Engine``), whose stop the words tell."""
    if not (isinstance(ending, SystemExit) and ending.code in ENDING_CODES):
        return
    from console.commands import Engine
    from console.shell.leaving import queued_fate, running_fate

    stopping = Engine(engine)
    jobs = running_jobs_at(admin_kit)
    with contextlib.suppress(OSError):  # (the terminal may be gone: SIGHUP)
        if jobs is None:
            _tell("demo: the server did not say whether jobs were still running or queued; a running one "
                  f"{running_fate(stopping, False)}, a queued one {queued_fate(stopping, False)}")
            return
        if jobs.running:
            many = len(jobs.running) > 1
            _tell(f"demo: abandoned job{'s' if many else ''} {', '.join(jobs.running)}: "
                  f"{'they' if many else 'it'} {running_fate(stopping, many)}")
        if jobs.queued:
            many = len(jobs.queued) > 1
            _tell(f"demo: queued job{'s' if many else ''} {', '.join(jobs.queued)}: "
                  f"{'they' if many else 'it'} {queued_fate(stopping, many)}")


def stop_parts(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(processes):  # sites first, then the server
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)  # a stopped part (Ctrl-Z'd, SIGSTOP) acts on SIGTERM only when continued
    for proc in processes:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _console_on(admin_kit: Path, *banner: str, demo: str | None = None, watch: PartWatch | None = None) -> int:
    """The console on ``admin_kit``, after ``banner`` on a terminal; a batch when stdin is not one.
    ``demo``: a demo's console, as the words that start this demo again; its bye asks first while a job
    submitted there still runs (leaving stops the demo's server and sites, ours or FLARE's). ``watch``: the
    demo's parts, a part that ends said above the prompt."""
    if sys.stdin.isatty():
        _tell("\n".join(banner))
    from console.shell.arguments import add_shell_arguments
    from console.shell.main import run_shell

    parser = argparse.ArgumentParser(prog="flare-console")
    add_shell_arguments(parser)
    args = parser.parse_args(["--kit", str(admin_kit)])
    args.demo = demo or False
    args.demo_parts = watch.subscribe if watch is not None else None
    return run_shell(args)


def again_words(engine: str, workspace: str | Path | None) -> str:
    """The command that starts this demo again: ``flare-console demo [--engine nvflare] [--workspace DIR]``."""
    words = f"{console_command()} demo"
    if engine == "nvflare":
        words += " --engine nvflare"
    if workspace:
        words += f" --workspace {shlex.quote(str(workspace))}"
    return words


def run_demo(workspace: str | None, engine: str = "ours", *, reset: bool = False, stop: bool = False,
             force: bool = False) -> int:
    if engine == "nvflare":
        if stop:
            return stop_flare_demo(workspace, force)
        with signals_end_cleanly():
            return run_flare_demo(workspace)
    root = Path(workspace).expanduser() if workspace else demo_guard.default_root()
    if stop:
        try:
            stopped = demo_guard.stop(root, force=force)
        except demo_guard.DemoBusy as exc:
            _tell(f"flare-console demo --stop: {exc}", sys.stderr)
            return 1
        _tell(f"stopped the demo's {', '.join(stopped)} in {root}" if stopped else f"no demo is running in {root}")
        return 0
    try:
        if reset:
            demo_guard.reset(root, PROJECT)
            _tell(f"demo reset: {root} is provisioned afresh, on free ports")
        demo_guard.claim(root)
    except demo_guard.DemoBusy as exc:
        _tell(f"flare-console demo: {exc}", sys.stderr)
        return 2
    with signals_end_cleanly():  # Ctrl-\ as Ctrl-C, SIGTERM and SIGHUP as bye: the parts are stopped below
        return _run_ours(root, again_words("ours", workspace and root))


def _run_ours(root: Path, again: str) -> int:
    processes: list[subprocess.Popen[bytes]] = []
    watch: PartWatch | None = None
    # The demo keeps the root CA, every kit and every job's data under root: for this user only, as the
    # daemons' workspaces are (console.private_files), also what an older demo left there.
    os.umask(PRIVATE_UMASK)
    try:
        prod = ensure_project(root)
        tighten(prod.parent)
        taken = demo_guard.taken_ports(prod)
        if taken:
            _tell(f"flare-console demo: {demo_guard.ports_message(root, taken)}", sys.stderr)
            return 2
        _tell(f"demo project: {prod}")
        processes.append(start_part("server", prod / "server"))
        processes += [start_part("site", prod / site) for site in SITES]
        admin_kit = prod / ADMIN
        demo_guard.record(root, {name: proc.pid for name, proc in zip(("server", *SITES), processes, strict=True)},
                          admin_kit)
        staged = _stage_examples(admin_kit)
        _wait_for_federation(admin_kit, processes, len(SITES))
        # From here a part that ends (kill -9 from another terminal, a crash) is said, with what to do.
        watch = PartWatch({name: (proc, prod / name) for name, proc in zip(("server", *SITES), processes, strict=True)},
                          again).start()
        return _console_on(admin_kit, f"server and {', '.join(SITES)} are up. Jobs ready to submit: "
                           f"{', '.join(staged)}", "try: submit_job hello-numpy   then: monitor_job <Tab>   "
                           "help lists every command", "a model that learns: submit_job hello-digits   (10 rounds "
                           "on 8x8 digits; accuracy per round: plot <job>, or get_job_meta)", demo=again, watch=watch)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        _tell(f"demo failed: {type(exc).__name__}: {exc} (logs: {root}/{PROJECT}/prod_*/*/log.txt)", sys.stderr)
        return 1
    finally:
        if watch is not None:  # what the demo stops now is not news
            watch.stopping.set()
        try:
            if processes:  # only what this run started
                say_abandoned(prod / ADMIN, sys.exc_info()[1], "ours")
                stop_parts(processes)
                _tell("demo stopped: server and sites are down")
        finally:  # the next demo must not find this one's record
            demo_guard.release(root)


FLARE_EXAMPLES = ("hello-numpy-sag",)  # the examples in FLARE's own job format


def run_flare_demo(workspace: str | None) -> int:
    """The demo on an NVIDIA FLARE POC; exit code as the console's (2: FLARE missing or not started)."""
    from console.poc import PocError, flare_python, start_poc

    def say(line: str) -> None:
        _tell(f"demo: {line}", sys.stderr)

    try:
        python = flare_python()
    except PocError as exc:
        _tell(f"flare-console demo: {exc}", sys.stderr)
        return 2
    if workspace:  # one demo per workspace: preparing a POC there would wipe the running one's
        current = demo_guard.flare_running(Path(workspace).expanduser().resolve())
        if current is not None:
            _tell(f"flare-console demo: {flare_busy_message(Path(workspace), current[0])}", sys.stderr)
            return 2
    poc = None
    try:
        poc = start_poc(python, SITES, Path(workspace) if workspace else None, log=say)
        demo_guard.record_flare(poc.root, poc.marker, poc.admin_kit)
        transfer = poc.admin_kit / "transfer"
        for name in FLARE_EXAMPLES:
            shutil.copytree(EXAMPLES / name, transfer / name, dirs_exist_ok=True)
        return _console_on(poc.admin_kit, f"NVIDIA FLARE server and {', '.join(SITES)} are up (admin kit: "
                           f"{poc.admin_kit}).", f"try: submit_job {FLARE_EXAMPLES[0]}   then: monitor_job <Tab>   "
                           "help lists every command", demo=again_words("nvflare", workspace and poc.root))
    except KeyboardInterrupt:
        return 130
    except PocError as exc:
        _tell(f"flare-console demo: {exc}", sys.stderr)
        return 2
    except Exception as exc:
        logs = f" (logs: {poc.prod}/*/log.txt)" if poc is not None and poc.prod is not None else ""
        _tell(f"demo failed: {type(exc).__name__}: {exc}{logs}", sys.stderr)
        return 1
    finally:
        if poc is not None:
            say_abandoned(poc.admin_kit, sys.exc_info()[1], "nvflare")
            poc.stop(say)
            demo_guard.release(poc.root)  # (a temporary root is gone already)
            say("stopped: the FLARE server and sites are down")


def flare_busy_message(root: Path, current: demo_guard.Running) -> str:
    who = (f"its console is flare-console process {current.owner}" if current.owner
           else "its console is gone, leaving FLARE processes behind")
    me = console_command()
    return (f"a FLARE demo is already running in {root} ({who}).\n"
            f"  open another console on it:  {me} --kit {shlex.quote(str(current.admin_kit))}\n"
            f"  or stop it:                  {me} demo --engine nvflare --stop --workspace {shlex.quote(str(root))}\n"
            f"  or run a separate demo:      {me} demo --engine nvflare (a temporary workspace)")


def stop_flare_demo(workspace: str | None, force: bool) -> int:
    """``demo --engine nvflare --stop``: the POC of the FLARE demo in ``workspace``, stopped; refused (exit 1)
    while that demo's console is open, unless ``force``. Without a workspace there is nothing to find: a
    FLARE demo in a temporary folder stops with its console, or by its reaper when the console was killed."""
    if not workspace:
        _tell("no FLARE demo to stop: one in a temporary folder stops with its console (bye), and its reaper stops "
              "its FLARE processes even when that console was killed; for a demo started with --workspace DIR, "
              "add the same --workspace DIR")
        return 0
    root = Path(workspace).expanduser().resolve()
    found = demo_guard.flare_running(root)
    if found is None:
        _tell(f"no FLARE demo is running in {root}")
        return 0
    current, marker = found
    if current.owner and not force:
        _tell(f"flare-console demo --stop: {demo_guard.console_open_message(root, current, 'nvflare')}", sys.stderr)
        return 1
    from console.poc.processes import kill_marked

    left = kill_marked(marker)
    if left:
        _tell(f"flare-console demo --stop: FLARE processes still alive after SIGKILL: {left}", sys.stderr)
        return 1
    if not current.owner:
        demo_guard.release(root)
    _tell(f"stopped the FLARE demo's {len(current.pids)} processes in {root}")
    return 0
