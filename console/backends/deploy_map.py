"""The sites a job's deploy_map names, as FLARE reads it: every target but ``server``, and ``@ALL``
for every connected site. Owns that reading for the FLARE backend's log commands (``nvflare_logs``,
``nvflare_job_logs``); asking FLARE which sites are connected stays theirs."""

from __future__ import annotations

from typing import Any


def deploy_map_sites(meta: Any) -> tuple[set[str], bool]:
    """The sites a job's meta names in its deploy_map, and whether it names @ALL (every connected site)."""
    deploy_map = meta.get("deploy_map") if isinstance(meta, dict) else None
    named: set[str] = set()
    every = False
    for targets in (deploy_map.values() if isinstance(deploy_map, dict) else []):
        for t in targets if isinstance(targets, list) else []:
            if isinstance(t, str) and t.upper() == "@ALL":
                every = True
            elif isinstance(t, str) and t != "server":
                named.add(t)
    return named, every
