"""A site's workspace of a job, streamed into the server's store: fetched, checked, kept whole or not at all.

Owns one ``get_workspace`` download and what is done with its archive: the size and entry limits
(``job_limits``) the site is asked to keep and the server enforces, the pace below which it is cut
off, the checks a job upload also passes, the rename once whole, and the job_errors entry of a
refused archive. Used by ``deployment`` (a job's end) and ``abandoned`` (a site that comes back).
Must not decide when a workspace is asked for, nor touch the job's state.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.jobdef.archive import JobLimits
from console.jobdef.errors import JobDefinitionError
from console.runtime.limits import cut
from console.server.kept_workspace import site_left_out
from console.wire.pace import Pace, TransferStopped, TransferTooSlow, paced
from console.wire.requesting import AnswerTooLarge, MalformedAnswer, ProtocolViolation

#: What a site's workspace answer is refused for (not within job_limits, too large, malformed):
#: none of it is kept, and asking again would bring the same.
REFUSED_ARCHIVE = (JobDefinitionError, AnswerTooLarge, MalformedAnswer, ProtocolViolation)


def refused_archive(exc: BaseException) -> str:
    """The job_errors entry of a site whose workspace archive was refused (``REFUSED_ARCHIVE``)."""
    return f"its workspace archive was refused, none of it is kept (the rest of the job's result is): {cut(str(exc))}"


async def fetch_workspace(link: Any, job_id: str, target: Path, limits: JobLimits, pace: Pace,
                          stop: asyncio.Event | None = None,
                          why_cut: Callable[[TransferStopped | TransferTooSlow], str] = str, *, timeout: float,
                          submitter: str | None = None) -> list[str]:
    """Stream a site's workspace of ``job_id`` into ``target`` over ``link``: the site leaves out
    what passes ``limits`` (``max_workspace_bytes``, ``max_entries``; a site that sends more bytes
    anyway is refused), at ``pace`` at least, cut off when ``stop`` is set. Written beside
    ``target`` (``.part``), checked as a job upload is (``JobLimits.check_workspace``: names, links,
    entries, sizes, expansion ratio) and renamed once whole and checked: a download of the job never
    hands out half of it or a bad one, whatever stops it (a kill included). What the site says it
    left out (``site_left_out``); ``timeout``: the request's, in seconds (the site's command timeout);
    ``submitter``: the job's, by whom the site sums up its lines about what it left out.
    Raises TransferStopped/TransferTooSlow (the site's connection is dropped then: the rest of it is
    not read, ``why_cut`` saying why), one of ``REFUSED_ARCHIVE`` (the archive refused, naming the
    rule) or what the request raises (JobNotFound: the site has none); ``target`` is then absent."""
    limit = limits.max_workspace_bytes
    part = target.with_name(target.name + ".part")
    target.unlink(missing_ok=True)
    try:
        download = link.download("get_workspace", {"job_id": job_id, "max_bytes": limit,
                                                   "max_entries": limits.max_entries, "submitter_name": submitter or ""}, part,
                                 timeout=timeout, max_bytes=limit + (1 << 20))
        # Cut off, the rest of it would still come: its connection is dropped instead.
        await paced(download, part, pace, stop, cut=lambda exc: link.refuse(
            RuntimeError(f"its workspace of job {job_id} was cut off: {why_cut(exc)}")))
        await asyncio.to_thread(limits.check_workspace, part)
        left_out = await asyncio.to_thread(site_left_out, part)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return left_out


__all__ = ["REFUSED_ARCHIVE", "fetch_workspace", "refused_archive"]
