"""Project files (YAML or JSON, FLARE's shape), checked with messages that say what to fix.

Every error names the file, the participant (when there is one), what is wrong and what to
do, because the person reading it is editing a project file by hand.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

ROLES = ("project_admin", "org_admin", "lead", "member")
DEFAULT_HOST = "localhost"
DEFAULT_FED_LEARN_PORT = 8002
DEFAULT_ADMIN_PORT = 8003

# Names become folder names (and certificate CNs): a leading letter/digit rules out ".", ".."
# and hidden folders; the character set rules out path separators and shell surprises.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_SAFE_RULE = "must start with a letter or digit and hold only letters, digits and . _ @ -"
# Files provisioning writes next to the participant folders inside prod_NN.
RESERVED_NAMES = frozenset({"project.yml"})
_SERVER_ONLY_KEYS = ("host", "fed_learn_port", "admin_port")


class ProjectFileError(ValueError):
    """A project file that cannot be provisioned; the message says what to change."""


class ParticipantType(StrEnum):
    SERVER = "server"
    CLIENT = "client"
    ADMIN = "admin"


@dataclass(frozen=True)
class Participant:
    name: str
    type: ParticipantType
    org: str
    role: str | None = None
    host: str = DEFAULT_HOST
    fed_learn_port: int = DEFAULT_FED_LEARN_PORT
    admin_port: int = DEFAULT_ADMIN_PORT


@dataclass(frozen=True)
class Project:
    name: str
    participants: list[Participant] = field(default_factory=list)

    @property
    def server(self) -> Participant:
        # load_project guarantees exactly one; a hand-built Project may not have it.
        for p in self.participants:
            if p.type is ParticipantType.SERVER:
                return p
        raise LookupError(f"project {self.name!r} has no server participant")

    @property
    def clients(self) -> list[Participant]:
        return [p for p in self.participants if p.type is ParticipantType.CLIENT]

    @property
    def admins(self) -> list[Participant]:
        return [p for p in self.participants if p.type is ParticipantType.ADMIN]


def _port(value: Any, where: str, key: str) -> int:
    # bool is an int subclass: "admin_port: yes" must not become port 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ProjectFileError(
            f"{where}: {key} must be an integer port 1..65535, not {value!r}; write it as a bare number"
        )
    return value


def _host(value: Any, where: str) -> str:
    if isinstance(value, str) and value:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            if len(value) <= 253 and _HOST_NAME.match(value):
                return value
    raise ProjectFileError(
        f"{where}: host must be a DNS name or IP address the sites and admins can reach, not {value!r}"
    )


def _participant(raw: Any, index: int, path: Path) -> Participant:
    where = f"{path}: participant #{index + 1}"
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{where} must be a mapping with name, type and org, not {raw!r}")
    if "name" not in raw:
        raise ProjectFileError(f"{where}: name is missing; give every participant a unique name")
    name = raw["name"]
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ProjectFileError(f"{where}: name {name!r} cannot be a folder name; a name {_SAFE_RULE}")
    where = f"{path}: participant {name!r}"
    if name in RESERVED_NAMES:
        raise ProjectFileError(f"{where}: this name is reserved for a file provisioning writes; rename it")
    try:
        kind = ParticipantType(raw.get("type"))
    except ValueError:
        raise ProjectFileError(
            f"{where}: type must be server, client or admin, not {raw.get('type')!r}"
        ) from None
    org = raw.get("org")
    if not isinstance(org, str) or not org.strip():
        raise ProjectFileError(f"{where}: org is required (the organisation written into its certificate)")
    role = raw.get("role")
    if kind is ParticipantType.ADMIN:
        if role not in ROLES:
            raise ProjectFileError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
    elif role is not None:
        # The server tells admin certificates from others by the role in the subject, so a
        # site or server certificate must never carry one.
        raise ProjectFileError(f"{where}: only admin participants have a role; remove role from this {kind}")
    if kind is not ParticipantType.SERVER:
        misplaced = [key for key in _SERVER_ONLY_KEYS if key in raw]
        if misplaced:
            raise ProjectFileError(
                f"{where}: {', '.join(misplaced)} belong(s) to the server participant only; "
                f"move them to the server entry or remove them"
            )
        return Participant(name, kind, org, role)
    host = _host(raw.get("host", DEFAULT_HOST), where)
    fed = _port(raw.get("fed_learn_port", DEFAULT_FED_LEARN_PORT), where, "fed_learn_port")
    admin = _port(raw.get("admin_port", DEFAULT_ADMIN_PORT), where, "admin_port")
    if fed == admin:
        raise ProjectFileError(f"{where}: fed_learn_port and admin_port must differ (both {fed}); pick two ports")
    return Participant(name, kind, org, None, host, fed, admin)


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(f"project file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise ProjectFileError(f"project file {path} is a folder; give the path of the .yml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectFileError(f"project file {path} cannot be read: {exc}") from None
    try:
        # YAML also reads JSON, so any other suffix is tried as YAML.
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ProjectFileError(f"{path} cannot be parsed: {exc}") from None


def _check_unique(participants: list[Participant], path: Path) -> None:
    # Compared case-insensitively: on macOS/Windows "Site-1" and "site-1" are the same folder.
    seen: dict[str, str] = {}
    for p in participants:
        key = p.name.casefold()
        if key in seen:
            same = "" if seen[key] == p.name else f" (same folder as {seen[key]!r} ignoring case)"
            raise ProjectFileError(
                f"{path}: participant name {p.name!r} appears twice{same}; names must be unique"
            )
        seen[key] = p.name


def load_project(path: str | Path) -> Project:
    """Read and check a project file; raises ProjectFileError with a message that says what to fix."""
    path = Path(path)
    data = _parse(path)
    if not isinstance(data, dict):
        raise ProjectFileError(f"{path} must hold a mapping with 'name' and 'participants'")
    if "name" not in data:
        raise ProjectFileError(f"{path}: the project name is missing; add e.g. 'name: example_project'")
    name = data["name"]
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ProjectFileError(f"{path}: project name {name!r} cannot be a folder name; a name {_SAFE_RULE}")
    raw_participants = data.get("participants")
    if not isinstance(raw_participants, list) or not raw_participants:
        raise ProjectFileError(f"{path}: participants must be a non-empty list of server, clients and admins")
    participants = [_participant(raw, i, path) for i, raw in enumerate(raw_participants)]
    _check_unique(participants, path)
    servers = [p.name for p in participants if p.type is ParticipantType.SERVER]
    if not servers:
        raise ProjectFileError(f"{path}: a project needs exactly one server participant, found none; add one")
    if len(servers) > 1:
        raise ProjectFileError(
            f"{path}: a project needs exactly one server participant, found {len(servers)} "
            f"({', '.join(map(repr, servers))}); keep one"
        )
    return Project(name, participants)
