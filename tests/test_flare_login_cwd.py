"""Logging in to FLARE does not depend on the current folder (the shared ``flare_poc``).

FLARE 2.9 looks for comm_config.json by walking its config search path, the current folder when no
FLARE program set one; fl_admin.sh changes into the kit first. Ours searches the kit and leaves the
current folder alone, so a script's relative paths keep working.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from nvflare_poc import LiveFlare

from conftest import EXAMPLES

REPO = Path(__file__).resolve().parent.parent

#: Counts os.walk calls under the current folder, then runs a login (flare_api script, or the console's batch).
WATCHED = """
import json, os, sys, time
walked = []
real_walk = os.walk

def walk(top, *args, **kwargs):
    where = os.path.abspath(top)
    if where == os.getcwd() or where.startswith(os.getcwd() + os.sep):
        walked.append(where)
    return real_walk(top, *args, **kwargs)

os.walk = walk
mode, user, kit = sys.argv[1:4]
start = time.monotonic()
if mode == "script":
    from console.flare_api import new_secure_session
    with new_secure_session(user, kit) as session:
        login = time.monotonic() - start
        job_id = session.submit_job("jobs/hello")  # relative to the script's folder, as the user wrote it
        session.abort_job(job_id)
        status = session.get_job_meta(job_id)["status"]
    print(json.dumps({"login": login, "walked": walked, "status": status, "cwd": os.getcwd()}), flush=True)
else:
    import runpy
    sys.argv = ["flare-console", "--kit", kit, "-c", "pwd server"]
    real_exit = os._exit

    def said(code=0):  # the console ends with os._exit when FLARE's threads linger (console.quick_exit)
        print(json.dumps({"login": time.monotonic() - start, "walked": walked}), flush=True)
        real_exit(code)

    os._exit = said
    try:
        runpy.run_module("console", run_name="__main__")
    finally:
        print(json.dumps({"login": time.monotonic() - start, "walked": walked}), flush=True)
"""


def _many_files(root: Path, folders: int = 600, files: int = 10) -> Path:
    """A tree of ``folders`` nested folders of ``files`` empty files each (a checkout, a data folder)."""
    for i in range(folders):
        folder = root / f"d{i % 30}" / f"e{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(files):
            (folder / f"f{k}.txt").touch()
    return root


def _run(flare: LiveFlare, home: Path, cwd: Path, mode: str) -> dict:
    done = subprocess.run([str(flare.python), "-c", WATCHED, mode, flare.admin, str(flare.admin_kit)], cwd=cwd,
                          capture_output=True, text=True, timeout=180, env=flare.console_env(home))
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(400)
def test_a_login_from_a_big_folder_walks_nothing_there_and_relative_paths_still_work(
        flare_poc: LiveFlare, tmp_path: Path) -> None:
    """From a folder with thousands of files, a flare_api script and a batch log in without walking it
    (FLARE's search walked it 8 times per login: 14.6 s of 17.8 s from /tmp), as fast as from an empty
    folder (generous bound: the machine is shared), and the script's relative submit path still works."""
    home = tmp_path / "home"
    empty, big = tmp_path / "empty", _many_files(tmp_path / "big")
    empty.mkdir()
    for folder in (empty, big):
        shutil.copytree(EXAMPLES / "hello-numpy-sag", folder / "jobs" / "hello")
    from_empty = _run(flare_poc, home, empty, "script")
    from_big = _run(flare_poc, home, big, "script")
    assert from_big["walked"] == [] and from_empty["walked"] == [], from_big
    assert from_big["cwd"] == str(big), from_big  # the user's folder is still the script's
    assert from_big["status"].startswith("FINISHED") or from_big["status"] in ("SUBMITTED", "DISPATCHED"), from_big
    assert from_big["login"] < 2 * from_empty["login"] + 5, (from_empty, from_big)
    batch = _run(flare_poc, home, big, "batch")
    assert batch["walked"] == [], batch
