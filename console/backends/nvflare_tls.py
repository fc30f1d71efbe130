"""Why FLARE's login cannot reach its server, read from where FLARE says it: the line its connector logs.

FLARE 2.9's connector (``nvflare.fuel.f3.sfm.conn_manager``) logs a refused server certificate as an
ERROR ("Connector [CH00001 ACTIVE http://localhost:59613] failed with exception
ClientConnectorCertificateError: ... [SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED]
certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)')]") and retries
until the login's timeout, which then says only "cannot connect". ``watching`` hands such a reason for
one server address to a login while it runs, so the login stops at once and says it (``nvflare_login``).
FLARE's connector logs that line only after about 8 s however long the login may take (FLARE 2.9's POC),
so a login not done within a second also asks the server itself (``check_server_certificate``: one TLS
handshake against the kit's rootCA.pem, the reason handed on the same way).

Must not: change FLARE's logging (a handler is added beside FLARE's own, records pass on unchanged), or
decide the wording (``console.wire.tls.server_certificate_words``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

#: OpenSSL's reason in the line FLARE's connector logs.
_VERIFY_FAILED = re.compile(r"certificate verify failed: (?P<reason>[^()'\"\]]+?)\s*(\(_ssl\.c:\d+\))?['\")\]]")

_LOCK = threading.Lock()
_LISTENERS: dict[int, tuple[str, Callable[[str], None]]] = {}


class _Watch(logging.Handler):
    """On FLARE's logger: each refused server certificate to the listeners of its address."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record FLARE formatted wrongly: not ours to report
            return
        found = _VERIFY_FAILED.search(text)
        if found is None:
            return
        with _LOCK:
            listeners = [tell for where, tell in _LISTENERS.values() if where in text]
        for tell in listeners:
            tell(found["reason"].strip())


@functools.cache
def _install() -> None:
    logging.getLogger("nvflare").addHandler(_Watch(logging.ERROR))


@contextlib.contextmanager
def watching(where: str, tell: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, ``tell(reason)`` is called (on FLARE's thread) for each server certificate FLARE's
    connector refused at ``where`` ("host:port"), with OpenSSL's reason ("self-signed certificate in chain")."""
    _install()
    key = id(tell)
    with _LOCK:
        _LISTENERS[key] = (where, tell)
    try:
        yield
    finally:
        with _LOCK:
            _LISTENERS.pop(key, None)


def check_server_certificate(kit_root: Path, tell: Callable[[str], None], timeout: float = 5.0) -> None:
    """``tell(reason)`` when the FLARE server the admin kit at ``kit_root`` names presents a certificate its
    ``rootCA.pem`` does not verify (OpenSSL's reason, as ``watching`` hands it). Blocking (a thread of its own),
    at most about ``timeout`` s; silent for a kit without TLS (``connection_security`` "clear"), an unreachable
    server, or any other failure (the login says those). The host name is not checked: FLARE's connector
    checks the chain, and a certificate for another name is not a kit of another project."""
    try:
        admin = json.loads((kit_root / "startup" / "fed_admin.json").read_text())["admin"]
        if str(admin.get("connection_security", "mtls")).lower() == "clear":
            return
        context = ssl.create_default_context(cafile=str(kit_root / "startup" / admin.get("ca_cert", "rootCA.pem")))
        context.check_hostname = False
        context.set_alpn_protocols(["h2", "http/1.1"])  # (FLARE's grpc driver speaks h2, its http driver 1.1)
        with socket.create_connection((str(admin["host"]), int(admin["port"])), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=str(admin["host"])):
            return
    except ssl.SSLCertVerificationError as exc:
        tell(str(exc.verify_message or exc))
    except Exception:  # unreachable, refused, no kit file: not a certificate's fault, and the login says it
        return
