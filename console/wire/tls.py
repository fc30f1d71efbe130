"""TLS contexts for mutual authentication against a project's root CA, and the rate-limited log
of handshakes that failed."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from console.wire.peer_address import peer_address

#: Provisioning's revocation list, in every kit's ``startup/`` (see provision/revocation.py).
CRL_FILE = "crl.pem"


def _check_revocation(ctx: ssl.SSLContext, crl: Path | None) -> None:
    if crl is not None:
        ctx.load_verify_locations(str(crl))  # OpenSSL takes CRLs from a PEM file like certificates
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


#: OpenSSL's X509_V_ERR_CERT_REVOKED.
_CERT_REVOKED = 23


def server_certificate_problem(exc: ssl.SSLCertVerificationError) -> str:
    """Why a site or console refused the server's certificate, in words that say what to do."""
    if exc.verify_code == _CERT_REVOKED:
        return ("the server's certificate is revoked by this kit's crl.pem: the server runs a kit that a newer "
                "provisioning replaced; start the server from the latest kit")
    return server_certificate_words(str(exc.verify_message or exc))


#: OpenSSL's verify messages that mean "not signed by (a chain up to) the root this kit trusts".
_NOT_OURS = ("self-signed certificate in certificate chain", "self signed certificate in certificate chain",
             "unable to get local issuer certificate", "unable to get issuer certificate",
             "unable to verify the first certificate", "self-signed certificate", "self signed certificate",
             "certificate signature failure")


def server_certificate_words(verify_message: str) -> str:
    """OpenSSL's reason (``verify_message``) for refusing the server's certificate, in words that say what to do:
    one wording for both engines (ours from the handshake's error, FLARE's from the line its connector logs)."""
    reason = verify_message.strip()
    if reason.lower() in _NOT_OURS:
        return (f"the server's certificate is not signed by this kit's rootCA.pem (OpenSSL: {reason}): the kit is "
                "from another project or provisioning than the server; use an admin kit of the server's own project")
    if "expired" in reason.lower():
        return (f"the server's certificate has expired (OpenSSL: {reason}): the server needs a kit of a newer "
                "provisioning; tell the project admin")
    return (f"the server's certificate failed verification against this kit's rootCA.pem (OpenSSL: {reason}): is "
            "the kit from another project, or the kit's host not the server's name?")


def server_context(cert: Path, key: Path, ca: Path, crl: Path | None = None) -> ssl.SSLContext:
    """A listening context that demands a client certificate signed by ``ca`` and, with ``crl``
    (provisioning's revocation list, see provision/revocation.py), not revoked by it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    _check_revocation(ctx, crl)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(cert: Path, key: Path, ca: Path, crl: Path | None = None) -> ssl.SSLContext:
    """A connecting context that presents ``cert`` and checks the server's name against ``ca``
    and, with ``crl``, that the server's certificate is not revoked (a server key replaced by a
    newer provisioning must not be usable to impersonate the server)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    _check_revocation(ctx, crl)
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


#: At most one log line per this many seconds for failed handshakes, after the first of a quiet spell.
FAILURE_LOG_SECONDS = 10.0
#: Distinct addresses counted per summary; past it the summary says "at least".
_MAX_COUNTED_PEERS = 1024

log = logging.getLogger("console.wire.tls")


class HandshakeFailureLog:
    """Failed TLS handshakes (or logins), logged without letting peers flood the log.

    The first failure after a quiet spell is logged at once, with its reason. Those that follow
    within ``period`` seconds are counted, and one summary line (how many, from how many
    addresses, the latest peer and reason) is written when the period ends, so the last burst of
    a flood is reported too. Use from the event loop that accepts the connections.
    """

    def __init__(self, what: str, period: float = FAILURE_LOG_SECONDS, logger: logging.Logger = log,
                 record: Callable[..., None] | None = None) -> None:
        self.what = what  # "TLS handshake", "site TLS handshake"
        self.period = period
        self.logger = logger
        #: Also told each line as it is logged (the server's audit trail), as keywords: ``what``,
        #: ``peer``, ``reason``; a summary adds ``count`` and ``addresses`` (bounded as the log is).
        self._record = record
        self.total = 0
        self._quiet_at = 0.0  # loop time when the current period ends
        self._held = 0
        self._peers: set[str] = set()
        self._latest = ("", "")
        self._summary: asyncio.TimerHandle | None = None

    def failed(self, peer: object, reason: str) -> None:
        """Note one failure from ``peer`` (an address: ``(host, port, ...)`` as asyncio gives it, or text)
        for ``reason``."""
        # "127.0.0.1:35308" in the log and the audit alike, in the first line as in a summary (it showed a
        # tuple's repr there).
        peer = peer_address(peer)
        self.total += 1
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._quiet_at and self._summary is None:
            self.logger.warning("%s from %s refused: %s", self.what, peer, reason)
            if self._record is not None:
                self._record(what=self.what, peer=peer, reason=reason)
            self._quiet_at = now + self.period
            return
        self._held += 1
        if len(self._peers) < _MAX_COUNTED_PEERS:
            self._peers.add(str(peer).rsplit(":", 1)[0])
        self._latest = (str(peer), reason)
        if self._summary is None:
            self._summary = loop.call_at(self._quiet_at, self._write_summary)

    def _write_summary(self) -> None:
        self._summary = None
        if not self._held:
            return
        many = "at least " if len(self._peers) >= _MAX_COUNTED_PEERS else ""
        self.logger.warning("%s refused %d more time(s) in the last %g s from %s%d address(es), the latest "
                            "from %s: %s", self.what, self._held, self.period, many, len(self._peers), *self._latest)
        if self._record is not None:
            self._record(what=self.what, peer=self._latest[0], reason=self._latest[1], count=self._held,
                         addresses=f"{many}{len(self._peers)}", period_seconds=self.period)
        self._held = 0
        self._peers.clear()
        # A flood that goes on is summed up again a period later, never line by line.
        self._quiet_at = asyncio.get_running_loop().time() + self.period
