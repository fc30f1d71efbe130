"""Prepare, start, wait for and stop a FLARE POC: ``start_poc`` / ``running_poc``.

The POC runs in the interpreter given (``flare_python()``: the current one, which needs the
``[nvflare]`` extra) through FLARE's own CLI (``python -m nvflare.cli poc ...``). FLARE's start
scripts call ``python3`` from ``PATH``, so a shim folder first on the POC's ``PATH`` points that
name at the chosen interpreter. FLARE processes run in their own session: a Ctrl-C typed into a
console beside them must not reach them. The POC's folder and environment are ``workspace``'s, the
programs run in FLARE's interpreter ``flare_scripts``'.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.invocation import install_extra_command
from console.poc.errors import PocError
from console.poc.flare_scripts import ABORT_RUNNING, WAIT_FOR_SITES
from console.poc.processes import MARKER_VAR, kill_marked, marked_pids, start_reaper, stop_reaper
from console.poc.workspace import (
    NVFLARE_ADMIN,
    PROJECT,
    claim,
    confine_to_loopback,
    environment,
    project_file,
)
from console.ports import free_port

Log = Callable[[str], object]

#: Seconds the running jobs' abort gets (a login, FLARE's abort, until FLARE records them ended: 8.5 s
#: measured for hello-numpy-sag), before signals stop everything.
STOP_WAIT = 20.0
#: The modules FLARE 2.9 runs a job in: the server's part, and each site's (their own children below them).
JOB_MODULES = ("nvflare.private.fed.app.server.runner_process", "nvflare.private.fed.app.client.worker_process")
#: What each part's start loop (``startup/sub_start.sh``) keeps in the part's folder while it runs, and removes
#: as it ends: stopped by signal, the loop leaves them, so they are removed for it.
LOOP_FILES = ("pid.fl", "shutdown.fl", "restart.fl", "daemon_pid.fl")


def flare_python() -> Path:
    """This interpreter, when NVIDIA FLARE is importable in it; else ``PocError`` saying what to install."""
    try:
        found = importlib.util.find_spec("nvflare") is not None
    except (ImportError, ValueError):  # a broken install, or an import blocked in sys.modules
        found = False
    if not found:
        raise PocError(f"NVIDIA FLARE is not installed for {sys.executable}: {install_extra_command()}")
    return Path(sys.executable)


@dataclass
class FlarePoc:
    """A running FLARE POC: its kits, its environment, and how to stop it.

    ``root`` holds ``home/`` (the POC's ``HOME``), ``poc/`` (FLARE's POC workspace, with
    ``jobs-storage/``) and ``bin/`` (the ``python3`` shim). ``prod`` is the provisioned
    ``prod_NN`` folder with one participant folder per site, ``server`` and ``admin``.
    """

    root: Path
    python: Path
    env: dict[str, str]
    port: int
    sites: tuple[str, ...]
    keep_root: bool
    reaper: subprocess.Popen[bytes] | None = None
    prod: Path | None = None
    admin: str = NVFLARE_ADMIN
    stopped: bool = field(default=False, init=False)

    @property
    def admin_kit(self) -> Path:
        assert self.prod is not None
        return self.prod / self.admin

    def kit_of(self, admin: str) -> Path:
        """The admin kit of ``admin`` (the project admin's, or one of ``start_poc``'s ``other_admins``)."""
        assert self.prod is not None
        return self.prod / admin

    @property
    def marker(self) -> str:
        return self.env[MARKER_VAR]

    def processes(self) -> list[int]:
        """Pids of every live process of this POC (server, sites, their jobs, the start loops)."""
        return marked_pids(self.marker)

    def run_python(self, *args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:
        """Run the POC's interpreter with the POC's environment (FLARE's API and CLI importable)."""
        return subprocess.run([str(self.python), *args], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, **kwargs)

    def parts_stopped(self) -> list[str]:
        """The POC's parts (``server``, sites) whose FLARE process is not running (killed) or is stopping
        (shut down by an admin: FLARE 2.9's server and client engines then write ``shutdown.fl``)."""
        if self.prod is None:
            return []
        running = "\0".join(_command_line(pid) for pid in self.processes())
        return [part for part in ("server", *self.sites)
                if f"\0-m\0{self.prod / part}\0" not in running or (self.prod / part / "shutdown.fl").exists()]

    def job_processes(self) -> list[int]:
        """Pids of the POC's job processes (a job running on the server or a site: ``JOB_MODULES``)."""
        return [pid for pid in self.processes() if any(f"\0{m}\0" in _command_line(pid) for m in JOB_MODULES)]

    def _abort_running_jobs(self, log: Log) -> None:
        """FLARE's abort of every running job, waited for until FLARE records them ended (``STOP_WAIT`` s)."""
        try:
            done = self.run_python("-c", ABORT_RUNNING, self.admin, str(self.admin_kit), str(STOP_WAIT),
                                   timeout=STOP_WAIT + 10, start_new_session=True)
        except subprocess.TimeoutExpired:
            log(f"the running jobs were not recorded aborted within {STOP_WAIT:g} s; stopping them by signal")
            return
        if done.returncode != 0:
            log(f"the running jobs could not all be aborted ({(done.stderr or done.stdout).strip()[-300:]}); "
                "stopping them by signal")

    def _clear_loop_files(self) -> None:
        """What the parts' start loops would have removed as they ended (``LOOP_FILES``)."""
        if self.prod is None:
            return
        for part in ("server", *self.sites):
            for name in LOOP_FILES:
                with contextlib.suppress(OSError):
                    (self.prod / part / name).unlink()

    def server_answers(self, timeout: float = 1.0) -> bool:
        """Whether FLARE's server accepts connections on its port (it serves admins and sites there)."""
        try:
            with socket.create_connection(("localhost", self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def nvflare(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``nvflare ARGS`` with this POC's environment; ``PocError`` if it does not return in time."""
        try:
            return subprocess.run([str(self.python), "-m", "nvflare.cli", *args], env=self.env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                                  start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise PocError(f"`nvflare {' '.join(args)}` did not return within {timeout:.0f} s") from exc

    def stop(self, log: Log = print, graceful: bool | None = None) -> None:
        """Stop every process of the POC (its running jobs aborted first when ``graceful``, then signals);
        idempotent.

        When ``graceful`` (by default when the workspace is kept, to be read afterwards) and a job runs
        (``job_processes``), its abort is asked of FLARE (``ABORT_RUNNING``: FLARE's own ``abort_job``)
        and waited for until FLARE records the job ended, so that the kept job store says
        FINISHED:ABORTED rather than RUNNING for good: a server stopped under a running job leaves it so,
        FLARE's own ``poc stop`` too (it asks the abort and shuts down before the abort is recorded;
        ``console.backends.nvflare_orphans``). That runs only while every part (server, sites) runs and
        the server answers on its port (a part that cannot answer makes FLARE wait out its timeouts:
        31-42 s measured), and gets ``STOP_WAIT`` s. Then every process is stopped by signal, without
        FLARE's shutdown: it recorded nothing more, and took 11 s (its CLI's login, its processes' 3 s
        teardown after their engines stopped, its start loops' 5 s poll). The start loops' own files
        (``LOOP_FILES``) are removed as the loops would have removed them. A temporary POC, whose state
        nobody keeps, is stopped by signals alone. A Ctrl-C meanwhile does not interrupt the stop; a
        second one during the abort kills the processes at once (``_CtrlCWhileStopping``).
        """
        if self.stopped:
            return
        self.stopped = True
        graceful = self.keep_root if graceful is None else graceful
        with _CtrlCWhileStopping(log) as ctrl_c:
            try:
                wanted = self.prod is not None and graceful and bool(self.job_processes())
                stopped = self.parts_stopped() if wanted else []
                ctrl_c.graceful = wanted and not stopped and self.server_answers()
                how = ""
                if ctrl_c.graceful:
                    how = (" (a job runs: aborted first, so that the kept job store records it; FLARE takes some "
                           "seconds; Ctrl-C twice kills them at once)")
                elif wanted:
                    gone = ", ".join(stopped) or "server"
                    how = f" (FLARE's {gone}: stopped or stopping, so FLARE's own stop cannot run; stopped by signal)"
                log("stopping the FLARE server and sites" + how)
                if ctrl_c.graceful:
                    try:
                        self._abort_running_jobs(log)
                    finally:
                        ctrl_c.graceful = False  # (a Ctrl-C after it: _StopHarder only ever within this try)
            except PocError as exc:
                log(f"{exc}; killing the POC's processes")
            except _StopHarder:
                log("Ctrl-C again: killing FLARE's POC processes")
            finally:
                left = kill_marked(self.marker)
                if left:
                    log(f"FLARE POC processes still alive after SIGKILL: {left}")
                self._clear_loop_files()
                if not self.keep_root:
                    shutil.rmtree(self.root, ignore_errors=True)
                if self.reaper is not None:
                    stop_reaper(self.reaper)


def _command_line(pid: int) -> str:
    """A process's arguments joined by NULs, with a NUL on each end ("" once it is gone)."""
    try:
        return "\0" + Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


class _StopHarder(Exception):
    """A second Ctrl-C while FLARE's own stop runs: its processes are killed at once instead."""


class _CtrlCWhileStopping:
    """Ctrl-C while a POC stops: the stop goes on to its end (an interrupted stop would leave FLARE's
    processes running, or a traceback). The first Ctrl-C says so; a second one while FLARE's own stop
    (``graceful``) still runs cuts it short (``_StopHarder``), and the processes are killed by signal.
    Python handles signals in the main thread only: elsewhere this does nothing."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.graceful = False
        self.presses = 0
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _CtrlCWhileStopping:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._heard)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)

    def _heard(self, signum: int, frame: object) -> None:
        self.presses += 1
        if self.graceful and self.presses > 1:
            self.graceful = False
            raise _StopHarder()
        if self.presses == 1:
            hint = " (Ctrl-C again kills them at once)" if self.graceful else ""
            with contextlib.suppress(RuntimeError):  # (a print interrupted on the same stream: said nothing)
                self.log(f"stopping FLARE's POC; its processes are being stopped{hint}")


def start_poc(python: Path | None = None, sites: tuple[str, ...] = ("site-1", "site-2"),
              workspace: Path | None = None, log: Log = print, connect_timeout: float = 120,
              other_admins: tuple[tuple[str, str, str], ...] = ()) -> FlarePoc:
    """Prepare and start a POC, return once every site in ``sites`` is connected.

    ``python`` runs FLARE (default: ``flare_python()``). ``workspace`` is kept afterwards (a
    temporary folder, removed at stop, when ``None``). ``other_admins``: more admin users (name, org,
    role), each with a kit at ``prod / name`` (``FlarePoc.kit_of``). On any failure, Ctrl-C included,
    every process started so far is stopped before the error propagates. Raises ``PocError``.
    """
    python = python or flare_python()
    root = Path(workspace).expanduser().resolve() if workspace else Path(tempfile.mkdtemp(prefix="flare-poc-"))
    if workspace:
        claim(root)
    port = free_port()
    env = environment(root, python)
    poc = FlarePoc(root=root, python=python, env=env, port=port, sites=tuple(sites), keep_root=bool(workspace))
    try:
        poc.reaper = start_reaper(poc.marker, None if workspace else root)
        project_file(root / "project.yml", port, poc.sites, other_admins)
        log(f"preparing a FLARE POC in {root} (server on localhost:{port}, sites {', '.join(sites)})")
        prepared = poc.nvflare("poc", "prepare", "-i", str(root / "project.yml"), "--force", timeout=300)
        prods = sorted((root / "poc" / PROJECT).glob("prod_*"))
        if prepared.returncode != 0 or not prods:
            raise PocError(f"`nvflare poc prepare` failed:\n{prepared.stdout[-2000:]}{prepared.stderr[-2000:]}")
        poc.prod = prods[-1]
        confine_to_loopback(poc.prod, port)
        log("starting the FLARE server and sites")
        # --no-wait: FLARE's own readiness wait polls once a second; ours (below) polls faster.
        started = poc.nvflare("poc", "start", "-ex", NVFLARE_ADMIN, "--no-wait", timeout=240)
        if started.returncode != 0:
            raise PocError(f"`nvflare poc start` failed:\n{started.stdout[-2000:]}{started.stderr[-2000:]}")
        try:
            ready = poc.run_python("-c", WAIT_FOR_SITES, poc.admin, str(poc.admin_kit), str(len(sites)),
                                   str(connect_timeout), timeout=connect_timeout + 60)
        except subprocess.TimeoutExpired as exc:
            raise PocError(f"the FLARE server did not answer within {connect_timeout + 60:.0f} s") from exc
        if ready.returncode != 0:
            raise PocError(f"the FLARE sites did not connect (logs: {poc.prod}/*/log.txt):\n"
                           f"{ready.stderr[-2000:]}")
        return poc
    except BaseException:
        poc.stop(log)
        log("stopped: the FLARE server and sites are down")  # the end a started POC's stop says (demo's bye)
        raise


@contextmanager
def running_poc(python: Path | None = None, sites: tuple[str, ...] = ("site-1", "site-2"),
                workspace: Path | None = None, log: Log = print) -> Iterator[FlarePoc]:
    """``start_poc`` as a block: every POC process is stopped when the block ends or fails."""
    poc = start_poc(python, sites, workspace, log)
    try:
        yield poc
    finally:
        poc.stop(log)

