"""Project files (YAML or JSON), as in FLARE, checked with messages that say what to fix."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

ROLES = ("project_admin", "org_admin", "lead", "member")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class ProjectFileError(ValueError):
    pass


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
    host: str = "localhost"
    fed_learn_port: int = 8002
    admin_port: int = 8003


@dataclass(frozen=True)
class Project:
    name: str
    participants: list[Participant] = field(default_factory=list)

    @property
    def server(self) -> Participant:
        return next(p for p in self.participants if p.type is ParticipantType.SERVER)

    @property
    def clients(self) -> list[Participant]:
        return [p for p in self.participants if p.type is ParticipantType.CLIENT]

    @property
    def admins(self) -> list[Participant]:
        return [p for p in self.participants if p.type is ParticipantType.ADMIN]


def _port(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ProjectFileError(f"{where}: {key} must be an integer port 1..65535, not {value!r}")
    return value


def _participant(raw: Any, index: int, path: Path) -> Participant:
    where = f"{path}: participant #{index + 1}"
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{where} must be a mapping with name, type and org")
    name = raw.get("name")
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ProjectFileError(
            f"{where}: name {name!r} must start with a letter or digit and hold only letters, digits, . _ @ -"
        )
    where = f"{path}: participant {name!r}"
    try:
        kind = ParticipantType(raw.get("type"))
    except ValueError:
        raise ProjectFileError(f"{where}: type must be server, client or admin, not {raw.get('type')!r}") from None
    org = raw.get("org")
    if not isinstance(org, str) or not org:
        raise ProjectFileError(f"{where}: org is required")
    role = raw.get("role")
    if kind is ParticipantType.ADMIN:
        if role not in ROLES:
            raise ProjectFileError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
    if kind is not ParticipantType.SERVER:
        return Participant(name, kind, org, role)
    host = raw.get("host", "localhost")
    if not isinstance(host, str) or not host:
        raise ProjectFileError(f"{where}: host must be a host name")
    fed = _port(raw.get("fed_learn_port", 8002), where, "fed_learn_port")
    admin = _port(raw.get("admin_port", 8003), where, "admin_port")
    if fed == admin:
        raise ProjectFileError(f"{where}: fed_learn_port and admin_port must differ (both {fed})")
    return Participant(name, kind, org, None, host, fed, admin)


def load_project(path: str | Path) -> Project:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ProjectFileError(f"project file {path} does not exist") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ProjectFileError(f"{path} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectFileError(f"{path} must hold a mapping with 'name' and 'participants'")
    name = data.get("name")
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ProjectFileError(f"{path}: project name {name!r} must hold only letters, digits, . _ @ -")
    raw_participants = data.get("participants")
    if not isinstance(raw_participants, list) or not raw_participants:
        raise ProjectFileError(f"{path}: participants must be a non-empty list")
    participants = [_participant(raw, i, path) for i, raw in enumerate(raw_participants)]
    seen: set[str] = set()
    for p in participants:
        if p.name in seen:
            raise ProjectFileError(f"{path}: participant name {p.name!r} appears twice; names must be unique")
        seen.add(p.name)
    servers = [p for p in participants if p.type is ParticipantType.SERVER]
    if len(servers) != 1:
        raise ProjectFileError(f"{path}: a project needs exactly one server participant, found {len(servers)}")
    return Project(name, participants)
