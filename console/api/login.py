"""What a client checks around logging in: its own certificate before it connects, a TLS
refusal put in words, and the server's login answer read strictly.

Used by ``console.api.client``; nothing here opens a connection. A hostile or broken server's
answer raises TypeError/ValueError here (the client turns that into NoConnection), never a
traceback from deep inside the console.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from console.api.errors import AuthenticationError
from console.wire.features import peer_features
from console.wire.tls import server_certificate_problem


@dataclass(frozen=True, slots=True)
class LoginInfo:
    server: str
    project: str
    user: str
    org: str
    role: str
    server_start_time: float
    #: right -> condition ("any", "none", "n:submitter", ...) from the server's policy; empty from an older server.
    rights: dict[str, str] = field(default_factory=dict)
    #: What the server's end of the wire understands beyond protocol 1 (``console.wire.features``).
    features: frozenset[str] = frozenset()


#: What to do about a kit whose own certificate cannot be used: only provisioning makes a new one.
NEW_KIT = "ask the project admin for a new kit"


def check_own_certificate(path: Path, ca: Path | None = None, key: Path | None = None) -> None:
    """Say plainly what is wrong with the kit's own certificate ``path`` (a client.crt) before connecting, instead
    of a TLS alert, OpenSSL's or cryptography's words, or the server's "InvalidCertChain" later: not a PEM
    certificate, expired, not yet valid, a CA certificate, (with ``ca``, the kit's rootCA.pem) not signed by the
    kit's own root, or (with ``key``, the kit's client.key) a key that is no PEM key or not the certificate's
    (OpenSSL: KEY_VALUES_MISMATCH). Both engines' kits (the same file names). Raises AuthenticationError; a file
    that cannot be read is left to the login to report."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        raise AuthenticationError(f"this kit's certificate {path} is not a PEM certificate (its text is damaged "
                                  f"or it is another file); {NEW_KIT}") from None
    if key is not None:
        _check_own_key(cert, path, key)
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        raise AuthenticationError(
            f"this kit's certificate {path} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; {NEW_KIT}")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise AuthenticationError(
            f"the certificate {path} is a CA certificate; a kit holds its participant's own certificate: "
            "use the kit that provisioning wrote"
        )
    if now < cert.not_valid_before_utc:
        raise AuthenticationError(
            f"this kit's certificate {path} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; "
            f"check this machine's clock, or {NEW_KIT}"
        )
    if ca is not None and not _issued_by(cert, ca):
        raise AuthenticationError(
            f"this kit's certificate {path} is not signed by the kit's {ca.name} ({ca}): the kit's files come from "
            f"different provisionings, and no server of its project will take it; {NEW_KIT}")


def _check_own_key(cert: x509.Certificate, path: Path, key: Path) -> None:
    """The kit's private key ``key`` is a PEM key and the one of ``cert``; a key that cannot be read or is
    protected by a password is left to the login to report."""
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, TypeError):  # unreadable, or encrypted (TypeError: a password is needed)
        return
    except (ValueError, UnsupportedAlgorithm):
        raise AuthenticationError(f"this kit's key {key} is not a PEM private key (its text is damaged or it "
                                  f"is another file); {NEW_KIT}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (private.public_key().public_bytes(serialization.Encoding.DER, public)
            != cert.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise AuthenticationError(f"this kit's key {key} does not belong to its certificate {path}: the two come "
                                  f"from different kits or provisionings; use the kit's own pair, or {NEW_KIT}")


def _issued_by(cert: x509.Certificate, ca: Path) -> bool:
    """Whether ``cert`` is signed by the first certificate in ``ca``; True when ``ca`` cannot be read (the TLS
    layer then says what it finds)."""
    try:
        root = x509.load_pem_x509_certificate(ca.read_bytes())
    except (OSError, ValueError):
        return True
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def tls_refusal(exc: BaseException) -> AuthenticationError:
    text = str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return AuthenticationError(server_certificate_problem(exc))
    reasons = {
        "UNKNOWN_CA": "the server does not trust this kit's certificate (a kit from another project?)",
        "CERTIFICATE_EXPIRED": "the server refused this kit's certificate as expired",
        "CERTIFICATE_REVOKED": "the server refused this kit's certificate as revoked (removed from the project, "
                               "or its role changed: use the kit of the latest provisioning)",
        "BAD_CERTIFICATE": "the server refused this kit's certificate",
        "CERTIFICATE_REQUIRED": "the server requires a client certificate",
        "UNSUPPORTED_CERTIFICATE": "the server refused this certificate for admin use",
    }
    for key, message in reasons.items():
        if key in text:
            return AuthenticationError(f"{message} ({text})")
    return AuthenticationError(f"the TLS connection was refused: {text}")


def parse_login_answer(data: Any) -> LoginInfo:
    """The login answer read strictly: a field of the wrong shape raises (TypeError/ValueError)."""
    if not isinstance(data, dict):
        raise TypeError(f"an object was expected, not {type(data).__name__}")
    user = data.get("user") or {}
    rights = data.get("rights") or {}
    if not isinstance(user, dict) or not isinstance(rights, dict):
        raise TypeError("'user' and 'rights' must be objects")

    def text(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise TypeError(f"{name!r} must be text")
        return value

    started = data.get("server_start_time", 0.0)
    if isinstance(started, bool) or not isinstance(started, int | float):
        raise TypeError("'server_start_time' must be a number")
    return LoginInfo(
        server=text(data.get("server", ""), "server"), project=text(data.get("project", ""), "project"),
        user=text(user.get("name", ""), "user.name"), org=text(user.get("org", ""), "user.org"),
        role=text(user.get("role") or "", "user.role"), server_start_time=float(started),
        rights={k: v for k, v in rights.items() if isinstance(k, str) and isinstance(v, str)},
        features=peer_features(data.get("features")),
    )
