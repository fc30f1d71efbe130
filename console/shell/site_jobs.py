"""The jobs a site runs, in words, for the question of a command that takes the site out
(``remove_client``, ``disable_client``): "are you sure?" names what the answer costs. Owns the wording
and the one cheap look it takes (``check_status client SITE``, as FLARE 2.9 and our server answer it);
must not change anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from console.backends.base import Backend
from console.shell.safe_text import visible_line
from console.within import within

#: Seconds the question waits for the site's jobs before it is asked without them (a site slow to
#: answer must not hold the prompt: the question is the user's, the jobs a courtesy).
LOOK_SECONDS = 5.0
#: Jobs named in the question at most (the rest counted).
SHOWN = 3


async def _rows(backend: Backend, site: str) -> list[dict[str, Any]]:
    answer = await backend.request("check_status", {"target_type": "client", "targets": [site]})
    rows = answer.get("client_status") if isinstance(answer, dict) else None
    return [r for r in rows or [] if isinstance(r, dict) and r.get("client_name") == site and r.get("job_id")]


async def _name(backend: Backend, job_id: str) -> str:
    with contextlib.suppress(Exception):
        meta = await backend.get_job_meta(job_id)
        return str(meta.get("name") or meta.get("job_name") or "")
    return ""


async def _described(backend: Backend, site: str) -> str:
    ids = list(dict.fromkeys(str(r["job_id"]) for r in await _rows(backend, site)))
    if not ids:
        return ""
    names = await asyncio.gather(*(_name(backend, job_id) for job_id in ids[:SHOWN]))
    shown = [f"{job_id[:8]} ({visible_line(name)})" if name else job_id[:8]
             for job_id, name in zip(ids[:SHOWN], names, strict=True)]
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return f", which runs job{'s' if len(ids) > 1 else ''} {', '.join(shown)}{more}"


async def running_on(backend: Backend, site: str) -> str:
    """``", which runs job d9bdca67 (hello-digits)"`` for a site that runs jobs (of the user's view), else "";
    also "" when the look fails or takes more than ``LOOK_SECONDS`` (the question is asked all the same)."""
    try:
        return await within(_described(backend, site), LOOK_SECONDS)
    except asyncio.CancelledError:
        raise
    except Exception:
        return ""
