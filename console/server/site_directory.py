"""The sites the server knows when they are not connected: each one's org, and the disabled list.

Rights scoped to a site's org (``o:site``) need that org also while the site is away; guessing
(the server's own org) let a lead of the server's org disable another org's offline site, and
made-up names filled the disabled list. A site's org comes from, first to last:

- the server kit's ``startup/sites.json`` (``{"sites": {name: org}}``), written by provisioning
  with every site of the project;
- the org in the certificate of a site seen at login (``site_orgs.json`` beside the job store): a
  site provisioned after the server's kit still has a certificate of the same root CA;
- the org stored with a disabled entry (``disabled_sites.json``, ``{name: org}``; an entry of an
  older server, a bare name, has none: only an unscoped right may enable it).

A name known by none of these is no site of the project. Owns only these files; sites.py
decides who connects, the command handlers who may change what.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from console.provision.kits import KIT_SITES_FILE

log = logging.getLogger("console.server.sites")

#: Disabled entries kept at most per org: one org's admins cannot crowd out another's.
MAX_DISABLED_PER_ORG = 1024
#: Sites seen at login kept at most (each holds a certificate of this project, so this is generous).
MAX_SEEN_SITES = 65536


def _read(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{path} ({what}) cannot be read ({exc}); fix or delete it") from None


def _write(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def _names_to_orgs(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    return {name: org for name, org in data.items() if isinstance(name, str) and isinstance(org, str)}


class SiteDirectory:
    """Orgs of the project's sites and the disabled list; ``kit_root``: the server's kit folder,
    ``state``: the folder beside the job store where what the server learns is kept."""

    def __init__(self, kit_root: Path, state: Path) -> None:
        kit_file = kit_root / "startup" / KIT_SITES_FILE
        listed = _read(kit_file, "the project's sites")
        self.provisioned = _names_to_orgs(listed.get("sites") if isinstance(listed, dict) else None)
        if listed is None:
            log.info("%s is missing (a kit from before it existed): a site's org is known once it has "
                     "connected", kit_file)
        self._seen_file = state / "site_orgs.json"
        self.seen = _names_to_orgs(_read(self._seen_file, "orgs of the sites seen"))
        #: Disabled site -> its org ("" when not known: only an unscoped right may enable it).
        self.disabled: dict[str, str] = {}
        self._disabled_file = state / "disabled_sites.json"
        disabled = _read(self._disabled_file, "the disabled sites")
        if isinstance(disabled, list):  # an older server's: names only
            disabled = {name: self.org_of(name) or "" for name in disabled if isinstance(name, str)}
        self.disabled = _names_to_orgs(disabled)

    def org_of(self, name: str) -> str | None:
        """The org of site ``name`` as provisioned, as last seen at login, or as stored when it was
        disabled; None for a name that is no known site."""
        for source in (self.provisioned, self.seen):
            if name in source:
                return source[name]
        return self.disabled.get(name) or None

    def known(self) -> list[str]:
        return sorted({*self.provisioned, *self.seen})

    def saw(self, name: str, org: str) -> None:
        """A site logged in with a certificate of ``org``: remembered (and kept) when it is news."""
        if self.seen.get(name) == org or (name in self.provisioned and self.provisioned[name] == org):
            return
        if name not in self.seen and len(self.seen) >= MAX_SEEN_SITES:
            return
        self.seen[name] = org
        _write(self._seen_file, self.seen)

    def disabled_in(self, org: str) -> int:
        return sum(1 for entry in self.disabled.values() if entry == org)

    def set_disabled(self, name: str, disabled: bool, org: str = "") -> bool:
        """Turn a site away (``org``: its org) or let it in again, surviving restarts; whether it
        was disabled before."""
        was = name in self.disabled
        if disabled:
            self.disabled[name] = org
        else:
            self.disabled.pop(name, None)
        _write(self._disabled_file, self.disabled)
        return was
