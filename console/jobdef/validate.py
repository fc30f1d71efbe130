"""FLARE 2.9's job definition rules; every failure says what is wrong and what to do.

The rules are FLARE's ``JobMetaValidator`` (nvflare/private/fed/server/job_meta_validator.py),
the deploy_map reading of its scheduler, and the folder checks of ``flare_api.submit_job``;
docs/compatibility.md lists each (F1..F22) and the few places where ours differs, with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import safe_json
from console.jobdef.bounds import check_meta_bounds, check_meta_size
from console.jobdef.code import job_code
from console.jobdef.deploy_map import ALL_SITES, SERVER, DeployMapError, app_targets
from console.jobdef.errors import JobDefinitionError
from console.jobdef.resources import check_launcher_spec, check_resource_spec
from console.names import PLAIN_NAME

__all__ = ["JobDefinition", "JobDefinitionError", "folder_name_problem", "validate_job_folder"]

SERVER_CONFIG = "config_fed_server.json"
CLIENT_CONFIG = "config_fed_client.json"
# FLARE's JOB_NAME_PATTERN (fuel/utils/validation_utils.py): job folder, app names and job IDs.
JOB_NAME = PLAIN_NAME
MAX_CLIENTS = 1_000_000  # FLARE's job_meta_validator.MAX_CLIENTS
# Other spellings FLARE's ConfigFactory reads (HOCON, OmegaConf YAML); ours reads JSON only.
OTHER_CONFIG_EXTS = (".conf", ".yml", ".yaml", ".json.default", ".conf.default", ".yml.default",
                     ".yaml.default")
# A site name as provisioning allows one (ours, or FLARE's client rule [A-Za-z0-9-_]+).
_SITE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._@-]*$")


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
        data = safe_json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        other = next((path.with_name(path.stem + ext) for ext in OTHER_CONFIG_EXTS
                      if path.with_name(path.stem + ext).is_file()), None)
        if other is not None:
            raise JobDefinitionError(
                f"{what} is missing; {other.name} is there, but flare-console reads JSON job files only: "
                f"convert it to {path.name}"
            ) from None
        raise JobDefinitionError(f"{what} is missing: add {path.name}") from None
    except IsADirectoryError:
        raise JobDefinitionError(f"{what} is a folder; it must be a JSON file") from None
    except OSError as exc:
        raise JobDefinitionError(f"{what} cannot be read ({exc.strerror or exc}); check its permissions") from None
    except UnicodeDecodeError:
        raise JobDefinitionError(f"{what} is not UTF-8 text") from None
    except safe_json.UnreadableJSON as exc:  # also too deep a nesting, or a number too long to read
        raise JobDefinitionError(f"{what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise JobDefinitionError(f"{what} must hold a JSON object, not {type(data).__name__}")
    return data


def _load_meta(folder: Path) -> dict[str, Any]:
    """F3: meta.json, a JSON object."""
    return _load_json_object(folder / "meta.json", "meta.json")


# --- FLARE 2.9's rules (JobMetaValidator, its scheduler and flare_api.submit_job), in FLARE's order.
# docs/compatibility.md lists them with their numbers; each rule refuses what FLARE refuses and
# lets through what FLARE lets through, unless that section says why not.

def folder_name_problem(name: str) -> str | None:
    """F2: what is wrong with a job folder's own name, as flare_api.submit_job checks it before uploading
    (None: nothing). The one rule for submitting and for the folders submit_job's completion offers."""
    if JOB_NAME.match(name):
        return None
    return (f"job folder name {name!r} contains unsupported characters; use only letters, digits, '.', '_' "
            "and '-', starting with a letter or digit, with no spaces")


def _check_folder_name(name: str) -> None:
    problem = folder_name_problem(name)
    if problem is not None:
        raise JobDefinitionError(problem)


def _check_meta_basics(meta: dict[str, Any]) -> None:
    """F3-F4: a meta that says something, and a well-formed job_id if it names one."""
    if not meta:
        raise JobDefinitionError("meta.json is empty; it needs at least a deploy_map")
    job_id = meta.get("job_id")
    if job_id and not (isinstance(job_id, str) and JOB_NAME.match(job_id)):
        raise JobDefinitionError(f"meta.json: job_id {job_id!r} is not a valid job ID; remove it (the server "
                                 "gives every job its own ID)")


def _deploy_targets(meta: dict[str, Any]) -> dict[str, list[str]]:
    """F5-F9: a non-empty object of app name -> targets in one of FLARE's forms, naming someone."""
    deploy_map = meta.get("deploy_map")
    if not deploy_map:
        raise JobDefinitionError(
            'meta.json: deploy_map is missing or empty; map each app to its targets, e.g. {"app": ["@ALL"]} '
            'or {"app": ["server", "site-1", "site-2"]}'
        )
    if not isinstance(deploy_map, dict):
        raise JobDefinitionError("meta.json: deploy_map must be an object of app name -> list of targets")
    for app in deploy_map:
        if not JOB_NAME.match(app):
            raise JobDefinitionError(
                f"meta.json: deploy_map app name {app!r} is not a plain folder name (letters, digits, '.', '_', "
                "'-', starting with a letter or digit)"
            )
    try:
        targets = app_targets(deploy_map)
    except DeployMapError as exc:
        raise JobDefinitionError(f"meta.json: {exc}") from None
    if not any(targets.values()):
        raise JobDefinitionError("meta.json: deploy_map names no target; add \"@ALL\" or the server and sites")
    return targets


def _check_target_set(targets: dict[str, list[str]]) -> bool:
    """F10-F12: @ALL alone, else the server named, else each target in one app only. True for @ALL."""
    named = [t for app_list in targets.values() for t in app_list]
    if ALL_SITES in named:
        if len(named) > 1:
            raise JobDefinitionError(
                'meta.json: deploy_map uses "@ALL", so it can name no other target (not even "server": '
                '@ALL takes in the server and every site); use {"app": ["@ALL"]} alone, or name the server '
                "and each site instead"
            )
        return True
    if SERVER not in named:
        raise JobDefinitionError(
            'meta.json: the server is missing from deploy_map; add "server" to the app it runs '
            '(e.g. {"app": ["server", "site-1"]}), or deploy with ["@ALL"]'
        )
    twice = sorted({t for t in named if named.count(t) > 1})
    if twice:
        raise JobDefinitionError(
            f"meta.json: {', '.join(repr(t) for t in twice)} deployed more than once; each target runs one app"
        )
    return False


def _check_min_clients(meta: dict[str, Any], sites: list[str], all_sites: bool) -> int | None:
    """F16: min_clients, when given: an integer (or one written as text) in 1..1,000,000, and no more
    than the sites named unless @ALL. FLARE converts with int(); the converted value is kept."""
    value = meta.get("min_clients")
    if value is None:
        return None
    try:
        min_clients = int(value)
    except (TypeError, ValueError, OverflowError):
        raise JobDefinitionError(f"meta.json: min_clients must be a whole number, not {value!r}") from None
    if min_clients <= 0:
        raise JobDefinitionError(f"meta.json: min_clients is {min_clients}; it must be positive (at least 1)")
    if min_clients > MAX_CLIENTS:
        raise JobDefinitionError(f"meta.json: min_clients is {min_clients}; it must be less than {MAX_CLIENTS}")
    if not all_sites and len(sites) < min_clients:
        raise JobDefinitionError(
            f"meta.json: min_clients is {min_clients} but deploy_map names only {len(sites)} site(s); "
            "lower min_clients or deploy to more sites"
        )
    return min_clients


def _check_mandatory(meta: dict[str, Any], sites: list[str], all_sites: bool) -> list[str]:
    """F20: mandatory_clients must be deployed to (any list passes with @ALL)."""
    mandatory = meta.get("mandatory_clients") or []
    if not isinstance(mandatory, list) or not all(isinstance(m, str) for m in mandatory):
        raise JobDefinitionError("meta.json: mandatory_clients must be a list of site names")
    missing = sorted(set(mandatory) - set(sites))
    if missing and not all_sites:
        raise JobDefinitionError(
            f"meta.json: mandatory client(s) {', '.join(missing)} are not in deploy_map; add them there"
        )
    return mandatory


def _check_specs(meta: dict[str, Any]) -> dict[str, Any]:
    """F17-F18: resource_spec and launcher_spec (console.jobdef.resources)."""
    try:
        resource_spec = check_resource_spec(meta.get("resource_spec"))
        check_launcher_spec(meta.get("launcher_spec"))
    except ValueError as exc:
        raise JobDefinitionError(f"meta.json: {exc}") from None
    return resource_spec


# --- flare-console's own rules, beyond FLARE's --------------------------------------------------

def _check_site_names(targets: dict[str, list[str]]) -> list[str]:
    """Site names as provisioning allows them: they travel in command lines and paths, where a
    comma or slash would split or escape them. FLARE accepts any string here and the job then
    waits for a site that cannot exist; ours says so at submit."""
    sites: list[str] = []
    for app, names in targets.items():
        for target in names:
            if target in (SERVER, ALL_SITES):
                continue
            if not _SITE_NAME.match(target):
                raise JobDefinitionError(
                    f"meta.json: deploy_map[{app!r}] names {target!r}, which is not a site name "
                    "(letters, digits, '.', '_', '-', '@'); use the site's name as provisioned"
                )
            sites.append(target)
    return sites


def _task_timeout(meta: dict[str, Any]) -> float | None:
    """Ours: how long a site may take over one task, in seconds (not a FLARE meta key)."""
    task_timeout = meta.get("task_timeout")
    if task_timeout is not None and (isinstance(task_timeout, bool) or not isinstance(task_timeout, int | float)
                                     or task_timeout <= 0):
        raise JobDefinitionError(f"meta.json: task_timeout must be a positive number of seconds, not {task_timeout!r}")
    return None if task_timeout is None else float(task_timeout)


def _job_name(meta: dict[str, Any], folder_name: str) -> str:
    """FLARE does not require a name; ours lists jobs by name, so a missing or blank one is the
    folder's. A name that is not text is refused (FLARE takes it, and its list_jobs -n then fails)."""
    name = meta.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        return folder_name
    if not isinstance(name, str):
        raise JobDefinitionError(f"meta.json: name must be text, not {name!r} (or left out: the folder's name)")
    return name


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
    if not (app_dir / "config").is_dir():
        raise JobDefinitionError(f"app {app!r} has no config/ folder; add {app}/config/ with the app's configs")
    return app_dir


def validate_job_folder(folder: Path | str, folder_name: str | None = None) -> JobDefinition:
    """Check a job folder against FLARE 2.9's rules; read-only: it never writes or creates anything.

    ``folder_name`` is the name the user gave the folder (the server validates an extracted copy
    under a scratch name). Raises JobDefinitionError naming the rule broken and the fix.
    """
    folder = _job_root(folder)
    folder_name = folder_name or folder.resolve().name
    _check_folder_name(folder_name)
    check_meta_size(folder / "meta.json")
    meta = _load_meta(folder)
    check_meta_bounds(meta)  # lengths and characters of what gets stored (jobdef/bounds.py)
    _check_meta_basics(meta)
    targets = _deploy_targets(meta)
    all_sites = _check_target_set(targets)
    sites = _check_site_names(targets)
    for app, app_list in targets.items():  # F13-F15
        app_dir = _check_app_folder(folder, app)
        if SERVER in app_list or ALL_SITES in app_list:
            _load_json_object(app_dir / "config" / SERVER_CONFIG, f"{app}/config/{SERVER_CONFIG}")
        if any(t != SERVER for t in app_list):
            _load_json_object(app_dir / "config" / CLIENT_CONFIG, f"{app}/config/{CLIENT_CONFIG}")
    # F21, read wider: any code anywhere in the job, not only in custom/ (see jobdef/code.py).
    has_custom = bool(job_code(folder))
    min_clients = _check_min_clients(meta, sites, all_sites)
    task_timeout = _task_timeout(meta)
    resource_spec = _check_specs(meta)
    mandatory = _check_mandatory(meta, sites, all_sites)
    if min_clients is None:
        min_clients = 1 if (sites or all_sites) else 0
    return JobDefinition(
        name=_job_name(meta, folder_name),
        deploy_map=meta["deploy_map"],
        min_clients=min_clients,
        mandatory_clients=mandatory,
        resource_spec=resource_spec,
        apps=list(targets),
        has_custom_code=has_custom,
        deploys_to_server=True,
        sites=sites,
        all_sites=all_sites,
        task_timeout=task_timeout,
    )
