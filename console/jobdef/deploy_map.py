"""A job's deploy_map read as FLARE 2.9 reads it: which app goes to the server and to which sites.

FLARE accepts several forms for one app's targets (``fed_utils.extract_participants``):
``["server", "site-1"]``, ``"site-1"``, ``{"targets": [...]}``, ``{"sites": [...]}`` and lists
mixing names with such dicts; ``@ALL`` is matched in any case. Everything that reads a stored
deploy_map (validation, the scheduler, the runner, the log relay) goes through :func:`app_targets`,
so the forms are understood the same way everywhere; :func:`server_app_name` and :func:`site_apps`
say which app the server and each site run. The stored meta keeps the form the user wrote, as
FLARE's does.
"""

from __future__ import annotations

from typing import Any

SERVER = "server"
ALL_SITES = "@ALL"
_TARGET_KEYS = ("targets", "sites")


class DeployMapError(ValueError):
    """A deploy_map entry that is none of FLARE's forms; the message says which and why."""


def is_all_sites(target: str) -> bool:
    """``@ALL`` in any case, as FLARE's validator (casefold) and scheduler (upper) match it."""
    return target.casefold() == ALL_SITES.casefold()


def participants(app: str, deployments: Any) -> list[str]:
    """The target names of one app, in the order written (FLARE's ``extract_participants``).

    Raises DeployMapError for a form FLARE refuses, and for a target that is not a string
    (FLARE fails on those later with an internal error instead).
    """
    if isinstance(deployments, str):
        deployments = [deployments]
    elif isinstance(deployments, dict):
        key = next((k for k in _TARGET_KEYS if k in deployments), None)
        if key is None:
            raise DeployMapError(
                f"deploy_map[{app!r}] is an object without 'targets' or 'sites' (it has {sorted(deployments)})")
        deployments = deployments[key]
    if not isinstance(deployments, list):
        raise DeployMapError(f"deploy_map[{app!r}] must be a list, a name, or an object with 'targets' or "
                             f"'sites', not {type(deployments).__name__}")
    names: list[Any] = []
    for item in deployments:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            unknown = sorted(set(item) - set(_TARGET_KEYS))
            if unknown:
                raise DeployMapError(f"deploy_map[{app!r}] has an entry with unknown key(s) {unknown}; "
                                     "the keys are 'sites' and 'targets'")
            sites = item.get("sites", item.get("targets"))
            if not isinstance(sites, list):
                raise DeployMapError(f"deploy_map[{app!r}]: the 'sites'/'targets' of an entry must be a list")
            names.extend(sites)
        else:
            raise DeployMapError(f"deploy_map[{app!r}] entries must be names or objects, not "
                                 f"{type(item).__name__}")
    for name in names:
        if not isinstance(name, str):
            raise DeployMapError(f"deploy_map[{app!r}] names {name!r}, which is not a string")
    return names


def app_targets(deploy_map: dict[str, Any]) -> dict[str, list[str]]:
    """Each app's targets as plain names, ``@ALL`` spelled upper case; the forms as in
    :func:`participants`. Raises DeployMapError."""
    return {app: [ALL_SITES if is_all_sites(t) else t for t in participants(app, deployments)]
            for app, deployments in deploy_map.items()}


def server_app_name(deploy_map: dict[str, Any]) -> str | None:
    """The app the server runs: the one naming ``server``, else the one with ``@ALL`` (as in FLARE)."""
    targets_of = app_targets(deploy_map)
    for wanted in (SERVER, ALL_SITES):
        for app, targets in targets_of.items():
            if wanted in targets:
                return app
    return None


def site_apps(deploy_map: dict[str, Any], sites: list[str]) -> dict[str, str]:
    """Which app each site runs (``@ALL`` covers the sites not named elsewhere)."""
    chosen: dict[str, str] = {}
    targets_of = app_targets(deploy_map)
    for app, targets in targets_of.items():
        for target in targets:
            if target not in (SERVER, ALL_SITES):
                chosen[target] = app
    for app, targets in targets_of.items():
        if ALL_SITES in targets:
            for site in sites:
                chosen.setdefault(site, app)
    return {site: chosen[site] for site in sites if site in chosen}


__all__ = ["ALL_SITES", "SERVER", "DeployMapError", "app_targets", "is_all_sites", "participants", "server_app_name",
           "site_apps"]
