"""Revocation: certificates of participants removed from the project, or whose role or org
changed, stop working once the server starts from the next kit.

Re-provisioning keeps the root CA, so an earlier kit stays valid by its signature alone. The
project's state folder therefore keeps every leaf certificate issued (``issued.json``: serial,
name, type, org, role) and every one revoked (``revoked.json``). Each run compares what was
issued with the project file: a name no longer in it, or one whose type, org or role changed,
has all its earlier certificates revoked (once revoked, always). Every kit gets
``startup/crl.pem``, an X.509 CRL signed by the root CA: the server checks it at every TLS
handshake on both of its ports, sites and consoles check the server's certificate against it.

Owns only the bookkeeping and the CRL; kits.py decides where files go.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from console.provision.certs import PrivateKey
from console.provision.project import Participant, Project

ISSUED_FILE = "issued.json"
REVOKED_FILE = "revoked.json"


@dataclass(frozen=True)
class Issued:
    serial: str  # hex
    name: str
    type: str
    org: str
    role: str | None
    prod: str

    def identity(self) -> tuple[str, str, str | None]:
        return self.type, self.org, self.role


def _identity(p: Participant) -> tuple[str, str, str | None]:
    return p.type.value, p.org, p.role


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); restore it from a backup") from None


def _write(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


class Ledger:
    """What was issued and what is revoked, in the project's state folder."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.issued = [Issued(**entry) for entry in _read(state / ISSUED_FILE, [])]
        self.revoked: dict[str, dict[str, str]] = _read(state / REVOKED_FILE, {})

    def revoke_departed(self, project: Project, now: dt.datetime) -> list[str]:
        """Revoke earlier certificates whose holder left the project or changed type, org or role;
        the serials newly revoked."""
        current = {p.name: _identity(p) for p in project.participants}
        newly = []
        for entry in self.issued:
            if entry.serial in self.revoked:
                continue
            now_as = current.get(entry.name)
            if now_as == entry.identity():
                continue
            reason = ("removed from the project" if now_as is None else
                      f"changed from {'/'.join(filter(None, entry.identity()))} to {'/'.join(filter(None, now_as))}")
            self.revoked[entry.serial] = {"name": entry.name, "reason": reason, "time": now.isoformat(),
                                          "prod": entry.prod}
            newly.append(entry.serial)
        return newly

    def note_issued(self, cert: x509.Certificate, p: Participant, prod: str) -> None:
        self.issued.append(Issued(f"{cert.serial_number:x}", p.name, p.type.value, p.org, p.role, prod))

    def save(self) -> None:
        _write(self.state / ISSUED_FILE, [asdict(entry) for entry in self.issued])
        _write(self.state / REVOKED_FILE, self.revoked)

    def crl_pem(self, ca_cert: x509.Certificate, ca_key: PrivateKey, now: dt.datetime) -> bytes:
        """A CRL of every revoked serial, valid as long as the root (OpenSSL refuses an expired CRL)."""
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(ca_cert.subject)
                   .last_update(now - dt.timedelta(minutes=5))
                   .next_update(ca_cert.not_valid_after_utc))
        for serial, entry in sorted(self.revoked.items()):
            revoked = (x509.RevokedCertificateBuilder()
                       .serial_number(int(serial, 16))
                       .revocation_date(dt.datetime.fromisoformat(entry["time"]))
                       .build())
            builder = builder.add_revoked_certificate(revoked)
        return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
