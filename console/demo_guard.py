"""One demo per workspace: the record of a running demo, its ports, and stopping leftovers.

A demo writes ``demo-running.json`` into its workspace (created exclusively: two demos
starting at once cannot both win) with the process IDs of the server and sites it
started, and removes it when it stops them. A record whose processes still live means
a demo is running (or one whose console was killed left its server and sites behind):
a second demo never starts another set of sites beside it, it says what is there and
what to do. Ports of the demo's server that answer although no demo of this workspace
runs belong to another program, and the message names them.

Owns only that record and those checks; starting and stopping the parts is ``demo.py``'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from console.invocation import console_command
from console.own_files import private_folder
from console.user_dirs import data_dir

RECORD = "demo-running.json"


class DemoBusy(Exception):
    """This workspace's demo cannot start; the message says why and what to do."""


@dataclass
class Running:
    pids: dict[str, int]  # part name -> process ID, for those still alive
    admin_kit: str
    started: float
    owner: int  # the demo (console) process that started them; 0 if it is gone


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A recycled PID of an unrelated program is not ours: our parts run "-m console server|site".
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        with contextlib.suppress(OSError):
            return b"console" in cmdline.read_bytes()
    return True


def running(root: Path) -> Running | None:
    """The demo recorded in ``root`` if any of its parts still runs; a stale record is removed."""
    path = root / RECORD
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("engine") == "nvflare":
        return None  # a FLARE demo's record (``flare_running``): never removed from here
    pids = {name: int(pid) for name, pid in (data.get("parts") or {}).items() if _alive(int(pid))}
    if not pids:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    owner = int(data.get("owner", 0))
    return Running(pids, str(data.get("admin_kit", "")), float(data.get("started", 0)), owner if _alive(owner) else 0)


def claim(root: Path) -> None:
    """Take the workspace for this demo, or raise ``DemoBusy`` naming the one that holds it."""
    current = running(root)
    if current is not None:
        raise DemoBusy(busy_message(root, current))
    if root == default_root():  # the console's own data dir: only the user's (console.own_files)
        private_folder(root.parent)
        private_folder(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(root / RECORD, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise DemoBusy(f"another demo is starting in {root} right now; wait for it, or use --workspace DIR") from None
    with os.fdopen(fd, "w") as out:
        json.dump({"owner": os.getpid(), "started": time.time(), "parts": {}, "admin_kit": ""}, out)


def record(root: Path, parts: dict[str, int], admin_kit: Path) -> None:
    (root / RECORD).write_text(json.dumps({"owner": os.getpid(), "started": time.time(), "parts": parts,
                                           "admin_kit": str(admin_kit)}))


def release(root: Path) -> None:
    with contextlib.suppress(OSError):
        (root / RECORD).unlink()


def busy_message(root: Path, current: Running) -> str:
    since = time.strftime("%H:%M", time.localtime(current.started)) if current.started else "earlier"
    who = (f"by flare-console process {current.owner}" if current.owner
           else "and its console is gone (killed?), leaving its parts behind")
    parts = ", ".join(f"{name} (pid {pid})" for name, pid in current.pids.items())
    kit = shlex.quote(str(current.admin_kit)) if current.admin_kit else "KIT (the admin kit in " + str(root) + ")"
    me = console_command()
    return (f"a demo is already running in {root}, started at {since} {who}: {parts}.\n"
            f"  open another console on it:  {me} --kit {kit}\n"
            f"  or stop it:                  {me} demo --stop{_workspace_flag(root)}\n"
            f"  or run a separate demo:      {me} demo --workspace OTHER_DIR")


def _workspace_flag(root: Path) -> str:
    return "" if root == default_root() else f" --workspace {shlex.quote(str(root))}"


def default_root() -> Path:
    """The demo's workspace unless ``--workspace`` names another."""
    return data_dir() / "demo"


def console_open_message(root: Path, current: Running, engine: str = "ours") -> str:
    """Why ``demo --stop`` refuses: the demo's console still runs on these parts (stopping them would leave
    it reconnecting to nothing), which process it is, and how to leave it or stop anyway."""
    since = time.strftime("%H:%M", time.localtime(current.started)) if current.started else "earlier"
    where = _workspace_flag(root)
    engine_flag = " --engine nvflare" if engine == "nvflare" else ""
    return (f"the demo in {root} is in use: its console, flare-console process {current.owner} (started at "
            f"{since}), is still open on it, and stopping its server and sites would leave that console "
            "reconnecting to nothing.\n"
            "  leave that console (bye, Ctrl-D): it stops the demo's server and sites itself\n"
            f"  or stop them anyway:  {console_command()} demo{engine_flag} --stop --force{where}")


def stop(root: Path, timeout: float = 15.0, force: bool = False) -> list[str]:
    """Stop the parts a running demo left (sites first, then the server); the names stopped.

    Raises ``DemoBusy`` while the demo's console (the record's owner) is alive, unless ``force``.
    """
    current = running(root)
    if current is None:
        return []
    if current.owner and not force:
        raise DemoBusy(console_open_message(root, current))
    order = sorted(current.pids, key=lambda name: name == "server")  # sites first
    for name in order:
        with contextlib.suppress(ProcessLookupError):
            os.kill(current.pids[name], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in current.pids.values()):
        time.sleep(0.1)
    for pid in current.pids.values():
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    release(root)
    return order


# -- the FLARE demo (``demo --engine nvflare --workspace DIR``): its POC's processes, found by their marker


def record_flare(root: Path, marker: str, admin_kit: Path) -> None:
    """A FLARE demo runs on the POC in ``root``: its console (this process) and the POC's marker
    (``console.poc.processes``), so that ``demo --engine nvflare --stop`` finds both."""
    (root / RECORD).write_text(json.dumps({"engine": "nvflare", "owner": os.getpid(), "started": time.time(),
                                           "marker": marker, "admin_kit": str(admin_kit)}))


def flare_running(root: Path) -> tuple[Running, str] | None:
    """The FLARE demo recorded in ``root`` while its console or any of its POC's processes lives, with the
    POC's marker; a stale record is removed."""
    from console.poc.processes import marked_pids

    try:
        data = json.loads((root / RECORD).read_text())
        if data.get("engine") != "nvflare":
            return None  # our engine's demo: ``running``'s
        marker = str(data["marker"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    owner = int(data.get("owner", 0))
    owner = owner if _alive(owner) else 0
    pids = {f"FLARE process {pid}": pid for pid in marked_pids(marker)}
    if not pids and not owner:
        release(root)
        return None
    return Running(pids, str(data.get("admin_kit", "")), float(data.get("started", 0)), owner), marker


def server_ports(prod: Path) -> dict[str, int]:
    """The demo server's ports by role, from its kit's fed_server.json."""
    try:
        server = json.loads((prod / "server" / "startup" / "fed_server.json").read_text())["servers"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return {}
    return {role: int(server[key]) for role, key in (("admin port", "admin_port"), ("site port", "fed_learn_port"))
            if isinstance(server.get(key), int)}


def taken_ports(prod: Path) -> list[tuple[str, int]]:
    """The demo server's ports that something already listens on (this workspace's demo is not running)."""
    taken = []
    for role, port in server_ports(prod).items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                taken.append((role, port))
    return taken


def ports_message(root: Path, taken: list[tuple[str, int]]) -> str:
    ports = " and ".join(f"{port} (the demo server's {role})" for role, port in taken)
    return (f"port {ports} {'is' if len(taken) == 1 else 'are'} taken by another program, so the demo in {root} "
            "cannot start its server.\n"
            f"  free the port, or re-provision this demo on free ports:  {console_command()} demo --reset"
            f"{_workspace_flag(root)}\n"
            f"  or run a separate demo:  {console_command()} demo --workspace OTHER_DIR")


def reset(root: Path, project: str) -> None:
    """Forget the demo's project (kits, jobs, ports) so the next start provisions afresh."""
    current = running(root)
    if current is not None:
        raise DemoBusy(busy_message(root, current))
    shutil.rmtree(root / project, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / "project.yml").unlink()
