"""Job integrity: archives signed by the submitting admin, checked by the server and the sites."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from console.api.async_session import AsyncSession
from console.flare_api import InvalidJobDefinition
from console.jobdef.archive import zip_job_folder
from console.jobdef.signing import sign_archive, verify_archive, verify_signer
from console.jobdef.validate import JobDefinitionError
from console.provision.certs import load_cert

from conftest import ADMIN, EXAMPLES, SiteProcess, make_project
from jobs import numpy_job


def test_signatures_bind_archive_and_signer(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    other = make_project(tmp_path / "o", name="other_project")
    archive = tmp_path / "job.zip"
    zip_job_folder(EXAMPLES / "hello-numpy", archive)
    admin_startup = project.admin_kit / "startup"
    signature = sign_archive(archive, admin_startup / "client.key")
    root = load_cert(admin_startup / "rootCA.pem")
    signer = verify_signer((admin_startup / "client.crt").read_text(), root, ADMIN)
    verify_archive(archive, signature, signer)
    with open(archive, "ab") as out:
        out.write(b"\0")
    with pytest.raises(JobDefinitionError, match="altered after signing"):
        verify_archive(archive, signature, signer)
    with pytest.raises(JobDefinitionError, match="not issued by this project's CA"):
        verify_signer((other.admin_kit / "startup" / "client.crt").read_text(), root, ADMIN)
    with pytest.raises(JobDefinitionError, match="claims to be signed by"):
        verify_signer((admin_startup / "client.crt").read_text(), root, "lead@example.com")
    site_cert = load_cert(project.kit("site-1") / "startup" / "client.crt")
    zip_job_folder(EXAMPLES / "hello-numpy", archive)
    with pytest.raises(JobDefinitionError, match="signed by someone else"):
        verify_archive(archive, signature, site_cert)


def test_server_refuses_an_upload_that_does_not_match_its_signature(server, project, tmp_path: Path) -> None:
    archive = tmp_path / "job.zip"
    zip_job_folder(EXAMPLES / "hello-server", archive)
    signature = sign_archive(archive, project.admin_kit / "startup" / "client.key")
    with open(archive, "ab") as out:
        out.write(b"tampered in transit")

    async def upload() -> None:
        sess = AsyncSession(ADMIN, str(project.admin_kit))
        try:
            await sess.client.upload("submit_job", {"job_folder": "job", "signature": signature}, archive)
        finally:
            await sess.close()

    with pytest.raises(InvalidJobDefinition, match="does not match its signature"):
        asyncio.run(upload())


def test_a_stored_job_altered_on_disk_never_runs(session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1)))
    assert session.get_job_status(job_id) == "SUBMITTED"  # no site yet
    stored = project.server_kit / "store" / "jobs" / job_id / "job.zip"
    with open(stored, "ab") as out:
        out.write(b"\0")
    sites = [SiteProcess(project.kit(name)).start() for name in ("site-1", "site-2")]
    try:
        meta = session.wait_for_job(job_id, timeout=30, poll_interval=0.5)
    finally:
        for site in sites:
            site.stop()
    assert meta["status"] == "FINISHED:FAILED_TO_RUN"
    assert "altered after signing" in " ".join(meta["job_errors"]["server"])
    assert not (project.kit("site-1") / job_id).exists()  # nothing reached the sites


def test_a_clone_keeps_the_original_signature(session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1)))
    clone = session.clone_job(job_id)
    record = json.loads((project.server_kit / "store" / "jobs" / clone / "signature.json").read_text())
    assert record["signed_by"] == ADMIN
