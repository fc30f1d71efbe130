"""The project's root CA and the participants' certificates and keys (via ``cryptography``).

The admin role rides in the subject's unstructuredName, as in FLARE; the CN is the
participant's name and the only identity the server believes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048
LEAF_VALID_DAYS = 360


class CertKind(StrEnum):
    SERVER = "server"
    CLIENT = "client"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class CertIdentity:
    cn: str
    org: str
    role: str | None


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_root_ca(project_name: str, valid_days: int = 3650) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, project_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _subject_alt_names(kind: CertKind, cn: str, sans: Sequence[str]) -> list[x509.GeneralName]:
    if kind is not CertKind.SERVER:
        return [x509.RFC822Name(cn) if "@" in cn else x509.DNSName(cn)]
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([cn, *sans, "localhost"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    for loopback in ("127.0.0.1", "::1"):
        address = x509.IPAddress(ipaddress.ip_address(loopback))
        if address not in names:
            names.append(address)
    return names


def issue_cert(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    *,
    cn: str,
    org: str,
    kind: CertKind,
    role: str | None = None,
    sans: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = LEAF_VALID_DAYS,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A leaf certificate signed by the root; validity never reaches past the root's own."""
    key = _key()
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if role:
        attributes.append(x509.NameAttribute(NameOID.UNSTRUCTURED_NAME, role))
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or min(_now() + dt.timedelta(days=valid_days), ca_cert.not_valid_after_utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind is CertKind.SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(kind, cn, sans)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_pem_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_pem_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Write a private key readable by its owner only, from the moment it exists."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def cert_identity(cert: x509.Certificate) -> CertIdentity:
    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    return CertIdentity(first(NameOID.COMMON_NAME) or "", first(NameOID.ORGANIZATION_NAME) or "",
                        first(NameOID.UNSTRUCTURED_NAME))


def identity_from_peercert(peercert: dict[str, Any]) -> CertIdentity:
    """Identity from ``SSLSocket.getpeercert()``: the subject is a tuple of RDNs of (key, value) pairs."""
    fields: dict[str, str] = {}
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            fields.setdefault(key, value)
    return CertIdentity(fields.get("commonName", ""), fields.get("organizationName", ""),
                        fields.get("unstructuredName"))
