"""Which local folders are job folders, for ``submit_job``'s completion.

A folder is offered as a job folder only when it is one: a job meta file (``meta.json``; on NVIDIA
FLARE also ``meta.conf``) with a non-empty deploy_map whose apps are folders beside it. A job's
download (``download_job`` writes ``transfer/<job_id>/`` with the job's stored meta at its top, the
apps under ``job/``) is not one: submitting it fails with "app folder 'app' named in deploy_map does
not exist". This is a quick look for a menu, not the validation ``submit_job`` runs
(``console.jobdef.validate``). A meta file's reading is kept while its size and mtime stay, so a
keystroke stats files and reads none it read before. Must not touch the network.
"""

from __future__ import annotations

import os
import re
import stat

from console import safe_json
from console.commands import Engine
from console.jobdef.bounds import MAX_META_BYTES
from console.jobdef.deploy_map import DeployMapError, app_targets
from console.jobdef.validate import folder_name_problem
from console.names import is_plain_name

#: The meta files each engine reads (ours: JSON only; FLARE's ConfigFactory also HOCON).
META_FILES = {Engine.OURS: ("meta.json",), Engine.NVFLARE: ("meta.json", "meta.conf")}
#: Meta files remembered (their apps, or None for not a job); a menu over a large tree stays bounded.
_KEPT = 2048
_apps_of: dict[tuple[str, int, int], tuple[str, ...] | None] = {}

# HOCON's deploy_map block as FLARE's meta.conf files write it (``deploy_map { app = ["@ALL"] }``):
# its keys are the apps. Read by pattern, not parsed: HOCON is not a format this package reads.
_CONF_DEPLOY_MAP = re.compile(r"(?m)^\s*\"?deploy_map\"?\s*[:=]?\s*\{([^{}]*)\}")
_CONF_KEY = re.compile(r"(?m)^\s*\"?([A-Za-z0-9][A-Za-z0-9._-]*)\"?\s*[:=]")


def _apps_json(text: str) -> tuple[str, ...] | None:
    try:
        meta = safe_json.loads(text)
    except safe_json.UnreadableJSON:
        return None
    deploy_map = meta.get("deploy_map") if isinstance(meta, dict) else None
    if not isinstance(deploy_map, dict) or not deploy_map:
        return None
    try:
        return tuple(app_targets(deploy_map))
    except DeployMapError:
        return None


def _apps_conf(text: str) -> tuple[str, ...] | None:
    block = _CONF_DEPLOY_MAP.search(text)
    apps = tuple(_CONF_KEY.findall(block.group(1))) if block else ()
    return apps or None


def _read_apps(meta: str, st: os.stat_result) -> tuple[str, ...] | None:
    key = (meta, st.st_mtime_ns, st.st_size)
    if key in _apps_of:
        return _apps_of[key]
    try:
        with open(meta, encoding="utf-8") as file:
            text = file.read(MAX_META_BYTES + 1)
    except (OSError, UnicodeError):
        return None  # unreadable now: asked again at the next keystroke
    apps = None
    if len(text) <= MAX_META_BYTES:
        apps = _apps_json(text) if meta.endswith(".json") else _apps_conf(text)
    if apps is not None and not all(is_plain_name(app) for app in apps):
        apps = None  # an app name that is not a folder name beside it (FLARE's JOB_NAME_PATTERN)
    if len(_apps_of) >= _KEPT:
        _apps_of.clear()
    _apps_of[key] = apps
    return apps


def refused_for_its_name(path: str, engine: Engine = Engine.OURS) -> bool:
    """Whether ``path`` would be a job folder (it holds a meta file) whose own name submit_job refuses
    (``validate.folder_name_problem``, FLARE's JOB_NAME_PATTERN): 'my jobs/' with a meta.json. Offered, it
    completed to a line whose submit failed; a folder of that name holding none may lead to job folders."""
    if folder_name_problem(os.path.basename(os.path.normpath(path))) is None:
        return False
    return any(os.path.isfile(os.path.join(path, name)) for name in META_FILES[engine])


def is_job_folder(path: str, engine: Engine = Engine.OURS) -> bool:
    """Whether ``path`` is a folder ``submit_job`` takes on ``engine``: its own name is one a job folder may
    have (``validate.folder_name_problem``, as submit checks it before uploading) and its meta file names a
    deploy_map whose apps are all folders in it. The first meta file found decides (as FLARE's lookup)."""
    if folder_name_problem(os.path.basename(os.path.normpath(path))) is not None:
        return False  # 'wide job/': the submit would be refused for its name
    for name in META_FILES[engine]:
        meta = os.path.join(path, name)
        try:
            st = os.stat(meta)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            return False
        apps = _read_apps(meta, st)
        return apps is not None and all(os.path.isdir(os.path.join(path, app)) for app in apps)
    return False
