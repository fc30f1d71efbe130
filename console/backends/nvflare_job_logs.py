"""``get_job_logs`` on NVIDIA FLARE: FLARE's log store first, then a site's own job workspace.

FLARE 2.9's ``get_job_logs`` reads its server's log store, which often has no site logs ("client log
stream not available for this job"), and for ``all`` lists only what it has: the sites were not even
named. ``follow`` reads a site's log where the site writes it (``JOB_ID/log.txt`` in its workspace,
with FLARE's shell commands), and so does this for each site the store lacks; a site neither way
gives is named with both reasons. A log FLARE's store does not keep apart (error_log.txt: FLARE 2.9
reads any name but log.txt and log.json as log.txt) is read from the server's and each site's workspace
alone. Registered into ``nvflare_registry.COMMANDS`` when imported; imports
nothing from nvflare at import time.
"""

from __future__ import annotations

import re
from typing import Any

from console.backends.deploy_map import deploy_map_sites
from console.backends.nvflare_errors import flare_text
from console.backends.nvflare_registry import command

#: Bytes of a site's log read from its workspace when no line count is asked: FLARE's shell answers
#: in one reply, so a long log is given from its newest bytes, behind a line saying so.
SITE_LOG_BYTES = 1 << 20
CUT_NOTE = "[... the log's earlier part is left out: download_job has it whole, or get_job_logs -n N]"

#: The logs FLARE 2.9's get_job_log reads from its store: its ``_normalize_log_file_name`` reads any other
#: name (error_log.txt, where a job's errors are) as log.txt, so those are read from each workspace instead.
FLARE_LOG_NAMES = ("log.txt", "log.json")

_NO_FILE = re.compile(r"\Atail: .*(No such file or directory|cannot open)")


@command("get_job_logs")
def get_job_logs(s: Any, a: dict[str, Any]) -> Any:
    """FLARE's answer ({"logs": {target: text}, "unavailable": {target: reason}}), each site the store
    lacks read from its workspace, or named in "unavailable" with why."""
    job_id, target = a["job_id"], a.get("target") or "server"
    name, tail, pattern = a.get("log_file_name") or "log.txt", a.get("tail_lines"), a.get("grep_pattern")
    own = name not in FLARE_LOG_NAMES  # FLARE's store would give log.txt under this name: each target's own file
    logs: dict[str, Any] = {}
    unavailable: dict[str, Any] = {}
    if not own:
        answer = s.get_job_logs(job_id, target=target, tail_lines=tail, grep_pattern=pattern, log_file_name=name)
        if not isinstance(answer, dict) or not isinstance(answer.get("logs"), dict):
            return answer
        logs, unavailable = dict(answer["logs"]), dict(answer.get("unavailable") or {})
    if target.casefold() in ("all", "@all"):
        wanted = [t for t in (*(["server"] if own else []), *_job_sites(s, job_id)) if t not in logs]
    else:
        wanted = [target] if (own or target != "server") and target not in logs else []
    for site in wanted:
        text, why = _from_workspace(s, site, f"{job_id}/{name}", tail)
        if text is None and site == "server" and own:
            # FLARE's server moves an ended job's workspace into its job store (its store reads log.txt alone)
            why = (f"no {job_id}/{name} in the server's workspace: FLARE's server keeps an ended job's workspace in "
                   f"its job store only (download_job {job_id} has it)")
        if text is None:
            stored = unavailable.get(site)
            unavailable[site] = f"{stored}; {why}" if stored else why
            continue
        unavailable.pop(site, None)
        logs[site] = _filtered(s, site, text, tail, pattern)
    return {"logs": logs, **({"unavailable": unavailable} if unavailable else {})}


def _from_workspace(s: Any, site: str, path: str, tail: int | None) -> tuple[str | None, str]:
    """(the log's text, "") from the site's job workspace, or (None, why not)."""
    try:
        text = s.tail_target(site, f"-n {int(tail)}" if tail is not None else f"-c {SITE_LOG_BYTES}", path)
    except Exception as exc:  # the site gone, a refusal: said per site, the others still shown
        return None, f"its workspace could not be read ({type(exc).__name__}: {flare_text(exc)})"
    if not isinstance(text, str) or _NO_FILE.match(text):
        return None, (f"no {path} in its workspace (it did not run this job, or the job's workspace was "
                      "removed)")
    if tail is None and len(text.encode()) >= SITE_LOG_BYTES:
        text = f"{CUT_NOTE}\n{text.partition(chr(10))[2]}"  # the first line is cut mid-way: left out
    return text, ""


def _filtered(s: Any, site: str, text: str, tail: int | None, pattern: str | None) -> str:
    """``-g``'s filter as FLARE's own get_job_logs applies it (its Session's, when it has one)."""
    if not pattern:
        return text
    apply = getattr(s, "_filter_job_logs_payload", None)
    if apply is not None:
        return apply({"logs": {site: text}}, tail, pattern)["logs"][site]
    return "".join(line for line in text.splitlines(keepends=True) if pattern in line)


def _job_sites(s: Any, job_id: str) -> list[str]:
    """The sites of the job's deploy_map; every connected site for an @ALL job (check_status server)."""
    named, every = deploy_map_sites(s.get_job_meta(job_id))
    if every:
        status = s.check_status("server")  # its meta: "clients" beside FLARE's envelope
        named |= {c["client_name"] for c in (status.get("clients") or []) if isinstance(c, dict)
                  and c.get("client_name")} if isinstance(status, dict) else set()
    return sorted(named)
