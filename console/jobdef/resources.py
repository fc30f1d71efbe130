"""FLARE 2.9's rules for a job's ``resource_spec`` and ``launcher_spec`` (meta.json).

Source: ``JobMetaValidator._validate_resource`` / ``_validate_launcher_spec`` and
``nvflare.utils.job_launcher_utils`` (portable resources, the Docker options a job may set).
flare-console stores both as given; it has no resource manager and no Docker, K8s or Slurm
launcher, so every job runs as a process (docs/compatibility.md says so). Each rule raises
``ValueError`` with FLARE's reason; the caller turns it into a job definition error.
"""

from __future__ import annotations

import re
from typing import Any

LAUNCHER_MODES = ("process", "docker", "k8s", "slurm")
PORTABLE_DEFAULT = "@default"
PORTABLE_KEYS = ("num_of_gpus", "num_of_cpus", "memory")
DOCKER_KEYS = ("image", "python_path", "entrypoint", "num_of_gpus", "shm_size")
_MEMORY = re.compile(r"^([1-9][0-9]*)(Mi|Gi|Ti)$")
_SHM_SIZE = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:[bB]|[kKmMgG](?:[bB])?)?$")


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _check_portable(spec: dict[str, Any], label: str) -> None:
    if "num_of_gpus" in spec and not _is_count(spec["num_of_gpus"], 0):
        raise ValueError(f"{label}.num_of_gpus must be an integer greater than or equal to 0")
    if "num_of_cpus" in spec and not _is_count(spec["num_of_cpus"], 1):
        raise ValueError(f"{label}.num_of_cpus must be an integer greater than or equal to 1")
    if "memory" in spec and not (isinstance(spec["memory"], str) and _MEMORY.fullmatch(spec["memory"])):
        raise ValueError(f"{label}.memory must be a positive integer followed by Mi, Gi, or Ti")


def _docker_value_ok(key: str, value: Any) -> bool:
    if key == "image":
        return value is None or isinstance(value, str)
    if key == "python_path":
        return isinstance(value, str) and bool(value)
    if key == "entrypoint":
        if isinstance(value, str):
            return bool(value)
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    if key == "num_of_gpus":
        return _is_count(value, 0)
    # shm_size: bytes as an integer, or a size string such as "2g".
    return _is_count(value, 0) or (isinstance(value, str) and bool(_SHM_SIZE.fullmatch(value)))


def _check_docker(spec: Any, label: str) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"{label} must be a dict")
    unsupported = sorted(set(spec) - set(DOCKER_KEYS), key=str)
    if unsupported:
        raise ValueError(f"{label} contains unsupported job-controlled Docker option(s) {unsupported}; "
                         f"allowed options: {sorted(DOCKER_KEYS)}")
    for key, value in spec.items():
        if not _docker_value_ok(key, value):
            raise ValueError(f"{label} field '{key}' has an invalid value {value!r}")


def check_resource_spec(resource_spec: Any) -> dict[str, Any]:
    """``resource_spec`` as FLARE checks it: absent/null, or ``{site or @default: {...}}``.

    Returns the spec (``{}`` when absent). Raises ValueError naming the bad entry.
    """
    if resource_spec is None:
        return {}
    if not isinstance(resource_spec, dict):
        raise ValueError("resource_spec must be an object of site name -> resources")
    for site, spec in resource_spec.items():
        if not isinstance(spec, dict):
            raise ValueError(f"resource_spec[{site!r}] must be an object, e.g. {{\"num_of_gpus\": 1}}")
        if spec.get("docker") is not None:
            _check_docker(spec["docker"], f"resource_spec['{site}']['docker']")
    default = resource_spec.get(PORTABLE_DEFAULT)
    if default is not None:
        unknown = sorted(set(default) - set(PORTABLE_KEYS))
        if unknown:
            raise ValueError(f"resource_spec['{PORTABLE_DEFAULT}'] contains unsupported field(s): {unknown}")
        _check_portable(default, f"resource_spec['{PORTABLE_DEFAULT}']")
    for site, spec in resource_spec.items():
        if site == PORTABLE_DEFAULT:
            continue
        nested = any(mode in spec for mode in LAUNCHER_MODES)
        if nested and default is None:
            continue  # FLARE keeps the legacy nested form unchecked unless @default opts in
        _check_portable(spec.get("process") or {} if nested else spec, f"resource_spec['{site}']")
    return resource_spec


def check_launcher_spec(launcher_spec: Any) -> None:
    """``launcher_spec``: absent, or ``{site or default: {mode: {...}}}`` with FLARE's four modes."""
    if launcher_spec is None:
        return
    if not isinstance(launcher_spec, dict):
        raise ValueError("launcher_spec must be an object of site name -> launcher modes")
    for site, modes in launcher_spec.items():
        if not isinstance(modes, dict):
            raise ValueError(f"launcher_spec[{site!r}] must be an object")
        for mode, spec in modes.items():
            if mode not in LAUNCHER_MODES:
                raise ValueError(f"launcher_spec[{site!r}] contains unknown launcher mode {mode!r}; "
                                 f"valid modes: {sorted(LAUNCHER_MODES)}")
            if not isinstance(spec, dict):
                raise ValueError(f"launcher_spec[{site!r}][{mode!r}] must be an object")
            if mode == "docker":
                _check_docker(spec, f"launcher_spec['{site}']['docker']")


__all__ = ["check_launcher_spec", "check_resource_spec"]
