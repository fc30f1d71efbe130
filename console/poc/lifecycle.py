"""Prepare, start, wait for and stop a FLARE POC: ``start_poc`` / ``running_poc``.

The POC runs in the interpreter given (``flare_python()``: the current one, which needs the
``[nvflare]`` extra) through FLARE's own CLI (``python -m nvflare.cli poc ...``). FLARE's start
scripts call ``python3`` from ``PATH``, so a shim folder first on the POC's ``PATH`` points that
name at the chosen interpreter. FLARE processes run in their own session: a Ctrl-C typed into a
console beside them must not reach them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from console.poc.processes import MARKER_VAR, kill_marked, marked_pids, start_reaper, stop_reaper
from console.ports import free_port

NVFLARE_ADMIN = "admin@nvidia.com"
PROJECT = "flare_poc"
INSTALL_HINT = "pip install 'flare-console[nvflare]'"

Log = Callable[[str], object]

#: Seconds FLARE's own stop gets (its request, then the POC's processes ending), before signals stop the rest.
STOP_WAIT = 12.0


class PocError(RuntimeError):
    """FLARE is missing, or the POC could not be prepared, started or reached; the message says which."""


def flare_python() -> Path:
    """This interpreter, when NVIDIA FLARE is importable in it; else ``PocError`` saying what to install."""
    try:
        found = importlib.util.find_spec("nvflare") is not None
    except (ImportError, ValueError):  # a broken install, or an import blocked in sys.modules
        found = False
    if not found:
        raise PocError(f"NVIDIA FLARE is not installed for {sys.executable}: {INSTALL_HINT}")
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

    def _ended_by(self, deadline: float) -> bool:
        """Whether every process of the POC has ended by ``deadline`` (``time.monotonic()``; polled)."""
        while self.processes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

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
        """Stop every process of the POC (FLARE's stop, then the marked stragglers); idempotent.

        FLARE's own stop (it shuts the system down through the admin port) runs when ``graceful``, by
        default when the workspace is kept, and only while every part (server, sites) runs and the
        server answers on its port: FLARE's waiting stop took 31 s with the server stopped and 42 s
        with a site killed (it waits out its timeouts for parts that cannot answer). It is asked
        without FLARE's own wait, and it and the POC's processes ending get ``STOP_WAIT`` s in all;
        what is left then is stopped by signal. A temporary POC, whose state nobody keeps, is stopped
        by signals alone. A Ctrl-C meanwhile does not interrupt the stop; a second one during FLARE's
        own stop kills the processes at once (``_CtrlCWhileStopping``).
        """
        if self.stopped:
            return
        self.stopped = True
        graceful = self.keep_root if graceful is None else graceful
        with _CtrlCWhileStopping(log) as ctrl_c:
            try:
                wanted = self.prod is not None and graceful
                stopped = self.parts_stopped() if wanted else []
                ctrl_c.graceful = wanted and not stopped and self.server_answers()
                how = ""
                if ctrl_c.graceful:
                    how = " (FLARE's own stop: usually a few seconds; Ctrl-C twice kills them at once)"
                elif wanted:
                    gone = ", ".join(stopped) or "server"
                    how = f" (FLARE's {gone}: stopped or stopping, so FLARE's own stop cannot run; stopped by signal)"
                log("stopping the FLARE server and sites" + how)
                if ctrl_c.graceful:
                    try:
                        deadline = time.monotonic() + STOP_WAIT
                        self.nvflare("poc", "stop", "--no-wait", timeout=STOP_WAIT)
                        if not self._ended_by(deadline):
                            log(f"FLARE's stop left processes running after {STOP_WAIT:g} s; stopping them by signal")
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


def _project_file(path: Path, port: int, sites: tuple[str, ...]) -> None:
    participants = [{"name": "server", "type": "server", "org": "nvidia", "fed_learn_port": port}]
    participants += [{"name": s, "type": "client", "org": "nvidia"} for s in sites]
    participants.append({"name": NVFLARE_ADMIN, "type": "admin", "org": "nvidia", "role": "project_admin"})
    path.write_text(yaml.safe_dump({
        "api_version": 3, "name": PROJECT, "description": "flare-console's local FLARE POC",
        "participants": participants,
        "builders": [  # FLARE's POC builders, minus the docker and helm ones a loopback POC never uses
            {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder",
             "args": {"template_file": ["master_template.yml"]}},
            {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
            {"path": "nvflare.lighter.impl.cert.CertBuilder"},
            {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
        ],
    }, sort_keys=False))


def _confine_to_loopback(prod: Path, port: int) -> None:
    """FLARE's POC server listens on every interface; a local POC needs loopback only."""
    config_file = prod / "server" / "startup" / "fed_server.json"
    config = json.loads(config_file.read_text())
    for server in config.get("servers", []):
        service = server.get("service", {})
        if service.get("target", "").endswith(f":{port}"):
            service["target"] = f"localhost:{port}"
    config_file.write_text(json.dumps(config, indent=2))


OWNED = ".flare-console-poc"  # marks a folder as a POC workspace we made: we may wipe its POC


def _claim(root: Path) -> None:
    """Make ``root`` a POC workspace: new, empty, or one of ours (its old POC goes: its ports are stale)."""
    if root.exists() and any(root.iterdir()) and not (root / OWNED).exists():
        raise PocError(f"{root} is not empty and holds no FLARE POC made by flare-console: "
                       "give a new or empty folder (FLARE's `poc prepare` replaces what it finds)")
    root.mkdir(parents=True, exist_ok=True)
    (root / OWNED).touch()
    shutil.rmtree(root / "poc", ignore_errors=True)


def _environment(root: Path, python: Path) -> dict[str, str]:
    shims = root / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    for name in ("python3", "python"):
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
        shim.chmod(0o755)
    env = {**os.environ, "HOME": str(root / "home"), "NVFLARE_POC_WORKSPACE": str(root / "poc"),
           "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}", MARKER_VAR: uuid.uuid4().hex,
           "PYTHONUNBUFFERED": "1", "PYTHONUSERBASE": site.getuserbase()}  # HOME moves; user site must not
    env.pop("VIRTUAL_ENV", None)
    if python != Path(sys.executable):
        env.pop("PYTHONPATH", None)  # ours is for our interpreter; FLARE's venv has its own packages
    (root / "home").mkdir(exist_ok=True)
    return env


# Runs in the POC's interpreter. FLARE's admin login challenges the server before its connection
# is up, fails, and retries after a fixed 1 s; a 50 ms retry makes the same login about 1 s faster.
WAIT_FOR_SITES = """
import sys, time
from nvflare.fuel.flare_api.flare_api import new_secure_session
try:
    from nvflare.private.fed import authenticator
    _init = authenticator.Authenticator.__init__
    def _quick_retry(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.retry_interval = min(self.retry_interval, 0.05)
    authenticator.Authenticator.__init__ = _quick_retry
except (ImportError, AttributeError):
    pass
user, kit, sites, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + timeout
sess = new_secure_session(user, kit, timeout=timeout)
while len(sess.get_connected_client_list()) < sites:
    if time.monotonic() > deadline:
        sys.exit(f"only {sess.get_connected_client_list()} of {sites} sites connected after {timeout:.0f} s")
    time.sleep(0.1)
sess.close()
"""


def start_poc(python: Path | None = None, sites: tuple[str, ...] = ("site-1", "site-2"),
              workspace: Path | None = None, log: Log = print, connect_timeout: float = 120) -> FlarePoc:
    """Prepare and start a POC, return once every site in ``sites`` is connected.

    ``python`` runs FLARE (default: ``flare_python()``). ``workspace`` is kept afterwards (a
    temporary folder, removed at stop, when ``None``). On any failure, Ctrl-C included, every
    process started so far is stopped before the error propagates. Raises ``PocError``.
    """
    python = python or flare_python()
    root = Path(workspace).expanduser().resolve() if workspace else Path(tempfile.mkdtemp(prefix="flare-poc-"))
    if workspace:
        _claim(root)
    port = free_port()
    env = _environment(root, python)
    poc = FlarePoc(root=root, python=python, env=env, port=port, sites=tuple(sites), keep_root=bool(workspace))
    try:
        poc.reaper = start_reaper(poc.marker, None if workspace else root)
        _project_file(root / "project.yml", port, poc.sites)
        log(f"preparing a FLARE POC in {root} (server on localhost:{port}, sites {', '.join(sites)})")
        prepared = poc.nvflare("poc", "prepare", "-i", str(root / "project.yml"), "--force", timeout=300)
        prods = sorted((root / "poc" / PROJECT).glob("prod_*"))
        if prepared.returncode != 0 or not prods:
            raise PocError(f"`nvflare poc prepare` failed:\n{prepared.stdout[-2000:]}{prepared.stderr[-2000:]}")
        poc.prod = prods[-1]
        _confine_to_loopback(poc.prod, port)
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

