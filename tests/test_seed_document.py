"""The FLARE API seed document's code blocks, run verbatim against a real server.

Only the import path and the example paths are changed, exactly as a FLARE user would
change them to move a script over.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from conftest import ADMIN, EXAMPLES

SEED = Path(__file__).parent / "data" / "flare_api_seed.rst"


def code_blocks() -> list[str]:
    text = SEED.read_text()
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", text):
        lines = [line[4:] for line in match.group(1).splitlines()]
        blocks.append("\n".join(lines).strip() + "\n")
    return blocks


def ported(block: str, admin_kit: Path, job_folder: Path) -> str:
    return (
        block.replace("nvflare.fuel.flare_api.flare_api", "console.flare_api")
        .replace('"super@nvidia.com"', repr(ADMIN))
        .replace('"/workspace/example_project/prod_00/super@nvidia.com"', repr(str(admin_kit)))
        .replace('"/workspace/location_of_jobs/job1"', repr(str(job_folder)))
    )


def test_seed_has_the_expected_blocks() -> None:
    blocks = code_blocks()
    assert len(blocks) == 5
    assert "new_secure_session" in blocks[0]
    assert "sample_cb" in blocks[4]


def test_seed_blocks_run_verbatim(server, project) -> None:
    blocks = [ported(b, project.admin_kit, EXAMPLES / "hello-server") for b in code_blocks()]
    login, basic_usage, more_commands, monitor_spec, sample_cb = blocks
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(login, namespace)
        exec(basic_usage, namespace)  # submits, monitors to the end, closes the session
    printed = out.getvalue()
    assert "SystemInfo" in printed and "was submitted" in printed and "job done!" in printed
    job_id = namespace["job_id"]

    exec(login, namespace)  # a new session for the next blocks
    sess = namespace["sess"]
    try:
        assert sess.get_job_meta(job_id)["status"] == "FINISHED:COMPLETED"
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(more_commands, namespace)
        new_job_id = namespace["new_job_id"]
        assert f"{new_job_id} was submitted as a clone of {job_id}" in out.getvalue()
        assert namespace["job_meta_dict"]["job_id"] == job_id

        # The monitor block runs on the clone, which is queued or running at this point.
        namespace["job_id"] = new_job_id
        namespace["Session"] = __import__("console.flare_api", fromlist=["Session"]).Session
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(sample_cb, namespace)
        printed = out.getvalue()
        assert "'status': 'FINISHED:COMPLETED'" in printed.splitlines()[-1]
        assert "'status': 'RUNNING'" in printed or "'status': 'SUBMITTED'" in printed
        assert sess.get_job_meta(new_job_id)["cloned_from"] == job_id
    finally:
        sess.close()
    assert "def monitor_job" in monitor_spec  # the API spec block: a signature, not a script
