"""FLARE 2.9's job definition rules, both ways, on our real server.

Every folder of the corpus (benchmarks/jobdef_corpus.py) is submitted through console.flare_api;
the verdict (accepted, or the exception class) must equal the one FLARE's own validator gave
(recorded in benchmarks/data/, no FLARE needed here) unless the difference is explained. What
FLARE accepts must also run: the deploy_map forms it allows end FINISHED:COMPLETED on two sites.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO, wait_until
from jobs import numpy_job

sys.path.insert(0, str(REPO / "benchmarks"))
import jobdef_conformance  # noqa: E402
from jobdef_corpus import CASES, build  # noqa: E402


@pytest.mark.timeout(120)
def test_every_corpus_folder_gets_flares_verdict(tmp_path: Path, session) -> None:
    theirs = json.loads(jobdef_conformance.RECORDED.read_text())["cases"]
    assert len(theirs) == len(CASES) >= 40
    ours = jobdef_conformance.submit_all(session, build(tmp_path))
    assert jobdef_conformance.unexplained(theirs, ours) == []
    # A refused job leaves nothing behind: the store holds exactly the accepted ones.
    accepted = sum(1 for v in ours.values() if v["verdict"] == "accepted")
    assert len(session.list_jobs()) == accepted
    # An explanation that no longer explains anything must go.
    assert {d[0] for d in jobdef_conformance.disagreements(theirs, ours)} == set(jobdef_conformance.EXPLAINED)


def _with_deploy_map(root: Path, label: str, deploy_map: object, **meta: object) -> Path:
    folder = numpy_job(root / label, name=label, rounds=1)
    data = json.loads((folder / "meta.json").read_text())
    data.update(deploy_map=deploy_map, **meta)
    (folder / "meta.json").write_text(json.dumps(data))
    if "app2" in json.dumps(deploy_map):
        shutil.copytree(folder / "app", folder / "app2")
    return folder


@pytest.mark.timeout(120)
def test_deploy_maps_flare_accepts_run_to_completion(tmp_path: Path, session, sites) -> None:
    forms = {
        "all-lower-case": ({"app": ["@all"]}, {}),
        "all-beside-an-app-deployed-nowhere": ({"app": ["@ALL"], "app2": []}, {}),
        "targets-object": ({"app": {"targets": ["server", "site-1", "site-2"]}}, {}),
        "mixed-entries": ({"app": [{"sites": ["server"]}, "site-1", {"targets": ["site-2"]}]}, {"min_clients": "2"}),
    }
    job_ids = {label: session.submit_job(str(_with_deploy_map(tmp_path, label, dm, **meta)))
               for label, (dm, meta) in forms.items()}

    def finished() -> bool:
        return all(session.get_job_meta(j)["status"].startswith("FINISHED:") for j in job_ids.values())

    wait_until(finished, 90, "the four jobs to finish")
    for label, job_id in job_ids.items():
        meta = session.get_job_meta(job_id)
        assert meta["status"] == "FINISHED:COMPLETED", (label, meta)
        assert meta["job_deploy_detail"] == ["server: OK", "site-1: OK", "site-2: OK"], label
