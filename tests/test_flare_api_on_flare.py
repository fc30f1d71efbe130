"""A FLARE API script (``console.flare_api``) on a live NVIDIA FLARE 2.9 POC (the shared ``flare_poc``).

The script runs with FLARE's venv interpreter and this checkout on its path, as a FLARE user's script
would after changing its import: FLARE's admin kit makes the session FLARE's own, with our exceptions.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from nvflare_poc import LiveFlare
from relay import Relay, kit_through

from conftest import EXAMPLES

JOB = str(EXAMPLES / "hello-numpy-sag")
REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, subprocess, sys, time
from console.flare_api import AuthenticationError, JobNotFound, MonitorReturnCode, NoConnection, new_secure_session

user, kit, job, dest, unreachable_kit = sys.argv[1:6]
said = {}
try:
    new_secure_session("someone@else.org", kit)
except AuthenticationError as exc:
    said["wrong_user"] = str(exc)
with new_secure_session(user, kit) as session:
    job_id = session.submit_job(job)
    seen = []
    running = {}

    def cb(s, job_id, meta):
        seen.append(s is session)
        if meta["status"] == "RUNNING" and not running:  # once, while it runs (its tasks take 3 s each)
            try:
                stats = s.show_stats(job_id, "all")
            except JobNotFound:  # FLARE 2.9 at a job's start: RUNNING, but its server part not up yet
                return True
            running["stats"] = sorted(stats)
            # FLARE's own AdminAPI, as FLARE scripts call it; target_type all through FLARE's Session and our batch
            running["api"] = [type(s.api).__name__, s.api.do_command("check_status server").get("status")]
            running["both"] = sorted(k for k in s.check_status("all") if k in ("server_status", "client_status"))
            batch = subprocess.run([sys.executable, "-m", "console", "--kit", kit, "--format", "json", "-c",
                                    f"show_stats {job_id[:8]} all", "-c", "check_status all"],
                                   capture_output=True, text=True, timeout=90)
            running["batch"] = [batch.returncode, batch.stdout, batch.stderr]
        return True

    code = session.monitor_job(job_id, timeout=150, poll_interval=0.5, cb=cb)
    meta = session.get_job_meta(job_id)

    def refuses(s, job_id, meta):
        raise ValueError("the script's own")

    try:
        session.monitor_job(job_id, cb=refuses)
        own = "no error"
    except ValueError as exc:  # as raised: not turned into one of FLARE's (InvalidArgumentError)
        own = f"{type(exc).__name__}: {exc}"
    listed = [row["job_id"] for row in session.list_jobs(id_prefix=job_id[:8])]
    path = session.download_job_result(job_id, dest)
    try:
        session.get_job_meta("00000000-0000-0000-0000-000000000000")
        unknown = "no error"
    except JobNotFound as exc:
        unknown = "JobNotFound"
    from nvflare.fuel.flare_api import api_spec  # a script's FLARE classes catch ours (imported after ours)
    try:
        session.get_job_meta("00000000-0000-0000-0000-000000000000")
    except api_spec.JobNotFound as exc:
        said["flares_class"] = type(exc).__module__
    from pathlib import Path
    signed = sorted(str(p) for p in Path(job).rglob(".__nvfl_*"))

start = time.monotonic()
try:
    new_secure_session(user, unreachable_kit, timeout=2)
except NoConnection as exc:
    said["unreachable"] = str(exc)
said["seconds"] = time.monotonic() - start
print(json.dumps({"signed_in_place": signed, "job_id": job_id, "code": code.name, "ours": isinstance(code, MonitorReturnCode),
                  "cb_got_our_session": bool(seen) and all(seen), "status": meta["status"], "listed": listed,
                  "path": path, "unknown": unknown, "own": own, "printed_at": time.time(), "running": running,
                  **said}), flush=True)
"""


def _script(flare: LiveFlare, home: Path, code: str, *args: str, timeout: float) -> dict:
    """The script's last line (JSON), with ``exited_at``: when its process had ended (epoch s)."""
    done = subprocess.run([str(flare.python), "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env=flare.console_env(home))
    exited_at = time.time()
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "exited_at": exited_at}


def _silent_kit(flare: LiveFlare, root: Path, port: int) -> Path:
    """A copy of the POC's admin kit naming ``port`` on 127.0.0.1."""
    kit = root / "kit"
    shutil.copytree(flare.admin_kit, kit)
    config_path = kit / "startup" / "fed_admin.json"
    config = json.loads(config_path.read_text())
    config["admin"].update(host="127.0.0.1", port=port)
    config_path.write_text(json.dumps(config))
    return kit


@pytest.mark.timeout(300)
def test_a_flare_api_script_drives_flare_by_changing_its_import(flare_poc: LiveFlare, tmp_path: Path) -> None:
    """submit, monitor to FINISHED:COMPLETED, meta, list, download, an unknown job; before them two logins
    refused in words: the kit's certificate is someone else's; a server that takes the connection and never
    answers, within the timeout (2 s: FLARE's own login went on for about 30 s with timeout=3), and the
    script still ends as soon as its last line ran (no os._exit: a library must not need one)."""
    dest = tmp_path / "results"
    job = tmp_path / "hello-numpy-sag"  # its tasks take 3 s: the job runs long enough for a batch meanwhile
    shutil.copytree(JOB, job)
    client_config = job / "app" / "config" / "config_fed_client.json"
    config = json.loads(client_config.read_text())
    config["executors"][0]["executor"]["args"]["sleep_time"] = 3.0
    client_config.write_text(json.dumps(config))
    with socket.socket() as silent:  # the kernel completes the TCP handshake; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        got = _script(flare_poc, tmp_path, SCRIPT, flare_poc.admin, str(flare_poc.admin_kit), str(job), str(dest),
                      str(_silent_kit(flare_poc, tmp_path, silent.getsockname()[1])), timeout=240)
    assert got["code"] == "JOB_FINISHED" and got["ours"], got
    assert got["signed_in_place"] == [], got  # FLARE signs what it submits: a copy, not the user's folder
    running = got["running"]
    assert running["api"] == ["AdminAPI", "SUCCESS"], running  # Session.api: FLARE's own, as FLARE scripts use it
    sites = set(flare_poc.sites)
    assert "server" in running["stats"] and set(running["stats"]) & sites, running  # target_type all: FLARE's answer
    assert running["both"] == ["client_status", "server_status"], running
    code, out, err = running["batch"]
    assert code == 0, f"{out}\n{err}"
    stats, status = (json.loads(line) for line in out.splitlines())
    assert "server" in stats and set(stats) <= {"server", *sites} and set(stats) & sites, stats
    assert status["server_status"] == "started" and {r["client_name"] for r in status["client_status"]} == sites, status
    assert got["status"] == "FINISHED:COMPLETED", got
    assert got["cb_got_our_session"], got
    assert got["listed"] == [got["job_id"]], got
    assert Path(got["path"]).is_dir() and got["job_id"] in got["path"], got
    assert got["unknown"] == "JobNotFound", got
    assert got["flares_class"] == "console.wire.exceptions", got
    assert got["own"] == "ValueError: the script's own", got
    assert f"this kit's certificate is for {flare_poc.admin}, not for someone@else.org:" in got["wrong_user"], got
    assert "within 2 s" in got["unreachable"], got
    assert got["seconds"] < 2 + 1.5, got
    # The login given up on was still connecting (FLARE's threads, joined by Python's exit): the script
    # ended about 30 s after its last line until that connect was stopped (nvflare_abandon); ~0.1 s since.
    assert got["exited_at"] - got["printed_at"] < 10, got


LEFT_OPEN = """
import sys, time
from console.flare_api import new_secure_session

user, kit, relayed = sys.argv[1:4]
forgotten = new_secure_session(user, kit)  # never closed: Python's exit must not wait for it
forgotten.check_status("server")
hung = new_secure_session(user, relayed)
hung.check_status("server")
print("connected", flush=True)
sys.stdin.readline()  # the relay cut the connection and answers nothing from now on
time.sleep(1)  # FLARE's connector is reconnecting into the silence
start = time.monotonic()
hung.close()
print(f"closed {time.monotonic() - start:.2f} {time.time():.3f}", flush=True)
"""


@pytest.mark.timeout(120)
def test_a_script_ends_at_once_with_a_session_left_open_or_closed_on_a_hung_server(flare_poc: LiveFlare,
                                                                                   tmp_path: Path) -> None:
    """Two ways a FLARE script never ended, with FLARE's own API too: a Session it did not close (Python's
    exit joined FLARE's connection thread forever), and close() on a server that takes connections and
    never answers (FLARE's close waited 30 s for its reconnect). Both now end at once; the open one logs out."""
    relay = Relay(_port(flare_poc))
    script = subprocess.Popen([str(flare_poc.python), "-c", LEFT_OPEN, flare_poc.admin, str(flare_poc.admin_kit),
                               str(kit_through(flare_poc.admin_kit, relay.port, tmp_path / "relayed"))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=flare_poc.console_env(tmp_path))
    try:
        assert script.stdout.readline().strip() == "connected", script.stderr.read() if script.poll() is not None else ""
        relay.silent.set()
        relay.cut()
        script.stdin.write("go\n")
        script.stdin.flush()
        said = script.stdout.readline().split()
        assert said[:1] == ["closed"], said
        assert float(said[1]) < 10, said  # was 30 s: FLARE's close waited out the connect to the silent port
        script.wait(timeout=60)  # was: never (Python's exit joined the open Session's connection thread)
        assert script.returncode == 0, script.stderr.read()
        assert time.time() - float(said[2]) < 10, said  # about 0.1 s here
    finally:
        script.kill()
        script.wait()
        relay.close()


def _port(flare: LiveFlare) -> int:
    return int(json.loads((flare.admin_kit / "startup" / "fed_admin.json").read_text())["admin"]["port"])


@pytest.mark.timeout(120)
def test_the_console_names_a_user_the_flare_kit_is_not_for(flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = flare_poc.run_console(tmp_path, "--user", "someone@else.org", "-c", "check_status server")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AuthenticationError: this kit's certificate is" in done.stderr, done.stderr
    assert "client_registration" not in done.stderr, done.stderr


def _kit_signed_by_another_root(flare: LiveFlare, kit: Path, *, keep_root: bool, **validity: Any) -> Path:
    """A copy of the POC's admin kit whose client.crt (same user) another project's root signed; with that root as
    its rootCA.pem (a kit of another provisioning), or with the POC's (the kit's files do not belong together)."""
    from console.provision.certs import CertKind, issue_cert, make_root_ca, write_pem_cert, write_pem_key

    shutil.copytree(flare.admin_kit, kit)
    root, root_key = make_root_ca("other_project")
    cert, key = issue_cert(root, root_key, cn=flare.admin, org="nvidia", kind=CertKind.ADMIN, role="project_admin",
                           **validity)
    for name in ("client.crt", "client.key") + (() if keep_root else ("rootCA.pem",)):
        (kit / "startup" / name).unlink()
    write_pem_cert(kit / "startup" / "client.crt", cert)
    write_pem_key(kit / "startup" / "client.key", key)
    if not keep_root:
        write_pem_cert(kit / "startup" / "rootCA.pem", root)
    return kit


@pytest.mark.timeout(180)
def test_a_flare_kits_certificates_and_a_silent_server_are_named_with_what_to_do(flare_poc: LiveFlare,
                                                                                   tmp_path: Path) -> None:
    """Report 10 #2, #14, #16 on FLARE: the cause, not "cannot connect ... is the server running?" after the timeout."""
    where = f"localhost:{_port(flare_poc)}"
    # A kit of another provisioning: FLARE's connector refuses the server's certificate (and logs why) and
    # retries until its timeout; the console says why at once.
    other = _kit_signed_by_another_root(flare_poc, tmp_path / "other", keep_root=False)
    started = time.monotonic()
    done = flare_poc.run_console(tmp_path, "--kit", str(other), "--timeout", "60", "-c", "list_jobs", kit=False)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert ("AuthenticationError: the server's certificate is not signed by this kit's rootCA.pem (OpenSSL: "
            "self-signed certificate in certificate chain): the kit is from another project or provisioning than "
            f"the server; use an admin kit of the server's own project (the FLARE server at {where})") in done.stderr, \
        done.stderr
    assert took < 40, took  # not the 60 s timeout (about 3 s: nvflare_tls.check_server_certificate)

    # The rest through FLARE's API as a script calls it (one interpreter for the three: FLARE's import is slow).
    # client.crt signed by another key than the kit's rootCA.pem, and an expired one: said from the kit's own
    # files, before FLARE's "InvalidCertChain: validation failed" without a date or a next step.
    mixed = _kit_signed_by_another_root(flare_poc, tmp_path / "mixed", keep_root=True)
    now = datetime.datetime.now(datetime.UTC)
    expired = _kit_signed_by_another_root(flare_poc, tmp_path / "expired", keep_root=True,
                                          not_before=now - datetime.timedelta(days=30),
                                          not_after=now - datetime.timedelta(days=1))
    # A server that takes the connection and says nothing (a stopped one: its kernel still accepts).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        got = _script(flare_poc, tmp_path, LOGINS, flare_poc.admin, str(mixed), str(expired),
                      str(_silent_kit(flare_poc, tmp_path / "silent", port)), timeout=120)
    assert got["mixed"] == (
        f"AuthenticationError: this kit's certificate {mixed / 'startup' / 'client.crt'} is not signed by the kit's "
        f"rootCA.pem ({mixed / 'startup' / 'rootCA.pem'}): the kit's files come from different provisionings, and no "
        "server of its project will take it; ask the project admin for a new kit"), got
    assert got["expired"].startswith(
        f"AuthenticationError: this kit's certificate {expired / 'startup' / 'client.crt'} expired on "
        f"{now - datetime.timedelta(days=1):%Y-%m-%d} "), got
    assert got["expired"].endswith(" UTC; ask the project admin for a new kit"), got
    assert got["silent"].startswith(f"NoConnection: the server at 127.0.0.1:{port} took the connection but did not "
                                    "answer within 2 s; is it stopped or overloaded?"), got


LOGINS = """
import json, sys
from console.flare_api import new_secure_session

user, *kits = sys.argv[1:]
said = {}
for name, kit in zip(("mixed", "expired", "silent"), kits):
    try:
        new_secure_session(user, kit, timeout=2).close()
        said[name] = "logged in"
    except Exception as exc:
        said[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(said))
"""


KEY_ONCE = """
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from console.backends.nvflare_login import _quicken_flare_login
from nvflare.lighter.utils import load_private_key_file
import sys

pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
open(sys.argv[1], "wb").write(pem)
_quicken_flare_login()
first, second = load_private_key_file(sys.argv[1]), serialization.load_pem_private_key(pem, password=None)
try:
    serialization.load_pem_private_key(b"not a key", password=None)
    refused = False
except ValueError:
    refused = True
print(first is second, refused)
"""


@pytest.mark.timeout(120)
def test_flares_login_parses_the_kits_private_key_once(flare_venv: Path, tmp_path: Path) -> None:
    """FLARE loads the admin key four times per login (0.14 s of CPU each): once is enough; bad keys still fail."""
    done = subprocess.run([str(flare_venv), "-c", KEY_ONCE, str(tmp_path / "key.pem")], capture_output=True,
                          text=True, timeout=90, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout + done.stderr


RESTARTED = r"""
import asyncio, json, sys
from pathlib import Path
from console.api.errors import NoConnection
from console.backends.kits import KitInfo, KitRole
from console.backends.nvflare import FlareBackend
from console.commands import Engine

root = Path(sys.argv[1])
(root / "startup").mkdir(parents=True)
(root / "startup" / "fed_admin.json").write_text(json.dumps({"admin": {"host": "localhost", "port": 1}}))
starts = [100.0, 100.0, 250.0]  # the old server twice (going down, still taking logins), then the restarted one
closed = []

class Session:  # FLARE's Session in what a login and this check use of it
    def check_status(self, target_type, targets=None):
        return {"status": "ok", "server_start_time": starts.pop(0), "jobs": [], "clients": []}
    def close(self):
        closed.append(1)

async def main():
    backend = FlareBackend(KitInfo(Engine.NVFLARE, KitRole.ADMIN, root, "admin@nvidia.com"), "admin@nvidia.com")
    backend._login = lambda old: Session()
    states = []
    backend.add_state_listener(states.append)
    backend._restarted_from = 100.0  # as request("restart", server) leaves it
    said = []
    for _ in range(3):
        try:
            await backend.connect()
            said.append("up")
            break
        except NoConnection as exc:
            said.append(str(exc))
    print(json.dumps({"said": said, "states": states, "closed": len(closed), "left": backend._restarted_from}))
    backend._closed = True
    backend._worker.shutdown()

asyncio.run(main())
"""


@pytest.mark.timeout(120)
def test_after_its_own_restart_the_flare_console_reconnects_only_to_the_restarted_server(flare_venv: Path,
                                                                                        tmp_path: Path) -> None:
    """flare10 item 17: after `restart server` the console said "lost", then flapped between reconnected and lost:
    FLARE's server takes logins for seconds while it goes down. A login after this console's restart counts only
    when the server's start time is later than before it (the old server's session is closed, quietly)."""
    done = subprocess.run([str(flare_venv), "-c", RESTARTED, str(tmp_path / "kit")], capture_output=True, text=True,
                          timeout=90, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["said"] == ["the FLARE server at localhost:1 is still restarting"] * 2 + ["up"], seen
    assert seen["states"] == [True] and seen["closed"] == 2 and seen["left"] is None, seen
