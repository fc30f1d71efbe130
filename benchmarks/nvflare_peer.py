"""The reference peer: a real NVIDIA FLARE POC (server + sites) on loopback, started and stopped for us.

``running_poc()`` prepares a POC in a temporary workspace with its own ``HOME`` (FLARE writes
``~/.nvflare``) on a free port, starts it, waits until the sites are connected and, when the block
ends or fails, stops FLARE and then every process that still carries this run's marker in its
environment (FLARE's ``sub_start.sh`` loops outlive ``nvflare poc stop``).

NVFlare lives in its own venv (``FLARE_PEER_VENV``, default ``~/.cache/flare-console/nvflare-2.9.0``),
created on first use and reused after. It is never imported here: everything FLARE runs in that venv's
interpreter, so this module needs only the standard library and PyYAML.

Run ``python benchmarks/nvflare_peer.py`` to start a POC, print how to reach it, and stop it on Enter.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NVFLARE_VERSION = "2.9.0"
PEER_ADMIN = "admin@nvidia.com"
MARKER_VAR = "FLARE_PEER_RUN"
DEFAULT_VENV = Path.home() / ".cache" / "flare-console" / f"nvflare-{NVFLARE_VERSION}"


class PeerError(RuntimeError):
    """The NVFlare peer could not be installed, started or reached; the message says which step."""


def peer_venv() -> Path:
    return Path(os.environ.get("FLARE_PEER_VENV", str(DEFAULT_VENV))).expanduser()


def ensure_venv(log=print) -> Path:
    """The peer venv's python, with nvflare installed (about a minute and 240 MB the first time)."""
    venv = peer_venv()
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Two runs at once (a test and a benchmark) must not both install into one venv.
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(python) == NVFLARE_VERSION:
            return python
        log(f"installing nvflare=={NVFLARE_VERSION} into {venv} (about a minute, once)")
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               f"nvflare=={NVFLARE_VERSION}"], capture_output=True, text=True)
        if done.returncode != 0 or _installed_version(python) != NVFLARE_VERSION:
            raise PeerError(f"pip could not install nvflare=={NVFLARE_VERSION} into {venv}:\n{done.stderr[-2000:]}")
    return python


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('nvflare'))"],
                           capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PeerPoc:
    """A running NVFlare POC: where its kits are and how to run code beside it."""

    root: Path
    python: Path
    env: dict[str, str]
    prod: Path
    port: int
    sites: tuple[str, ...]
    admin: str = PEER_ADMIN
    started: list[int] = field(default_factory=list)

    @property
    def admin_kit(self) -> Path:
        return self.prod / self.admin

    @property
    def marker(self) -> str:
        return self.env[MARKER_VAR]

    def run_python(self, *args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:
        """Run the peer venv's python with this POC's environment."""
        return subprocess.run([str(self.python), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kwargs)


def _project_file(path: Path, port: int, sites: tuple[str, ...]) -> None:
    participants = [{"name": "server", "type": "server", "org": "nvidia", "fed_learn_port": port}]
    participants += [{"name": site, "type": "client", "org": "nvidia"} for site in sites]
    participants.append({"name": PEER_ADMIN, "type": "admin", "org": "nvidia", "role": "project_admin"})
    path.write_text(yaml.safe_dump({
        "api_version": 3, "name": "peer_project", "description": "flare-console reference peer",
        "participants": participants,
        "builders": [
            {"path": "nvflare.lighter.impl.workspace.WorkspaceBuilder",
             "args": {"template_file": ["master_template.yml"]}},
            {"path": "nvflare.lighter.impl.static_file.StaticFileBuilder", "args": {"config_folder": "config"}},
            {"path": "nvflare.lighter.impl.cert.CertBuilder"},
            {"path": "nvflare.lighter.impl.signature.SignatureBuilder"},
        ],
    }, sort_keys=False))


def _nvflare(poc_env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    nvflare = str(Path(poc_env["PATH"].split(os.pathsep)[0]) / "nvflare")
    try:
        return subprocess.run([nvflare, *args], env=poc_env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"`nvflare {' '.join(args)}` did not return within {timeout:.0f} s") from exc


def _confine_to_loopback(prod: Path, port: int) -> None:
    """FLARE's POC server listens on every interface; loopback is all a benchmark needs."""
    config_file = prod / "server" / "startup" / "fed_server.json"
    config = json.loads(config_file.read_text())
    for server in config.get("servers", []):
        service = server.get("service", {})
        if service.get("target", "").endswith(f":{port}"):
            service["target"] = f"localhost:{port}"
    config_file.write_text(json.dumps(config, indent=2))


def marked_pids(marker: str) -> list[int]:
    """Every live process whose environment carries ``FLARE_PEER_RUN=marker``."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _kill_marked(marker: str, grace: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = marked_pids(marker)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            time.sleep(0.1)
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


WAIT_FOR_SITES = """
import sys, time
from nvflare.fuel.flare_api.flare_api import new_secure_session
sess = new_secure_session(sys.argv[1], sys.argv[2], timeout=30)
deadline = time.monotonic() + float(sys.argv[4])
while len(sess.get_connected_client_list()) < int(sys.argv[3]):
    if time.monotonic() > deadline:
        sys.exit("the sites did not connect")
    time.sleep(0.5)
sess.close()
"""


@contextmanager
def running_poc(sites: tuple[str, ...] = ("site-1", "site-2"), log=print) -> Iterator[PeerPoc]:
    """A started NVFlare POC with ``sites`` connected, stopped (every process) when the block ends."""
    python = ensure_venv(log)
    root = Path(tempfile.mkdtemp(prefix="nvflare-peer-"))
    port = free_port()
    env = {**os.environ, "HOME": str(root / "home"), "NVFLARE_POC_WORKSPACE": str(root / "poc"),
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}", MARKER_VAR: uuid.uuid4().hex,
           "PYTHONUNBUFFERED": "1"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    (root / "home").mkdir()
    try:
        _project_file(root / "project.yml", port, sites)
        prepared = _nvflare(env, "poc", "prepare", "-i", str(root / "project.yml"), "--force", timeout=300)
        prods = sorted((root / "poc" / "peer_project").glob("prod_*"))
        if prepared.returncode != 0 or not prods:
            raise PeerError(f"`nvflare poc prepare` failed:\n{prepared.stdout[-2000:]}{prepared.stderr[-2000:]}")
        poc = PeerPoc(root=root, python=python, env=env, prod=prods[-1], port=port, sites=sites)
        _confine_to_loopback(poc.prod, port)
        started = _nvflare(env, "poc", "start", "-ex", PEER_ADMIN, "--timeout", "120", timeout=240)
        if started.returncode != 0:
            raise PeerError(f"`nvflare poc start` failed:\n{started.stdout[-2000:]}{started.stderr[-2000:]}")
        ready = poc.run_python("-c", WAIT_FOR_SITES, poc.admin, str(poc.admin_kit), str(len(sites)), "90",
                               timeout=180)
        if ready.returncode != 0:
            raise PeerError(f"the NVFlare sites did not connect:\n{ready.stderr[-2000:]}")
        yield poc
    finally:
        try:
            _nvflare(env, "poc", "stop", timeout=60)
        except PeerError as exc:
            log(f"{exc}; killing the POC's processes")
        _kill_marked(env[MARKER_VAR])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    began = time.monotonic()
    with running_poc() as peer:
        print(f"NVFlare {NVFLARE_VERSION} POC up in {time.monotonic() - began:.1f} s on localhost:{peer.port}")
        print(f"admin kit: {peer.admin_kit}\npython:    {peer.python}")
        print(f"processes: {len(marked_pids(peer.marker))}")
        if sys.stdin.isatty():
            input("Enter stops it. ")
    print("stopped; processes left:", len(marked_pids(peer.marker)))
