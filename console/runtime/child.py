"""What every job child process shares: its log, its control channel, and the abort watch.

A child talks JSON lines: events to its parent on the stdout pipe it was started with,
commands from its parent on the stdin pipe. Both pipes are moved to private descriptors at
start, and fds 0/1/2 become /dev/null and ``log.txt``: whatever the job's code starts
(a shell command, a helper process) writes to the log and can neither corrupt the control
channel nor keep it open. Models never travel on it: they are files (``arrays``).
``abort`` (or stdin closing, which means the parent died) sets the abort event; a child
that does not stop by itself is ended after a grace period, so no job process outlives
the process that started it. Lines are bounded (``limits``) both ways.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import io
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from console import safe_json
from console.jobdef.process_limits import ProcessLimits
from console.runtime.adoption import end_descendants
from console.runtime.confine import confine
from console.runtime.limits import MAX_EVENT_LINE_BYTES, MAX_LOG_LINE_CHARS, cut

EXIT_COMPLETED, EXIT_APP_ERROR, EXIT_CONFIG_ERROR, EXIT_ABORTED, EXIT_SITES_LOST = 0, 1, 2, 3, 4
ABORT_GRACE_SECONDS = 2.0
#: Job workspace folder for model files on their way in or out; emptied when the job ends.
TRANSFER_DIR = ".transfer"


class ConfigError(Exception):
    pass


_Entry = TypeVar("_Entry")


def load_entry(channel: ChildChannel, job_id: str, app: str, code: str, load: Callable[[], _Entry]) -> _Entry | None:
    """``load()``, or None after the reason went to the job log and, as an ``error`` event, to the parent.

    ``app`` names the app in messages ("server app", "client app"); ``code`` the job code it
    imports ("controller", "executor"). A broken config and job code that cannot be imported
    (a missing package, a syntax error, an exception at import) are both reported this way:
    the app never ran, and its parent ends the job with the message (FINISHED:EXECUTION_EXCEPTION).
    """
    try:
        return load()
    except ConfigError as exc:
        channel.logger.error("job %s: bad %s config: %s", job_id, app, exc)
        channel.emit("error", message=cut(f"bad {app} config: {exc}"))
    except Exception as exc:
        channel.logger.exception("job %s: the %s's code cannot be loaded", job_id, code)
        channel.emit("error", message=cut(f"the {code}'s code cannot be loaded: {type(exc).__name__}: {exc}"))
    return None


class _LogWriter(io.TextIOBase):
    """Sends what the app prints to the job log, line by line."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self._logger, self._level, self._buffer = logger, level, ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self._logger.log(self._level, line)
        if len(self._buffer) > MAX_LOG_LINE_CHARS:  # a print without newlines must not fill memory
            self._logger.log(self._level, self._buffer)
            self._buffer = ""
        return len(text)


class _CuttingFormatter(logging.Formatter):
    """Log lines longer than MAX_LOG_LINE_CHARS are cut, with the count of what was left out."""

    def format(self, record: logging.LogRecord) -> str:
        return cut(super().format(record), MAX_LOG_LINE_CHARS)


def end_now(code: int) -> None:
    """Exit at once with ``code``, and end every process the job started first."""
    end_descendants(0.5)
    os._exit(code)


_SIGTERM = {signal.SIGTERM}
_fork_masks = threading.local()  # the forking thread's signal mask before ``_block_sigterm``


def _on_sigterm(signum: int, frame: object) -> None:
    end_now(EXIT_ABORTED)


def _block_sigterm() -> None:
    _fork_masks.before = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGTERM)


def _restore_mask() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, _fork_masks.before)


def _forked_child() -> None:
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # a handler the job's code set stays
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _restore_mask()  # a SIGTERM sent meanwhile was kept pending: it ends the child now


def end_on_sigterm() -> None:
    """SIGTERM ends this job process (``end_now``), while the processes the job's code forks
    (``multiprocessing``'s workers, ``os.fork``) die of it, as in any Python program.

    ``multiprocessing.Pool.terminate`` (also at the end of its ``with`` block) ends its workers
    with SIGTERM and waits for them. A worker that inherited a Python-level handler loses a
    SIGTERM that comes between its fork and the interpreter's reset of pending signals in the
    child, then waits for ever on the pool's queue lock, and the job with it (a pool ended as
    soon as it is made hung within its first ten in each of 3 runs; tests/test_job_confinement.py).
    So SIGTERM is blocked across each fork: the child starts with it pending, not lost, and takes
    it once it has the default action back. Call once, in the main thread."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if hasattr(signal, "pthread_sigmask") and not getattr(end_on_sigterm, "hooked", False):
        end_on_sigterm.hooked = True  # type: ignore[attr-defined]
        os.register_at_fork(before=_block_sigterm, after_in_parent=_restore_mask, after_in_child=_forked_child)


class ChildChannel:
    """stdout events out, stdin commands in; ``commands`` gets every JSON command."""

    def __init__(self, name: str, workspace: Path, relayed: bool = False) -> None:
        """``relayed``: the parent reads this process's stderr into ``log.txt`` (within the job's
        log budget, ``console.runtime.job_output``); else (run by hand) it writes ``log.txt`` itself."""
        sys.stdout.flush()
        # Private, non-inheritable copies of the pipes; fds 0/1/2 stop being the channel.
        self._out: BinaryIO = os.fdopen(os.dup(1), "wb", buffering=0)
        self._in: BinaryIO = os.fdopen(os.dup(0), "rb")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log_fd = os.dup(2) if relayed else os.open(workspace / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                                   0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        if relayed:  # a log line that cannot be written (the parent is gone) has nowhere to be reported
            logging.raiseExceptions = False
        self._lock = threading.Lock()
        # Line by line to fd 2, which whatever the job starts shares: its lines and ours interleave whole.
        handler = logging.StreamHandler(os.fdopen(os.dup(2), "w", buffering=1, errors="replace"))
        handler.setFormatter(_CuttingFormatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        self.logger = logging.getLogger(name)
        sys.stdout = _LogWriter(logging.getLogger("app.stdout"), logging.INFO)  # type: ignore[assignment]
        sys.stderr = _LogWriter(logging.getLogger("app.stderr"), logging.WARNING)  # type: ignore[assignment]
        end_on_sigterm()
        self.abort_event = threading.Event()
        self.commands: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def emit(self, event: str, **fields: Any) -> None:
        """One event line to the parent. ValueError for NaN or infinity in it (the parent reads only
        JSON): the caller checks what job code hands over first (``limits.check_json``)."""
        line = json.dumps({"event": event, **fields}, default=str, allow_nan=False).encode() + b"\n"
        with self._lock:
            self._out.write(line)

    def start_reading(self) -> None:
        threading.Thread(target=self._read_stdin, daemon=True, name="control").start()

    def _read_stdin(self) -> None:
        reason = "the parent is gone (stdin closed)"
        while raw := self._in.readline(MAX_EVENT_LINE_BYTES + 1):
            if not raw.endswith(b"\n") and len(raw) > MAX_EVENT_LINE_BYTES:
                reason = f"a control line over {MAX_EVENT_LINE_BYTES} bytes from the parent"
                break
            text = raw.decode(errors="replace").strip()
            if text == "abort":
                reason = "abort requested"
                break
            try:
                command = safe_json.loads(text)
            except ValueError:
                self.logger.warning("unreadable control line ignored: %r", text[:200])
                continue
            if isinstance(command, dict) and command.get("cmd") == "end":
                self.commands.put(None)
                return
            if isinstance(command, dict):
                self.commands.put(command)
        self.logger.warning("%s; stopping", reason)
        self.abort_event.set()
        self.commands.put(None)
        timer = threading.Timer(ABORT_GRACE_SECONDS, end_now, args=(EXIT_ABORTED,))
        timer.daemon = True
        timer.start()


def add_process_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments the daemon gives every job process (``console.runtime.procs.start_job_process``)."""
    parser.add_argument("--limits", type=ProcessLimits.from_json, default=ProcessLimits(),
                        help="job_process_limits as JSON, set on this process before the job's code runs")
    parser.add_argument("--mark-owner", type=int, default=0,
                        help="the daemon's workspace tag, carried by this process's mark (console.runtime.job_mark)")
    parser.add_argument("--output-relayed", action="store_true",
                        help="the parent writes this process's stderr to log.txt (within the log budget)")


def open_channel(name: str, workspace: Path, relayed: bool, limits: ProcessLimits, mark_owner: int = 0) -> ChildChannel:
    """The channel, once this process is confined (``confine``, its mark carrying ``mark_owner``): before
    any of the job's code."""
    channel = ChildChannel(name, workspace, relayed)
    confined = confine(limits, mark_owner)
    channel.logger.info("job process limits: %s", ", ".join(f"{key} {value}" for key, value in confined.items()))
    return channel


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = safe_json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    if not isinstance(config.get("args", {}), dict):
        raise ConfigError(f"{path}: 'args' must be an object")
    return config


def drop_workspace_from_path() -> None:
    """Keep the job's folders off ``sys.path``: ``python -m`` puts the working folder (the job
    workspace, which holds the unpacked apps) first, so any file of the job would be importable."""
    cwd = Path.cwd().resolve()
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != cwd]


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def import_entry(spec: Any, app_dir: Path, what: str, custom_allowed: bool) -> Callable[..., Any]:
    """``module:function`` from the app's ``custom/`` folder, and only from there.

    Built-in entry points are named by word (a workflow, FLARE's classic classes) and never come
    here. ``custom_allowed`` is False unless the job's submitter holds the ``byoc`` right where this
    process runs; then no job code is imported at all.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ConfigError(f"'{what}' must be 'module:function', not {spec!r}")
    module_name, func_name = spec.split(":")
    if not _MODULE_NAME.match(module_name) or not func_name.isidentifier():
        raise ConfigError(f"'{what}' {spec!r} is not 'module:function' with Python names")
    if not custom_allowed:
        raise ConfigError(f"{what} {spec!r} is the job's own code, and this job may not run custom code here "
                          "(its submitter lacks the 'byoc' right); use a built-in workflow")
    custom = (app_dir / "custom").resolve()
    top = module_name.split(".")[0]
    if not custom.is_dir() or importlib.machinery.PathFinder.find_spec(top, [str(custom)]) is None:
        raise ConfigError(f"cannot import {what} module {module_name!r}: it is not in the app's custom/ folder")
    if top in sys.modules:
        raise ConfigError(f"{what} module {top!r} has the name of a module already loaded; rename it in custom/")
    sys.path.insert(0, str(custom))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {what} module {module_name!r} from custom/: {exc}") from None
    origin = getattr(module, "__file__", None)
    if not origin or not Path(origin).resolve().is_relative_to(custom):
        raise ConfigError(f"{what} module {module_name!r} did not come from the app's custom/ folder")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"{what} {spec!r}: {module_name} has no function {func_name!r}")
    return func
