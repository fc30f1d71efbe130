"""TLS contexts for mutual authentication against a project's root CA."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A listening context that demands a client certificate signed by ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
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
