"""Length and character bounds of every job field that is stored or shown, checked before anything
is stored.

A field from a job folder or the wire ends up in the job store, in every ``list_jobs``, in the
status pushes to every session and on admins' terminals. Unbounded, one 2 MB job name made a
status push larger than a frame and wedged the scheduler; a 50 MB ``meta.json`` slowed every
listing. Each bound here says what was too long and what to do.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from console.jobdef.errors import JobDefinitionError
from console.joiners import joiner_in_context

#: ``meta.json`` larger than this is refused before it is parsed.
MAX_META_BYTES = 64 << 10
MAX_NAME_CHARS = 256
MAX_SITE_NAME_CHARS = 128
MAX_APPS = 64
MAX_TARGETS = 1024
#: ``resource_spec`` as compact JSON.
MAX_RESOURCE_SPEC_BYTES = 16 << 10
#: The job folder's name, kept as ``job_folder_name``.
MAX_FOLDER_NAME_CHARS = 255


def unprintable(text: str) -> str | None:
    """The first character of ``text`` that is not printable text (controls, line and paragraph
    separators, bidi overrides and other format characters, a joiner out of the context that needs it:
    ``console.joiners``), as ``U+XXXX``; None if there is none."""
    for at, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") \
                and not joiner_in_context(text, at):  # (ZWJ/ZWNJ that emoji and some scripts need)
            return f"U+{ord(char):04X}"
    return None


def check_text(value: str, what: str, max_chars: int) -> None:
    """``value`` is at most ``max_chars`` long and printable; JobDefinitionError naming ``what`` otherwise."""
    if len(value) > max_chars:
        raise JobDefinitionError(f"{what} is {len(value)} characters long; the limit is {max_chars}, shorten it")
    bad = unprintable(value)
    if bad:
        raise JobDefinitionError(f"{what} holds the control or format character {bad}; use printable text only")


def check_meta_size(path: Path) -> None:
    """Refuse a ``meta.json`` over MAX_META_BYTES before reading it (a missing one is reported later)."""
    try:
        raw_size = path.stat().st_size
    except OSError:
        return
    if raw_size > MAX_META_BYTES:
        raise JobDefinitionError(f"meta.json is {raw_size} bytes; the limit is {MAX_META_BYTES} bytes. Keep data "
                                 "and code in the apps, not in meta.json")


def check_meta_bounds(meta: dict[str, Any]) -> None:
    """Bounds of the ``meta.json`` fields that are stored (name, deploy_map, clients, resource_spec);
    counts such as min_clients are FLARE's rules, in validate.py."""
    name = meta.get("name")
    if isinstance(name, str):
        check_text(name, "meta.json: name", MAX_NAME_CHARS)
    deploy_map = meta.get("deploy_map")
    if isinstance(deploy_map, dict):
        if len(deploy_map) > MAX_APPS:
            raise JobDefinitionError(f"meta.json: deploy_map names {len(deploy_map)} apps; the limit is {MAX_APPS}")
        for app, targets in deploy_map.items():
            check_text(app, "meta.json: a deploy_map app name", MAX_NAME_CHARS)
            if isinstance(targets, list):
                _check_sites(targets, f"meta.json: deploy_map[{app[:40]!r}]")
    mandatory = meta.get("mandatory_clients")
    if isinstance(mandatory, list):
        _check_sites(mandatory, "meta.json: mandatory_clients")
    resource_spec = meta.get("resource_spec")
    if resource_spec is not None:
        size = len(json.dumps(resource_spec, separators=(",", ":")))
        if size > MAX_RESOURCE_SPEC_BYTES:
            raise JobDefinitionError(f"meta.json: resource_spec is {size} bytes as JSON; the limit is "
                                     f"{MAX_RESOURCE_SPEC_BYTES}")


_SITE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._@-]*$")  # as provisioning and validate.py allow


def check_site_name(name: str, what: str = "site name") -> None:
    """A site name that may be stored (``disable_client`` keeps one): bounded and as provisioned."""
    check_text(name, what, MAX_SITE_NAME_CHARS)
    if not _SITE_NAME.match(name):
        raise JobDefinitionError(f"{what} {name!r} is not a site name (letters, digits, '.', '_', '-', '@')")


def _check_sites(names: list[Any], what: str) -> None:
    if len(names) > MAX_TARGETS:
        raise JobDefinitionError(f"{what} names {len(names)} targets; the limit is {MAX_TARGETS}")
    for name in names:
        if isinstance(name, str):
            check_text(name, f"{what}: a site name", MAX_SITE_NAME_CHARS)


#: FLARE 2.9's submit token rule (nvflare.apis.utils.job_submit_token), word for word.
_SUBMIT_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SUBMIT_TOKEN_ERROR = "submit_token must be non-empty, at most 128 characters, and match ^[A-Za-z0-9._:-]{1,128}$"


def submit_token_problem(token: object) -> str | None:
    """FLARE's message if ``token`` (None: no token) breaks its rule, else None."""
    if token is None or (isinstance(token, str) and _SUBMIT_TOKEN.fullmatch(token)):
        return None
    return SUBMIT_TOKEN_ERROR
