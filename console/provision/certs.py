"""The project's root CA and the participants' certificates and keys (via ``cryptography``).

The CN is the participant's name and the only identity the server believes; the admin role
rides in the subject's unstructuredName, as in FLARE, and only admin certificates carry one
(the server relies on that to refuse site or server certificates on the admin port).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048
ROOT_VALID_DAYS = 3650
LEAF_VALID_DAYS = 360
# Back-dating absorbs small clock differences between the machine that provisions and the
# machines that verify; without it a freshly written kit can be "not yet valid" elsewhere.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_LOOPBACK = ("localhost", "127.0.0.1", "::1")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CertKind(StrEnum):
    SERVER = "server"
    CLIENT = "client"  # a site
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class CertIdentity:
    """Who a certificate says its holder is: CN, O and (admins only) the role."""

    cn: str
    org: str
    role: str | None = None


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    # cryptography reads naive datetimes as UTC; make that explicit so comparisons work.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not sign_certs, content_commitment=False, key_encipherment=not sign_certs,
        data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs, crl_sign=sign_certs,
        encipher_only=False, decipher_only=False,
    )


def make_root_ca(project_name: str, valid_days: int = ROOT_VALID_DAYS) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A self-signed root for the project (CN = project name), RSA 2048 / SHA-256."""
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, project_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _subject_alt_names(kind: CertKind, cn: str, sans: Iterable[str]) -> list[x509.GeneralName]:
    if kind is not CertKind.SERVER:
        return [x509.RFC822Name(cn) if "@" in cn else x509.DNSName(cn)]
    names: list[x509.GeneralName] = [x509.DNSName(cn)]
    # The server is always reachable on loopback (demo, tests, a one-machine project).
    for host in (*sans, *_LOOPBACK):
        name = _host_name(host)
        if name not in names:
            names.append(name)
    return names


def _subject(cn: str, org: str, role: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if role is not None:
        attributes.append(x509.NameAttribute(NameOID.UNSTRUCTURED_NAME, role))
    return x509.Name(attributes)


def issue_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    *,
    cn: str,
    org: str,
    kind: CertKind,
    role: str | None = None,
    sans: Iterable[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = LEAF_VALID_DAYS,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A leaf certificate and its new key, signed by the root.

    Validity is ``valid_days`` from now unless ``not_before``/``not_after`` say otherwise (tests
    use them for expired or not-yet-valid certificates); it never reaches past the root's own.
    """
    kind = CertKind(kind)
    if kind is CertKind.ADMIN and not role:
        raise ValueError(f"admin certificate for {cn!r} needs a role")
    if kind is not CertKind.ADMIN and role is not None:
        raise ValueError(f"only admin certificates carry a role; {kind} certificate for {cn!r} was given {role!r}")
    now = _now()
    start = _utc(not_before) if not_before is not None else now - _CLOCK_SKEW
    end = _utc(not_after) if not_after is not None else now + dt.timedelta(days=valid_days)
    end = min(end, ca_cert.not_valid_after_utc)
    if start >= end:
        raise ValueError(f"certificate for {cn!r} would be valid from {start} to {end}; nothing to issue")
    key = _new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind is CertKind.SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(_subject(cn, org, role))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(kind, cn, sans)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_pem_cert(path: str | Path, cert: x509.Certificate) -> None:
    Path(path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_pem_key(path: str | Path, key: PrivateKey) -> None:
    """Write an unencrypted PKCS8 key readable by its owner only, from the moment it exists."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_NOFOLLOW: never write a key through a planted symlink. fchmod: an existing file keeps
    # its old mode through O_CREAT, and the umask could only have narrowed 0600 anyway.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            fd = -1
            out.write(data)
    finally:
        if fd >= 0:
            os.close(fd)


def load_cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_key(path: str | Path) -> PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"{path} holds a {type(key).__name__}; expected an RSA or EC private key")
    return key


def cert_identity(cert: x509.Certificate) -> CertIdentity:
    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    return CertIdentity(
        first(NameOID.COMMON_NAME) or "", first(NameOID.ORGANIZATION_NAME) or "", first(NameOID.UNSTRUCTURED_NAME)
    )


def identity_from_peercert(peercert: Mapping[str, Any] | None) -> CertIdentity:
    """Identity from ``ssl.SSLSocket.getpeercert()``.

    There the subject is a tuple of RDNs, each a tuple of (key, value) pairs, e.g.
    ``((('commonName', 'x'),), (('organizationName', 'o'),), (('unstructuredName', 'lead'),))``.
    An empty dict (no verified peer certificate) gives an empty identity.
    """
    fields: dict[str, str] = {}
    for rdn in (peercert or {}).get("subject", ()):
        for key, value in rdn:
            # The first occurrence wins, as in cert_identity.
            fields.setdefault(key, value)
    return CertIdentity(
        fields.get("commonName", ""), fields.get("organizationName", ""), fields.get("unstructuredName")
    )
