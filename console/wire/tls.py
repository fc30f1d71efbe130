"""TLS contexts for mutual authentication against a project's root CA."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from cryptography import x509


def server_context(cert: Path, key: Path, ca: Path, crl: Path | None = None) -> ssl.SSLContext:
    """A listening context that demands a client certificate signed by ``ca`` and, with ``crl``
    (provisioning's revocation list, see provision/revocation.py), not revoked by it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    if crl is not None:
        ctx.load_verify_locations(str(crl))  # OpenSSL takes CRLs from a PEM file like certificates
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A connecting context that presents ``cert`` and checks the server's name against ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def peer_certificate_problem(writer: asyncio.StreamWriter) -> str | None:
    """Why the verified peer certificate still may not be used as an identity, or None.

    OpenSSL accepts the project's own root as a client certificate (it is trusted), so a
    CA certificate presented as a leaf is refused here.
    """
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return "no client certificate"
    cert = x509.load_der_x509_certificate(der)
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    return "a CA certificate cannot be used as a participant's certificate" if constraints.ca else None
