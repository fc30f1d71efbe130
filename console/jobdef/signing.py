"""Job integrity: the submitting admin signs the job archive; the server and sites verify it.

The signature is RSA-PSS over the SHA-256 digest of the archive's bytes, made with the
admin's kit key; it is checked against the admin's certificate. A job altered after signing,
or signed by someone else than it claims, is refused before anything of it runs.

Who may have signed a job (``verify_signer``, used by the server before it runs a job and by
every site before it deploys one): an *admin* of this project (the root CA issued the
certificate, and it carries an admin role in its subject as provisioning writes it: site and
server certificates carry none), whose certificate is valid at the time of the check and not
on the kit's revocation list, and who is the job's submitter as the server recorded it. A
clone keeps its source's archive and signature, so its signer is the source's signer
(``cloned_signer``), recorded in the clone's meta as ``signed_by``. Without the last rule a
job holding the server's key, or any admin's own key, re-signed another org's queued job and
the sites ran it as the victim's.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from console.jobdef.validate import JobDefinitionError
from console.local_paths import reason
from console.provision.certs import cert_identity

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def archive_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while block := src.read(1 << 20):
            digest.update(block)
    return digest.digest()


@functools.lru_cache(maxsize=8)
def _private_key(key_path: Path, mtime_ns: int) -> rsa.RSAPrivateKey:
    # Loading checks the RSA key's consistency, about 50 ms: once per key file (and version), not per job.
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise JobDefinitionError(f"{key_path} is not an RSA key; cannot sign the job")
    return key


def sign_archive(path: Path, key_path: Path) -> str:
    key = _private_key(key_path, key_path.stat().st_mtime_ns)
    signature = key.sign(archive_digest(path), _PSS, utils.Prehashed(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


def verify_archive(path: Path, signature_b64: str, signer: x509.Certificate) -> None:
    """Raise JobDefinitionError unless ``signer``'s key made ``signature_b64`` over the archive."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        raise JobDefinitionError("the job's signature is not valid base64") from None
    public_key = signer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise JobDefinitionError("the signer's certificate does not hold an RSA key")
    try:
        public_key.verify(signature, archive_digest(path), _PSS, utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise JobDefinitionError(
            "the job archive does not match its signature: it was altered after signing, or signed by someone else"
        ) from None


def expected_signer(meta: dict[str, Any]) -> str:
    """Whose signature a job's archive must carry: a clone's recorded ``signed_by`` (its source's
    signer), otherwise its submitter's (``submitter_name``)."""
    if meta.get("cloned_from") and isinstance(meta.get("signed_by"), str):
        return str(meta["signed_by"])
    return str(meta.get("submitter_name") or "")


def cloned_signer(source_meta: dict[str, Any]) -> str:
    """The ``signed_by`` a clone of ``source_meta``'s job records: the clone keeps the source's
    archive and signature, so whoever signed the source (a clone of a clone: the first submitter)."""
    return expected_signer(source_meta)


def load_crl(path: Path | None, root: x509.Certificate) -> x509.CertificateRevocationList | None:
    """The kit's revocation list (None: the kit has none); one the root did not sign is an error."""
    if path is None:
        return None
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError) as exc:
        said = reason(exc) if isinstance(exc, OSError) else exc
        raise JobDefinitionError(f"the kit's revocation list {path} cannot be read ({said}); re-provision") from None
    if not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
        raise JobDefinitionError(f"the kit's revocation list {path} is not signed by this project's CA")
    return crl


def verify_signer(signer_pem: str, root: x509.Certificate, claimed_name: str, expected: str, *,
                  crl: x509.CertificateRevocationList | None = None,
                  now: dt.datetime | None = None) -> x509.Certificate:
    """The signer's certificate, if it may have signed a job that ``expected`` (``expected_signer``)
    must have signed: the project's root CA issued it to ``claimed_name`` (the record's
    ``signed_by``), it is an admin certificate, valid at ``now`` (default: the current time), not
    revoked by ``crl``, and ``claimed_name`` is ``expected``. JobDefinitionError saying which rule
    failed otherwise."""
    try:
        cert = x509.load_pem_x509_certificate(signer_pem.encode())
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise JobDefinitionError("the job's signer certificate was not issued by this project's CA") from None
    identity = cert_identity(cert)
    if identity.cn != claimed_name:
        raise JobDefinitionError(f"the job claims to be signed by {claimed_name!r} but its certificate says otherwise")
    if not identity.role:
        # Provisioning writes a role into admin certificates only: this is a site's or the server's.
        raise JobDefinitionError(f"the job is signed with the certificate of {claimed_name!r}, which is not an "
                                 "admin's (a site's or the server's); only the submitting admin's signature is accepted")
    moment = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise JobDefinitionError(f"the job's signer certificate ({claimed_name!r}) is valid from "
                                 f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M}"
                                 " UTC, not now; submit the job again with a current kit")
    if crl is not None and crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        raise JobDefinitionError(f"the job's signer certificate ({claimed_name!r}) is revoked; submit the job again "
                                 "with a current kit")
    if claimed_name != expected:
        raise JobDefinitionError(f"the job is signed by {claimed_name!r} but was submitted by {expected!r}: it was "
                                 "re-signed after submission; only the submitter's own signature is accepted")
    return cert


def certificate_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode("ascii")
