"""Job integrity: the submitting admin signs the job archive; the server and sites verify it.

The signature is RSA-PSS over the SHA-256 digest of the archive's bytes, made with the
admin's kit key; it is checked against the admin's certificate, which must be signed by
the project's root CA. A job altered after signing, or signed by someone else than it
claims, is refused before anything of it runs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from console.jobdef.validate import JobDefinitionError

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


def verify_signer(signer_pem: str, root: x509.Certificate, claimed_name: str) -> x509.Certificate:
    """The signer's certificate, if the project's root CA issued it to ``claimed_name``."""
    try:
        cert = x509.load_pem_x509_certificate(signer_pem.encode())
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise JobDefinitionError("the job's signer certificate was not issued by this project's CA") from None
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not names or names[0].value != claimed_name:
        raise JobDefinitionError(f"the job claims to be signed by {claimed_name!r} but its certificate says otherwise")
    return cert


def certificate_pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode("ascii")
