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


def check_own_certificate(path: Path) -> None:
    """Say plainly that the kit's own certificate is expired instead of a TLS alert later."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    now = datetime.now(UTC)
    if now > cert.not_valid_after_utc:
        raise AuthenticationError(
            f"the certificate {path} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
            "ask the project admin for a newly provisioned startup kit"
        )
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
            f"the certificate {path} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; "
            "check this machine's clock or use another kit"
        )


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
