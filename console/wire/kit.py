"""Reading the connection settings of a startup kit (the files provisioning writes).

A kit folder is a participant folder holding ``startup/``; the ``startup`` folder itself
is accepted too, since that is what people often point at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from console.jobdef.archive import JobLimits
from console.jobdef.process_limits import ProcessLimits
from console.wire.gate import ConnectionLimits
from console.wire.tls import CRL_FILE

_L = TypeVar("_L")


class KitError(ValueError):
    """A startup kit is missing or malformed; the message says which file and what to do. It names no
    argument: the caller that knows where the kit's path came from says so (``--kit`` or ``$FLARE_KIT`` in
    the console, ``startup_path`` or ``startup_kit_location`` in the Python API, ``KIT_DIR`` of a server)."""


def kit_root(location: str | Path) -> Path:
    path = Path(location).expanduser()
    if path.name == "startup" and path.is_dir():
        path = path.parent
    if not path.exists():
        raise KitError(f"{path} does not exist: a startup kit is the participant folder that provisioning "
                       "wrote, e.g. prod_00/admin@example.com")
    if not path.is_dir():
        raise KitError(f"{path} is a file, not a startup kit: point at the participant folder that provisioning "
                       "wrote (the folder holding startup/)")
    if not (path / "startup").is_dir():
        raise KitError(
            f"{path} is not a startup kit: it has no startup/ folder "
            "(point at the participant folder that provisioning wrote, e.g. prod_00/admin@example.com)"
        )
    return path.resolve()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KitError(f"{path} is missing; re-run provisioning or point at another kit") from None
    except ValueError as exc:
        raise KitError(f"{path} is not valid JSON ({exc}); re-run provisioning") from None
    if not isinstance(data, dict):
        raise KitError(f"{path} must hold a JSON object")
    return data


def _require(section: dict[str, Any], key: str, path: Path) -> Any:
    if key not in section:
        raise KitError(f"{path} lacks '{key}'; re-run provisioning")
    return section[key]


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path

    @property
    def crl(self) -> Path | None:
        """The kit's revocation list beside its root certificate; None in kits provisioned before
        revocation existed (they keep working as before)."""
        path = self.ca.parent / CRL_FILE
        return path if path.is_file() else None

    def check(self) -> None:
        for path in (self.cert, self.key, self.ca):
            if not path.is_file():
                raise KitError(f"{path} is missing from the startup kit; re-run provisioning")


@dataclass(frozen=True)
class AdminKit:
    root: Path
    host: str
    port: int
    username: str
    project_name: str
    server_identity: str
    tls: TlsFiles
    upload_dir: Path
    download_dir: Path

    @classmethod
    def load(cls, location: str | Path) -> AdminKit:
        root = kit_root(location)
        path = root / "startup" / "fed_admin.json"
        admin = _read_json(path).get("admin")
        if not isinstance(admin, dict):
            raise KitError(f"{path} has no 'admin' section; is this an admin kit?")
        startup = root / "startup"
        tls = TlsFiles(
            cert=startup / admin.get("client_cert", "client.crt"),
            key=startup / admin.get("client_key", "client.key"),
            ca=startup / admin.get("ca_cert", "rootCA.pem"),
        )
        return cls(
            root=root,
            host=str(_require(admin, "host", path)),
            port=int(_require(admin, "port", path)),
            username=str(admin.get("username", "")),
            project_name=str(admin.get("project_name", "")),
            server_identity=str(_require(admin, "server_identity", path)),
            tls=tls,
            upload_dir=root / admin.get("upload_dir", "transfer"),
            download_dir=root / admin.get("download_dir", "transfer"),
        )


@dataclass(frozen=True)
class ServerKit:
    root: Path
    project_name: str
    identity: str
    org: str
    host: str
    fed_learn_port: int
    admin_port: int
    max_jobs: int
    max_schedule_count: int
    max_upload_bytes: int
    tls: TlsFiles
    #: ``"connection_limits"`` in fed_server.json: any field of ConnectionLimits.
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    #: ``"job_limits"`` in fed_server.json: any field of JobLimits.
    job_limits: JobLimits = field(default_factory=JobLimits)
    #: ``"job_process_limits"`` in fed_server.json: any field of ProcessLimits.
    job_process_limits: ProcessLimits = field(default_factory=ProcessLimits)

    @classmethod
    def load(cls, location: str | Path) -> ServerKit:
        root = kit_root(location)
        path = root / "startup" / "fed_server.json"
        data = _read_json(path)
        servers = data.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            raise KitError(f"{path} has no 'servers' entry; is this a server kit?")
        server = servers[0]
        startup = root / "startup"
        return cls(
            root=root,
            project_name=str(data.get("project_name", server.get("name", ""))),
            identity=str(_require(server, "identity", path)),
            org=str(server.get("org", "")),
            host=str(server.get("host", "localhost")),
            fed_learn_port=int(_require(server, "fed_learn_port", path)),
            admin_port=int(_require(server, "admin_port", path)),
            max_jobs=int(server.get("max_jobs", 4)),
            max_schedule_count=int(server.get("max_schedule_count", 30)),
            max_upload_bytes=int(server.get("max_upload_bytes", 2 << 30)),
            tls=TlsFiles(
                cert=startup / server.get("ssl_cert", "server.crt"),
                key=startup / server.get("ssl_private_key", "server.key"),
                ca=startup / server.get("ssl_root_cert", "rootCA.pem"),
            ),
            connection_limits=_limits(ConnectionLimits, server.get("connection_limits"), path),
            job_limits=_limits(JobLimits, server.get("job_limits"), path),
            job_process_limits=_limits(ProcessLimits, server.get("job_process_limits"), path),
        )


def _limits(kind: type[_L], given: Any, path: Path) -> _L:
    """A limits dataclass from a kit's JSON object: known positive numbers only (integers where
    the default is an integer, seconds may have a fraction)."""
    if given is None:
        return kind()
    defaults = kind()
    names = {f.name for f in fields(kind)}  # type: ignore[arg-type]

    def fits(name: str, value: Any) -> bool:
        wanted = (int, float) if isinstance(getattr(defaults, name), float) else int
        return isinstance(value, wanted) and not isinstance(value, bool) and value > 0

    if not isinstance(given, dict) or set(given) - names or not all(fits(k, v) for k, v in given.items()):
        raise KitError(f"{path}: limits must be an object of positive numbers with keys among "
                       f"{', '.join(sorted(names))}")
    return kind(**given)


@dataclass(frozen=True)
class SiteKit:
    root: Path
    project_name: str
    name: str
    org: str
    server_identity: str
    host: str
    fed_learn_port: int
    tls: TlsFiles
    #: ``"job_limits"`` in fed_client.json's ``client`` section: any field of JobLimits.
    job_limits: JobLimits = field(default_factory=JobLimits)
    #: ``"job_process_limits"`` in fed_client.json's ``client`` section: any field of ProcessLimits.
    job_process_limits: ProcessLimits = field(default_factory=ProcessLimits)

    @classmethod
    def load(cls, location: str | Path) -> SiteKit:
        root = kit_root(location)
        path = root / "startup" / "fed_client.json"
        data = _read_json(path)
        client = data.get("client")
        servers = data.get("servers")
        if not isinstance(client, dict) or not isinstance(servers, list) or not servers:
            raise KitError(f"{path} needs 'client' and 'servers' sections; is this a site kit?")
        server = servers[0]
        startup = root / "startup"
        return cls(
            root=root,
            project_name=str(data.get("project_name", "")),
            name=str(_require(client, "name", path)),
            org=str(client.get("org", "")),
            server_identity=str(_require(server, "identity", path)),
            host=str(server.get("host", "localhost")),
            fed_learn_port=int(_require(server, "fed_learn_port", path)),
            tls=TlsFiles(
                cert=startup / client.get("ssl_cert", "client.crt"),
                key=startup / client.get("ssl_private_key", "client.key"),
                ca=startup / client.get("ssl_root_cert", "rootCA.pem"),
            ),
            job_limits=_limits(JobLimits, client.get("job_limits"), path),
            job_process_limits=_limits(ProcessLimits, client.get("job_process_limits"), path),
        )
