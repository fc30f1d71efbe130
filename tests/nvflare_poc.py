"""A live NVIDIA FLARE POC for the tests: one per session, started on first use, stopped at the end.

FLARE lives in its own cached venv (``console.poc.venv``: ``~/.cache/flare-console/nvflare-2.9.0``,
installed from the registry on a fresh machine, about a minute, file-locked) with our core
dependencies added but not our package: several worktrees share that venv, so our console runs
from this checkout as ``VENV/bin/python -m console`` with ``PYTHONPATH`` set to the repo root.

The POC start gets a generous deadline and one retry. Every FLARE process is stopped at the end
of the session, also when tests failed; if pytest itself dies (a timeout's ``os._exit``, a kill),
``console.poc``'s reaper process stops them. Tests that use ``flare_poc`` or ``flare_venv`` are marked
``nvflare`` (``pytest -m nvflare`` selects them) and run in plain ``make test`` too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from console.poc import FlarePoc, PocError, start_poc
from console.poc.venv import core_requirements, ensure_flare_venv

REPO = Path(__file__).resolve().parent.parent
#: What our console's submit_job says of the job it submitted.
SUBMITTED = re.compile(r"Submitted job: ([0-9a-f-]{36})")
# The first test to use the POC also pays for the venv (about a minute on a fresh machine) and the
# start (25 s here, slower on a loaded machine, twice if the first start fails).
FIRST_USE_TIMEOUT = 900


#: A lead of another org than the POC's sites and server (all ``nvidia``): what FLARE's default policy lets a lead
#: do on another org's sites (``operate``, ``shell_commands``: ``o:site``) is refused; a kit only, no process.
OTHER_LEAD = ("lead@other.org", "other", "lead")


@dataclass
class LiveFlare:
    """The running POC as the tests see it: kit, sites, and our console run with FLARE's interpreter."""

    poc: FlarePoc

    @property
    def python(self) -> Path:
        return self.poc.python

    @property
    def admin_kit(self) -> Path:
        return self.poc.admin_kit

    @property
    def admin(self) -> str:
        return self.poc.admin

    @property
    def sites(self) -> tuple[str, ...]:
        return self.poc.sites

    def console_env(self, home: Path, **extra: str) -> dict[str, str]:
        """Our console's environment: FLARE's venv, this checkout on the path, config and data in ``home``.

        It carries the POC's marker, so a console a test leaves behind is stopped with the POC.
        """
        env = {k: v for k, v in self.poc.env.items() if k not in ("FLARE_KIT", "PAGER", "NO_COLOR")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                   PYTHONPATH=str(REPO), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1", **extra)
        return env

    def console_args(self, *args: str, kit: bool | Path = True) -> list[str]:
        """``kit``: the project admin's kit (True), none (False), or that kit (``other_kit``'s)."""
        chosen = self.admin_kit if kit is True else kit
        return ["-m", "console", *(["--kit", str(chosen)] if chosen else []), *args]

    def other_kit(self, admin: str = OTHER_LEAD[0]) -> Path:
        """The admin kit of another user of the POC (``OTHER_LEAD``: a lead of another org)."""
        return self.poc.kit_of(admin)

    def run_console(self, home: Path, *args: str, stdin: str = "", timeout: float = 120, kit: bool | Path = True,
                    **env: str) -> subprocess.CompletedProcess[str]:
        """A batch: ``python -m console [--kit ADMIN_KIT] ARGS`` with ``stdin`` piped; text out and err."""
        return subprocess.run([str(self.python), *self.console_args(*args, kit=kit)], input=stdin,
                              capture_output=True, text=True, timeout=timeout, env=self.console_env(home, **env))

    def spawn_console(self, home: Path, *args: str, kit: bool = True, timeout: float = 30,
                      dimensions: tuple[int, int] = (40, 160), **env: str) -> pexpect.spawn:
        """The interactive console in a pty (pexpect); the caller stops it (``terminate(force=True)``)."""
        return pexpect.spawn(str(self.python), self.console_args(*args, kit=kit),
                             env=self.console_env(home, **env), encoding="utf-8", timeout=timeout,
                             dimensions=dimensions)

    def submit(self, home: Path, folder: Path | str) -> str:
        """The ID of the job ``folder``, submitted by a batch of our console (``home`` its home); the test fails,
        with the batch's output, when it says no job was submitted."""
        done = self.run_console(home, "-c", f"submit_job {folder}", timeout=120)
        found = SUBMITTED.search(done.stdout)
        assert found, f"{done.stdout}\n{done.stderr}"
        return found.group(1)

    def run_flare_python(self, code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``python -c CODE ARGS`` in FLARE's venv with the POC's environment (FLARE's own API at hand)."""
        return self.poc.run_python("-c", code, *args, timeout=timeout)


def _log(message: str) -> None:
    print(f"[flare_poc] {message}", file=sys.stderr)


def start_live_flare(python: Path, attempts: int = 2) -> LiveFlare:
    """A POC started with FLARE's venv ``python``; a failed start is retried once from scratch."""
    for attempt in range(1, attempts + 1):
        try:
            return LiveFlare(start_poc(python, log=_log, connect_timeout=180, other_admins=(OTHER_LEAD,)))
        except PocError as exc:  # start_poc has stopped what it started
            if attempt == attempts:
                raise
            _log(f"the FLARE POC did not start ({exc}); trying once more")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def flare_venv() -> Path:
    """FLARE's venv python, with our core dependencies (not our package: use ``PYTHONPATH``)."""
    return ensure_flare_venv(core_requirements(), log=_log)


@pytest.fixture(scope="session")
def flare_poc(flare_venv: Path) -> Iterator[LiveFlare]:
    """One live FLARE POC (server, site-1, site-2) for the whole session."""
    live = start_live_flare(flare_venv)
    try:
        yield live
    finally:
        live.poc.stop(_log)


MARKER_HELP = "nvflare: uses FLARE's venv or live POC (flare_venv, flare_poc); -m nvflare selects them"
GROUP_HELP = "xdist_group(name): tests pytest-xdist runs on one worker (--dist loadgroup)"
FLARE_FIXTURES = ("flare_venv", "flare_poc")


#: The one xdist group of every FLARE test (``pytest -n 2 --dist loadgroup``): one worker runs them
#: all, so one POC runs and one worker builds FLARE's venv (``make test``).
FLARE_GROUP = "nvflare"


def mark_flare_test(item: pytest.Item) -> None:
    """Every test using FLARE's venv or POC is an ``nvflare`` test (marked when collected: ``-m`` sees it).

    Under xdist (``--dist loadgroup``) every FLARE test is in one group, and every other test in its
    module's: a module's shared parts (``fed``, ``served``: a server and sites) start once, on one worker.
    """
    flare = bool(set(FLARE_FIXTURES) & set(getattr(item, "fixturenames", ())))
    if flare:
        item.add_marker(pytest.mark.nvflare)
    item.add_marker(pytest.mark.xdist_group(FLARE_GROUP if flare else item.nodeid.split("::")[0]))


def check_groups_hold(config: pytest.Config, ids: list[str]) -> None:
    """On the xdist controller under ``--dist loadgroup``, given a worker's collected node IDs: stop the run at
    once when the groups would be ignored. xdist sends the group to its scheduler as a suffix of the node ID
    (``path::test@group``, every test here has a group: ``mark_flare_test``); pytest 9.2's ``nodeid`` dropped
    it, and every group was split over the workers in silence (two FLARE POCs at once, CI session 11)."""
    if config.getvalue("dist") != "loadgroup":
        return
    split = next((nodeid for nodeid in ids if "@" not in nodeid), None)
    if split is not None:
        pytest.exit(f"pytest-xdist's --dist loadgroup would be ignored ({split} carries no @group in its node ID): "
                    f"this pytest ({pytest.__version__}) and pytest-xdist do not work together; install the versions "
                    "pyproject.toml's dev extra pins (make install)", returncode=4)


def give_first_flare_tests_the_setup_time(items: list[pytest.Item]) -> None:
    """The first test in run order to use each FLARE fixture sets it up: it gets ``FIRST_USE_TIMEOUT``."""
    for fixture in FLARE_FIXTURES:
        item = next((i for i in items if fixture in getattr(i, "fixturenames", ())), None)
        if item is None:
            continue
        own = item.get_closest_marker("timeout")
        if own is None or (own.args and own.args[0] < FIRST_USE_TIMEOUT):
            item.add_marker(pytest.mark.timeout(FIRST_USE_TIMEOUT), append=False)  # before its own
