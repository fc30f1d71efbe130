"""Project files (YAML or JSON, FLARE's shape), checked with messages that say what to fix.

Every error names the file, the participant (when there is one), what is wrong and what to
do, because the person reading it is editing a project file by hand. Every project file that
FLARE 2.9's provisioning accepts (``nvflare/lighter``: entity.py, provision.py) is accepted
here, but for two refusals: a site named as a target word of the console's grammar
(``RESERVED_SITE_NAMES``), and a name or org longer than a certificate holds (FLARE's
provisioning fails on those too, half-way). What flare-console cannot honour (relays, FLARE's
builders, single-port servers, custom roles...) is named in ``Project.warnings`` instead of
being refused or dropped silently.
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
# FLARE's own name rules (apis/utils/format_check.py), which a FLARE project file may rely on.
_FLARE_NAMES = {
    "server": re.compile(r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
                         r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"),
    "client": re.compile(r"^[A-Za-z0-9-_]+$"),
    "admin": re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$"),
    "relay": re.compile(r"^[A-Za-z0-9-_]+$"),
}
_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# A project name is one folder: letters, digits, spaces and . _ @ -, not starting with "." or a space.
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9 ._@-]*$")
MAX_PROJECT_NAME = 63  # FLARE truncates longer project names to this
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_SAFE_RULE = "must start with a letter or digit and hold only letters, digits and . _ @ -"
# Files provisioning writes next to the participant folders inside prod_NN.
RESERVED_NAMES = frozenset({"project.yml"})
#: Words the console's grammar uses for targets (``ls server``, ``check_status client``, ``shutdown
#: all``; ``@ALL`` in a deploy_map cannot be a name anyway): a site so named could not be addressed,
#: and ``server`` reached the real server. Compared case-insensitively. FLARE takes them; we refuse.
RESERVED_SITE_NAMES = frozenset({"server", "client", "all"})
#: RFC 5280's ub-common-name and ub-organization-name: a name is its certificate's CN and an org
#: its O, and cryptography refuses a longer CN only after the root CA was written.
MAX_CERT_NAME_CHARS = 64
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
    #: What the file asks for that flare-console does not do, one sentence each.
    warnings: list[str] = field(default_factory=list)

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


def _name_ok(name: Any, kind: str) -> bool:
    """Ours (a plain folder name) or FLARE's rule for this participant type."""
    if not isinstance(name, str) or name in (".", ".."):
        return False
    flare = _FLARE_NAMES.get(kind)
    return bool(_SAFE_NAME.match(name) or (flare is not None and flare.match(name)))


def _participant(raw: Any, index: int, path: Path, warnings: list[str]) -> Participant | None:
    """One participant, or None for an entry FLARE knows but we do not provision (warned)."""
    where = f"{path}: participant #{index + 1}"
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{where} must be a mapping with name, type and org, not {raw!r}")
    if "name" not in raw:
        raise ProjectFileError(f"{where}: name is missing; give every participant a unique name")
    name, raw_type = raw["name"], raw.get("type")
    if not _name_ok(name, raw_type if isinstance(raw_type, str) else ""):
        raise ProjectFileError(f"{where}: name {name!r} cannot be a folder name; a name {_SAFE_RULE}")
    if len(name) > MAX_CERT_NAME_CHARS:
        raise ProjectFileError(f"{where}: name {name[:24]!r}... is {len(name)} characters long; a name becomes its "
                               f"certificate's CN, which holds at most {MAX_CERT_NAME_CHARS} (RFC 5280): shorten it")
    where = f"{path}: participant {name!r}"
    if name in RESERVED_NAMES:
        raise ProjectFileError(f"{where}: this name is reserved for a file provisioning writes; rename it")
    try:
        kind = ParticipantType(raw_type)
    except ValueError:
        if isinstance(raw_type, str) and _SIMPLE_NAME.match(raw_type):
            # FLARE takes relays, old overseer entries and types its builders may know, with a warning.
            what = {"relay": "flare-console has no relays; sites connect to the server directly",
                    "overseer": "overseers are obsolete (FLARE ignores them too)"}.get(
                raw_type, f"type {raw_type!r} is not one flare-console provisions")
            warnings.append(f"participant {name!r} skipped, no kit written: {what}")
            return None
        raise ProjectFileError(
            f"{where}: type must be server, client or admin (or FLARE's relay), not {raw_type!r}"
        ) from None
    org = raw.get("org")
    if not isinstance(org, str) or not org.strip():
        raise ProjectFileError(f"{where}: org is required (the organisation written into its certificate)")
    if len(org) > MAX_CERT_NAME_CHARS or not org.isprintable():
        raise ProjectFileError(f"{where}: org must be printable text of at most {MAX_CERT_NAME_CHARS} characters "
                               f"(it is its certificate's O, RFC 5280), not {org[:80]!r}")
    if kind is ParticipantType.CLIENT and name.casefold() in RESERVED_SITE_NAMES:
        raise ProjectFileError(f"{where}: a site cannot be named {name!r}: the console's commands use "
                               f"{', '.join(sorted(RESERVED_SITE_NAMES))} for their targets (ls server, "
                               "check_status client, shutdown all); rename the site")
    role = raw.get("role")
    if kind is ParticipantType.ADMIN:
        if not isinstance(role, str) or not _SIMPLE_NAME.match(role):
            raise ProjectFileError(f"{where}: role must be one of {', '.join(ROLES)} (or a custom role of "
                                   f"letters, digits and _), not {role!r}")
        if role not in ROLES:
            warnings.append(f"admin {name!r} has the custom role {role!r}: it holds no right until the server's "
                            "local/authorization.json grants that role some")
    elif role is not None:
        # The server tells admin certificates from others by the role in the subject, so a
        # site or server certificate never carries one; FLARE ignores it here too.
        warnings.append(f"{kind} {name!r}: role {role!r} ignored; only admins have a role")
        role = None
    if kind is not ParticipantType.SERVER:
        misplaced = [key for key in _SERVER_ONLY_KEYS if key in raw]
        if misplaced:
            warnings.append(f"{kind} {name!r}: {', '.join(misplaced)} ignored; they belong to the server")
        return Participant(name, kind, org, role)
    if "host" in raw:
        host = _host(raw["host"], where)
    elif "default_host" in raw:
        host = _host(raw["default_host"], where)
    else:
        host = DEFAULT_HOST
        if "." in name:
            warnings.append(f"server {name!r}: kits point at {DEFAULT_HOST} (FLARE would use the server's name "
                            f"as its host); add host: {name} to the server to do the same")
    fed = _port(raw.get("fed_learn_port", DEFAULT_FED_LEARN_PORT), where, "fed_learn_port")
    # FLARE's default admin port is the fed_learn_port (one port); ours needs its own, so the next one.
    admin = _port(raw.get("admin_port", fed + 1 if fed < 65535 else DEFAULT_ADMIN_PORT), where, "admin_port")
    if fed == admin:
        if fed == 65535:
            raise ProjectFileError(f"{where}: fed_learn_port and admin_port are both 65535; flare-console needs "
                                   "two ports: give admin_port another")
        admin = fed + 1
        warnings.append(f"server {name!r}: fed_learn_port and admin_port are both {fed} (FLARE's single-port "
                        f"mode); flare-console serves admins on a port of their own: admin_port is {admin}")
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


def _check_unique(participants: list[Participant], path: Path, warnings: list[str]) -> None:
    seen: dict[str, str] = {}
    for p in participants:
        key = p.name.casefold()
        if p.name in seen.values():
            raise ProjectFileError(f"{path}: participant name {p.name!r} appears twice; names must be unique")
        if key in seen:
            # FLARE compares names exactly; on macOS/Windows both would be one folder.
            warnings.append(f"participants {seen[key]!r} and {p.name!r} differ only in case: their kits "
                            "collide on a case-insensitive file system (macOS, Windows)")
        seen.setdefault(key, p.name)


def load_project(path: str | Path) -> Project:
    """Read and check a project file; raises ProjectFileError with a message that says what to fix."""
    path = Path(path)
    data = _parse(path)
    if not isinstance(data, dict):
        raise ProjectFileError(f"{path} must hold a mapping with 'name' and 'participants'")
    if "name" not in data:
        raise ProjectFileError(f"{path}: the project name is missing; add e.g. 'name: example_project'")
    name = data["name"]
    warnings: list[str] = []
    if isinstance(name, str) and len(name) > MAX_PROJECT_NAME:
        warnings.append(f"project name longer than {MAX_PROJECT_NAME} characters: cut to {name[:MAX_PROJECT_NAME]!r}, "
                        "as FLARE does")
        name = name[:MAX_PROJECT_NAME]
    if not isinstance(name, str) or not (_SAFE_NAME.match(name) or _PROJECT_NAME.match(name)):
        raise ProjectFileError(f"{path}: project name {name!r} cannot be a folder name; a name {_SAFE_RULE} "
                               "(spaces too, as FLARE allows)")
    raw_participants = data.get("participants")
    if not isinstance(raw_participants, list) or not raw_participants:
        raise ProjectFileError(f"{path}: participants must be a non-empty list of server, clients and admins")
    participants = [p for i, raw in enumerate(raw_participants) if (p := _participant(raw, i, path, warnings))]
    _check_unique(participants, path, warnings)
    if data.get("builders"):
        warnings.append("builders ignored: they are FLARE's provisioning plug-ins; flare-console writes its own "
                        "kits (certificates, fed_*.json, local/authorization.json)")
    servers = [p.name for p in participants if p.type is ParticipantType.SERVER]
    if not servers:
        raise ProjectFileError(f"{path}: a project needs exactly one server participant, found none; add one")
    if len(servers) > 1:
        raise ProjectFileError(
            f"{path}: a project needs exactly one server participant, found {len(servers)} "
            f"({', '.join(map(repr, servers))}); keep one"
        )
    return Project(name, participants, warnings)
