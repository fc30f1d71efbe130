"""FLARE's job definition rules; every failure says what is wrong and what to do."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.jobdef.code import job_code

SERVER = "server"
ALL_SITES = "@ALL"
SERVER_CONFIG = "config_fed_server.json"
CLIENT_CONFIG = "config_fed_client.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class JobDefinitionError(ValueError):
    """The job folder breaks a rule; the message names the rule and the fix."""


@dataclass
class JobDefinition:
    name: str
    deploy_map: dict[str, list[str]]
    min_clients: int
    mandatory_clients: list[str]
    resource_spec: dict[str, Any]
    apps: list[str] = field(default_factory=list)
    has_custom_code: bool = False
    deploys_to_server: bool = False
    sites: list[str] = field(default_factory=list)
    all_sites: bool = False
    task_timeout: float | None = None  # seconds a round waits for a site's result

    def meta_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": self.name,
            "deploy_map": self.deploy_map,
            "min_clients": self.min_clients,
            "resource_spec": self.resource_spec,
        }
        if self.mandatory_clients:  # FLARE's meta has the key only when meta.json names some
            fields["mandatory_clients"] = self.mandatory_clients
        if self.task_timeout is not None:
            fields["task_timeout"] = self.task_timeout
        return fields


def _load_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobDefinitionError(f"{what} is missing: add {path.name}") from None
    except IsADirectoryError:
        raise JobDefinitionError(f"{what} is a folder; it must be a JSON file") from None
    except OSError as exc:
        raise JobDefinitionError(f"{what} cannot be read ({exc.strerror or exc}); check its permissions") from None
    except UnicodeDecodeError:
        raise JobDefinitionError(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JobDefinitionError(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise JobDefinitionError(f"{what} must hold a JSON object, not {type(data).__name__}")
    return data


def _deploy_map(meta: dict[str, Any]) -> dict[str, list[str]]:
    deploy_map = meta.get("deploy_map")
    if not isinstance(deploy_map, dict) or not deploy_map:
        raise JobDefinitionError(
            "meta.json: deploy_map must be a non-empty object of app name -> list of targets, "
            'e.g. {"app": ["server", "@ALL"]}'
        )
    for app, targets in deploy_map.items():
        if not _SAFE_NAME.match(app):
            raise JobDefinitionError(f"meta.json: deploy_map app name {app!r} is not a plain folder name")
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) and t for t in targets):
            raise JobDefinitionError(
                f"meta.json: deploy_map[{app!r}] must be a non-empty list of site names, 'server' or '@ALL'"
            )
        for target in targets:
            # Site names travel in command lines and paths: a comma or slash would split or escape them.
            if target not in (SERVER, ALL_SITES) and not _SAFE_NAME.match(target):
                raise JobDefinitionError(
                    f"meta.json: deploy_map[{app!r}] names {target!r}, which is not a site name "
                    "(letters, digits, '.', '_', '-', '@'); use the site's name as provisioned"
                )
    return deploy_map


def _check_sites_once(deploy_map: dict[str, list[str]]) -> list[str]:
    owner: dict[str, str] = {}
    for app, targets in deploy_map.items():
        for target in targets:
            if target in owner and owner[target] != app:
                raise JobDefinitionError(
                    f"meta.json: {target!r} is deployed by both {owner[target]!r} and {app!r}; "
                    "each target runs one app"
                )
            owner[target] = app
    return [t for t in owner if t not in (SERVER, ALL_SITES)]


def _check_counts(meta: dict[str, Any], sites: list[str], all_sites: bool) -> tuple[int, list[str]]:
    min_clients = meta.get("min_clients", 1 if (sites or all_sites) else 0)
    if isinstance(min_clients, bool) or not isinstance(min_clients, int) or min_clients < 0:
        raise JobDefinitionError(f"meta.json: min_clients must be an integer >= 0, not {min_clients!r}")
    if not all_sites and min_clients > len(sites):
        raise JobDefinitionError(
            f"meta.json: min_clients is {min_clients} but deploy_map names only {len(sites)} site(s); "
            "lower min_clients or deploy to more sites"
        )
    mandatory = meta.get("mandatory_clients", []) or []
    if not isinstance(mandatory, list) or not all(isinstance(m, str) for m in mandatory):
        raise JobDefinitionError("meta.json: mandatory_clients must be a list of site names")
    if not all_sites:
        missing = sorted(set(mandatory) - set(sites))
        if missing:
            raise JobDefinitionError(
                f"meta.json: mandatory client(s) {', '.join(missing)} are not in deploy_map; add them there"
            )
    return min_clients, mandatory


def _job_root(folder: Path | str) -> Path:
    if isinstance(folder, str) and not folder.strip():
        raise JobDefinitionError("no job folder given; pass the folder that holds meta.json")
    path = Path(folder)
    if not path.is_dir():
        raise JobDefinitionError(f"{folder} is not a folder; pass the folder that holds meta.json")
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise JobDefinitionError(f"{folder} is the file system root, not a job folder")
    return path


def _check_app_folder(folder: Path, app: str) -> Path:
    app_dir = folder / app
    if not app_dir.is_dir():
        raise JobDefinitionError(
            f"app folder {app!r} named in deploy_map does not exist in the job folder; "
            f"add {app}/ or fix deploy_map"
        )
    if not app_dir.resolve().is_relative_to(folder.resolve()):
        raise JobDefinitionError(f"app folder {app!r} is a link out of the job folder; copy the app in")
    return app_dir


def validate_job_folder(folder: Path | str) -> JobDefinition:
    """Check a job folder against FLARE's rules; read-only: it never writes or creates anything."""
    folder = _job_root(folder)
    meta = _load_json_object(folder / "meta.json", "meta.json")
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise JobDefinitionError("meta.json: name must be a non-empty string")
    deploy_map = _deploy_map(meta)
    sites = _check_sites_once(deploy_map)
    all_sites = any(ALL_SITES in targets for targets in deploy_map.values())
    min_clients, mandatory = _check_counts(meta, sites, all_sites)
    task_timeout = meta.get("task_timeout")
    if task_timeout is not None and (isinstance(task_timeout, bool) or not isinstance(task_timeout, int | float)
                                     or task_timeout <= 0):
        raise JobDefinitionError(f"meta.json: task_timeout must be a positive number of seconds, not {task_timeout!r}")
    resource_spec = meta.get("resource_spec")
    resource_spec = {} if resource_spec is None else resource_spec
    if not isinstance(resource_spec, dict):
        raise JobDefinitionError("meta.json: resource_spec must be an object")
    # As in FLARE, @ALL takes in the server too unless another app names it.
    server_named = any(SERVER in targets for targets in deploy_map.values())
    for app, targets in deploy_map.items():
        app_dir = _check_app_folder(folder, app)
        if SERVER in targets or (ALL_SITES in targets and not server_named):
            _load_json_object(app_dir / "config" / SERVER_CONFIG, f"{app}/config/{SERVER_CONFIG}")
        if any(t != SERVER for t in targets):
            _load_json_object(app_dir / "config" / CLIENT_CONFIG, f"{app}/config/{CLIENT_CONFIG}")
    # Any code anywhere in the job, not only in custom/ (see jobdef/code.py).
    has_custom = bool(job_code(folder))
    return JobDefinition(
        name=name,
        deploy_map=deploy_map,
        min_clients=min_clients,
        mandatory_clients=mandatory,
        resource_spec=resource_spec,
        apps=list(deploy_map),
        has_custom_code=has_custom,
        deploys_to_server=server_named or all_sites,
        sites=sites,
        all_sites=all_sites,
        task_timeout=None if task_timeout is None else float(task_timeout),
    )
