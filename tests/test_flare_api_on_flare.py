"""A FLARE API script (``console.flare_api``) on a live NVIDIA FLARE 2.9 POC (the shared ``flare_poc``).

The script runs with FLARE's venv interpreter and this checkout on its path, as a FLARE user's script
would after changing its import: FLARE's admin kit makes the session FLARE's own, with our exceptions.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from nvflare_poc import LiveFlare

from conftest import EXAMPLES

JOB = str(EXAMPLES / "hello-numpy-sag")
REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys, time
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

    def cb(s, job_id, meta):
        seen.append(s is session)
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
                  "path": path, "unknown": unknown, "own": own, **said}), flush=True)
# The login given up on is FLARE's, still retrying on threads of its own (not daemons): Python's exit
# would wait for them as long as FLARE's own login would have blocked (about 30 s); the console ends
# its process the same way (console.quick_exit).
import os
os._exit(0)
"""


def _script(flare: LiveFlare, home: Path, code: str, *args: str, timeout: float) -> dict:
    done = subprocess.run([str(flare.python), "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          env=flare.console_env(home))
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    answers, within the timeout (2 s: FLARE's own login went on for about 30 s with timeout=3)."""
    dest = tmp_path / "results"
    with socket.socket() as silent:  # the kernel completes the TCP handshake; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        got = _script(flare_poc, tmp_path, SCRIPT, flare_poc.admin, str(flare_poc.admin_kit), JOB, str(dest),
                      str(_silent_kit(flare_poc, tmp_path, silent.getsockname()[1])), timeout=240)
    assert got["code"] == "JOB_FINISHED" and got["ours"], got
    assert got["signed_in_place"] == [], got  # FLARE signs what it submits: a copy, not the user's folder
    assert got["status"] == "FINISHED:COMPLETED", got
    assert got["cb_got_our_session"], got
    assert got["listed"] == [got["job_id"]], got
    assert Path(got["path"]).is_dir() and got["job_id"] in got["path"], got
    assert got["unknown"] == "JobNotFound", got
    assert got["own"] == "ValueError: the script's own", got
    assert f"this kit's certificate is {flare_poc.admin!r}'s, not 'someone@else.org'" in got["wrong_user"], got
    assert "within 2 s" in got["unreachable"], got
    assert got["seconds"] < 2 + 1.5, got


@pytest.mark.timeout(120)
def test_the_console_names_a_user_the_flare_kit_is_not_for(flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = flare_poc.run_console(tmp_path, "--user", "someone@else.org", "-c", "check_status server")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AuthenticationError: this kit's certificate is" in done.stderr, done.stderr
    assert "client_registration" not in done.stderr, done.stderr


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
