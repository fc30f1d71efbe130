"""``console.flare_api`` with FLARE's admin kit on a live FLARE 2.9 POC (the shared ``flare_poc``), next to
FLARE's own flare_api in the same script: every way FLARE makes a session gives a ``console.flare_api.Session``,
each bad input of ``flare_api_cases`` raises FLARE's exception class on both (the table checked against FLARE
itself), and abort right after submit, then delete, goes as FLARE's does. (Our engine: ``test_flare_api_names``.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from flare_api_cases import CASES, case_id, matches
from nvflare_poc import LiveFlare

from conftest import EXAMPLES

TESTS = Path(__file__).resolve().parent

SCRIPT = """
import json, sys
user, kit, job, tests = sys.argv[1:5]
sys.path.insert(0, tests)
from flare_api_cases import CASES, case_id, raised
from nvflare.fuel.flare_api import flare_api as flare
import console.flare_api as ours

out = {}
direct = ours.Session(username=user, startup_path=kit, secure_mode=True)  # FLARE's tool/api_utils.py pattern
try:
    direct.try_connect(30)
    out["direct"] = [type(direct.get_system_info()).__name__, isinstance(direct, ours.Session)]
    reference = flare.new_secure_session(user, kit)
    try:
        out["flare"] = {case_id(c): raised(reference, *c[:3]) for c in CASES}
    finally:
        reference.close()
    out["ours"] = {case_id(c): raised(direct, *c[:3]) for c in CASES}
    aborted = []
    for _ in range(2):
        job_id = direct.submit_job(job)
        answer = direct.abort_job(job_id)
        status = direct.get_job_meta(job_id)["status"]
        direct.delete_job(job_id)
        aborted.append([answer, status])
    out["aborted"] = aborted
finally:
    direct.close()


def made(make):
    try:
        session = make()
    except Exception as exc:
        return [type(exc).__name__]
    try:
        return ["ok", isinstance(session, ours.Session), type(session.get_system_info()).__name__]
    finally:
        session.close()


out["new_secure_session"] = made(lambda: ours.new_secure_session(user, kit))
out["new_session"] = made(lambda: ours.new_session(user, kit, command_timeout=7.0))
out["new_insecure_session"] = made(lambda: ours.new_insecure_session(kit))
out["flares_insecure"] = made(lambda: flare.new_insecure_session(kit))
print(json.dumps(out), flush=True)
"""


@pytest.mark.timeout(300)
def test_flare_api_on_flares_kit_is_flares_name_for_name(flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = subprocess.run([str(flare_poc.python), "-c", SCRIPT, flare_poc.admin, str(flare_poc.admin_kit),
                           str(EXAMPLES / "hello-numpy-sag"), str(TESTS)], capture_output=True, text=True,
                          timeout=240, env=flare_poc.console_env(tmp_path))
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["direct"] == ["SystemInfo", True], got["direct"]
    flare_wrong = {case_id(c): got["flare"][case_id(c)] for c in CASES if not matches(got["flare"][case_id(c)], c[3])}
    assert flare_wrong == {}  # the table says what FLARE 2.9 itself raises
    ours_wrong = {case_id(c): got["ours"][case_id(c)] for c in CASES if not matches(got["ours"][case_id(c)], c[3])}
    assert ours_wrong == {}
    for answer, status in got["aborted"]:
        assert answer.startswith("Aborted the job") and status == "FINISHED:ABORTED", got["aborted"]
    for made in ("new_secure_session", "new_session"):
        assert got[made] == ["ok", True, "SystemInfo"], (made, got[made])
    # FLARE's own insecure session against a provisioned (secure) POC: ours goes as FLARE's does
    assert got["new_insecure_session"][0] == got["flares_insecure"][0], got
    if got["flares_insecure"][0] == "ok":
        assert got["new_insecure_session"] == ["ok", True, "SystemInfo"], got
