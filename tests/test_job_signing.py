"""Job integrity: archives signed by the submitting admin, checked by the server and the sites."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from console.api.async_session import AsyncSession
from console.flare_api import InvalidJobDefinition, new_secure_session
from console.jobdef.archive import zip_job_folder
from console.jobdef.signing import sign_archive, verify_archive, verify_signer
from console.jobdef.validate import JobDefinitionError
from console.provision.certs import CertKind, issue_cert, load_cert, load_key
from console.provision.kits import root_ca_paths

from conftest import (
    ADMIN,
    EXAMPLES,
    Project,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
)
from jobs import numpy_job

LEAD = "lead@example.com"
OTHER_LEAD = "lead@other.org"


def _project_with_leads(root: Path) -> Project:
    return make_project(root, extra=[{"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
                                     {"name": OTHER_LEAD, "type": "admin", "org": "other", "role": "lead"}])


def test_signatures_bind_archive_and_signer(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    other = make_project(tmp_path / "o", name="other_project")
    archive = tmp_path / "job.zip"
    zip_job_folder(EXAMPLES / "hello-numpy", archive)
    admin_startup = project.admin_kit / "startup"
    signature = sign_archive(archive, admin_startup / "client.key")
    root = load_cert(admin_startup / "rootCA.pem")
    signer = verify_signer((admin_startup / "client.crt").read_text(), root, ADMIN, ADMIN)
    verify_archive(archive, signature, signer)
    with open(archive, "ab") as out:
        out.write(b"\0")
    with pytest.raises(JobDefinitionError, match="altered after signing"):
        verify_archive(archive, signature, signer)
    with pytest.raises(JobDefinitionError, match="not issued by this project's CA"):
        verify_signer((other.admin_kit / "startup" / "client.crt").read_text(), root, ADMIN, ADMIN)
    with pytest.raises(JobDefinitionError, match="claims to be signed by"):
        verify_signer((admin_startup / "client.crt").read_text(), root, "lead@example.com", "lead@example.com")
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
    sites = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
    try:
        start_together(sites)
        meta = session.wait_for_job(job_id, timeout=30, poll_interval=0.5)
    finally:
        stop_together(sites)
    assert meta["status"] == "FINISHED:FAILED_TO_RUN"
    assert "altered after signing" in " ".join(meta["job_errors"]["server"])
    assert not (project.kit("site-1") / job_id).exists()  # nothing reached the sites


def test_a_clone_keeps_the_original_signature(session, project, tmp_path: Path) -> None:
    job_id = session.submit_job(str(numpy_job(tmp_path, rounds=1)))
    clone = session.clone_job(job_id)
    record = json.loads((project.server_kit / "store" / "jobs" / clone / "signature.json").read_text())
    assert record["signed_by"] == ADMIN


def test_only_the_submitting_admin_with_a_current_certificate_may_sign(tmp_path: Path) -> None:
    """Finding 2: a site's or the server's certificate, an expired, not yet valid or revoked admin
    certificate, and another admin's are each refused as a job's signer, with the reason."""
    project = _project_with_leads(tmp_path)
    ca_cert_path, ca_key_path = root_ca_paths(project.workspace, project.name)
    root, root_key = load_cert(ca_cert_path), load_key(ca_key_path)

    def pem(kit: str, name: str = "client.crt") -> str:
        return (project.kit(kit) / "startup" / name).read_text()

    def admin_cert(**validity: dt.datetime) -> str:
        cert, _ = issue_cert(root, root_key, cn="old@example.com", org="example", kind=CertKind.ADMIN,
                             role="project_admin", **validity)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    now = dt.datetime.now(dt.UTC)
    lead_cert = load_cert(project.kit(LEAD) / "startup" / "client.crt")
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(now)
           .next_update(now + dt.timedelta(days=1))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(lead_cert.serial_number)
                                    .revocation_date(now).build())
           .sign(root_key, hashes.SHA256()))
    assert verify_signer(pem(LEAD), root, LEAD, LEAD).serial_number == lead_cert.serial_number
    refused = [
        (pem("site-1"), "site-1", "site-1", {}, "not an admin's"),
        (pem("server", "server.crt"), "server", "server", {}, "not an admin's"),
        (pem("server", "server.crt"), "server", LEAD, {}, "not an admin's"),
        (admin_cert(not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=35)),
         "old@example.com", "old@example.com", {}, "not now"),
        (admin_cert(not_before=now + dt.timedelta(days=1), not_after=now + dt.timedelta(days=30)),
         "old@example.com", "old@example.com", {}, "not now"),
        (pem(LEAD), LEAD, LEAD, {"crl": crl}, "is revoked"),
        (pem(OTHER_LEAD), OTHER_LEAD, LEAD, {}, "re-signed after submission"),
        (pem(ADMIN), ADMIN, LEAD, {}, "re-signed after submission"),
    ]
    for signer_pem, claimed, expected, extra, reason in refused:
        with pytest.raises(JobDefinitionError, match=reason):
            verify_signer(signer_pem, root, claimed, expected, **extra)


def _re_sign(job_dir: Path, key: Path, cert: Path, name: str) -> None:
    """What a job with the store in reach did (attack report, finding 2): change a queued job's
    code and sign the new archive with a key of its own, in the name of that key's holder."""
    original, changed = job_dir / "job.zip", job_dir / "changed.zip"
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(changed, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("custom/trainer.py"):
                data += b"\nprint('TAMPERED')\n"
            dst.writestr(info, data)
    changed.replace(original)
    (job_dir / "signature.json").write_text(json.dumps({
        "signature": sign_archive(original, key), "signed_by": name, "signer_pem": cert.read_text()}))


@pytest.mark.timeout(150)
def test_a_queued_job_re_signed_in_the_store_never_runs(tmp_path: Path) -> None:
    """Finding 2 end to end: lead@example.com's queued job re-signed with the server's key, or with
    another org's lead's own key, fails to run with a job error saying why and reaches no site;
    an honest job and a project admin's clone of it (signed by the lead) still run."""
    project = _project_with_leads(tmp_path)
    store = project.server_kit / "store" / "jobs"
    server = ServerProcess(project.server_kit)
    sites = [SiteProcess(project.kit(name)) for name in ("site-1", "site-2")]
    try:
        server.start()
        lead = new_secure_session(LEAD, str(project.kit(LEAD)), timeout=10)
        admin = new_secure_session(ADMIN, str(project.admin_kit), timeout=10)
        try:
            by_server = lead.submit_job(str(numpy_job(tmp_path / "a", name="victim-server", rounds=1)))
            by_other = lead.submit_job(str(numpy_job(tmp_path / "b", name="victim-other", rounds=1)))
            honest = lead.submit_job(str(numpy_job(tmp_path / "c", name="honest", rounds=1)))
            clone = admin.clone_job(honest)
            assert admin.get_job_meta(clone)["signed_by"] == LEAD
            _re_sign(store / by_server, project.server_kit / "startup" / "server.key",
                     project.server_kit / "startup" / "server.crt", "server")
            _re_sign(store / by_other, project.kit(OTHER_LEAD) / "startup" / "client.key",
                     project.kit(OTHER_LEAD) / "startup" / "client.crt", OTHER_LEAD)
            start_together(sites)
            metas = {job: admin.wait_for_job(job, timeout=90, poll_interval=0.5)
                     for job in (by_server, by_other, honest, clone)}
        finally:
            lead.close()
            admin.close()
    finally:
        stop_together(sites)
        stop_together([server])
    assert metas[by_server]["status"] == "FINISHED:FAILED_TO_RUN"
    assert "the certificate of 'server', which is not an admin's" in " ".join(metas[by_server]["job_errors"]["server"])
    assert metas[by_other]["status"] == "FINISHED:FAILED_TO_RUN"
    assert (f"signed by {OTHER_LEAD!r} but was submitted by {LEAD!r}"
            in " ".join(metas[by_other]["job_errors"]["server"]))
    for job in (by_server, by_other):
        assert not any((project.kit(site) / job).exists() for site in ("site-1", "site-2"))
    assert metas[honest]["status"] == metas[clone]["status"] == "FINISHED:COMPLETED"
