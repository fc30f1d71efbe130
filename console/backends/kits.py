"""Which startup kit is this: whose (ours or NVIDIA FLARE's) and for what (admin, server, site).

Both provisionings write the same file names (``startup/fed_admin.json``,
``fed_server.json``, ``fed_client.json``), so the engine is told by the keys inside:
FLARE 2.9's ``StaticFileBuilder`` writes ``scheme``, ``connection_security`` and
``uid_source`` into an admin kit and no ``fed_learn_port`` into server and site kits
(the port lives in ``service.target``); ours writes none of the former and always the latter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from console.commands import Engine
from console.wire.kit import KitError, _read_json, kit_root

#: Keys only FLARE's provisioning puts into an admin kit's "admin" section.
FLARE_ADMIN_KEYS = frozenset({"scheme", "connection_security", "uid_source", "with_file_transfer"})


class KitRole(StrEnum):
    ADMIN = "admin"
    SERVER = "server"
    SITE = "site"


@dataclass(frozen=True)
class KitInfo:
    engine: Engine
    role: KitRole
    root: Path  # the participant folder (the one holding startup/)
    name: str  # admin user name, server identity or site name

    def describe(self) -> str:
        who = "FLARE" if self.engine is Engine.NVFLARE else "flare-console"
        return f"a {who} {self.role.value} kit ({self.name})"


def certificate_cn(path: Path) -> str:
    """The common name of a PEM certificate, '' if it cannot be read."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (OSError, ValueError):
        return ""
    return str(names[0].value) if names else ""


def _first_server(data: dict[str, Any], path: Path) -> dict[str, Any]:
    servers = data.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        raise KitError(f"{path} has no 'servers' entry; re-run provisioning")
    return servers[0]


def detect_kit(location: str | Path) -> KitInfo:
    """Tell the kit at ``location`` apart. Raises ``KitError`` saying what is missing."""
    root = kit_root(location)
    startup = root / "startup"
    admin_file, server_file, site_file = (startup / n for n in ("fed_admin.json", "fed_server.json",
                                                                  "fed_client.json"))
    if admin_file.is_file():
        admin = _read_json(admin_file).get("admin")
        if not isinstance(admin, dict):
            raise KitError(f"{admin_file} has no 'admin' section; re-run provisioning")
        engine = Engine.NVFLARE if FLARE_ADMIN_KEYS & set(admin) else Engine.OURS
        name = str(admin.get("username") or "")
        if not name:  # FLARE's POC leaves it empty: the certificate says who this is
            name = certificate_cn(startup / str(admin.get("client_cert", "client.crt"))) or root.name
        return KitInfo(engine, KitRole.ADMIN, root, name)
    if server_file.is_file():
        server = _first_server(_read_json(server_file), server_file)
        engine = Engine.OURS if "fed_learn_port" in server else Engine.NVFLARE
        name = str(server.get("identity") or server.get("admin_server") or root.name)
        return KitInfo(engine, KitRole.SERVER, root, name)
    if site_file.is_file():
        data = _read_json(site_file)
        server = _first_server(data, site_file)
        client = data.get("client") if isinstance(data.get("client"), dict) else {}
        engine = Engine.OURS if "fed_learn_port" in server else Engine.NVFLARE
        name = str(client.get("name") or client.get("fqsn") or root.name)
        return KitInfo(engine, KitRole.SITE, root, name)
    raise KitError(f"{startup} holds none of fed_admin.json, fed_server.json, fed_client.json: "
                   "is this a startup kit? Point at the participant folder that provisioning wrote")


def admin_kit(location: str | Path) -> KitInfo:
    """The admin kit at ``location``; any other kit is refused with what it is and what to use."""
    info = detect_kit(location)
    if info.role is not KitRole.ADMIN:
        raise KitError(
            f"this is {info.describe()}: the console logs in with an admin kit, the folder of an admin "
            f"user beside it in {info.root.parent} (its startup/ holds fed_admin.json)"
        )
    return info


def check_flare_kit_folders(kit_root: Path) -> None:
    """A FLARE admin kit holds ``local/`` beside ``startup/``: FLARE 2.9's admin login reads its workspace
    there and refuses a kit without it ("invalid workspace ...: missing site config folder"), an
    InternalError with no next step. Raises ``AuthenticationError`` (as the kit's other checks before
    logging in) naming the folder and what to do."""
    from console.api.errors import AuthenticationError

    local = kit_root / "local"
    if not local.is_dir():
        raise AuthenticationError(f"this FLARE admin kit has no local/ folder ({local}), which FLARE's login reads "
                                  "beside startup/: copy the kit whole as provisioning wrote it, or ask the project "
                                  "admin for a new kit")
