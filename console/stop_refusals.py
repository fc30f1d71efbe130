"""The one wording of what both engines refuse before a stop or a site's removal, said before "are you
sure?": jobs still running (shutdown, restart) and named sites not connected (shutdown/restart client,
remove_client).

Our server words its refusal with it (``console.server.system_commands``) and FLARE's backend words
FLARE's the same (``console.backends.nvflare_shutdown``, ``nvflare_commands``), so one situation reads
as one sentence on either engine (the twelfth user's item 5: "restart refused: 1 job(s) running (ID);
abort them or wait until they end" on ours, "restart was refused: job ID (name) is still running; let it
finish or abort it first" on FLARE). Only text: no I/O, no engine.
"""

from __future__ import annotations


def jobs_still_running(command: str, running: list[tuple[str, str]], flare_says: str = "",
                       orphaned: list[tuple[str, str]] | None = None, hidden: bool = False) -> str:
    """Why ``command`` (shutdown, restart) was refused: the jobs still running, ``running`` as (job ID, name)
    each named, and (``hidden``) that others the user may not view run too, neither named nor counted (ours:
    whoever may stop a target may know that some job keeps it busy, never which nor how many: security
    finding 6). ``flare_says``: FLARE's own words, when it could not list them. ``orphaned`` (FLARE: listed
    RUNNING, run by no process, ``nvflare_orphans``) are named apart: abort_job refuses them, and they do not
    hold the command up."""
    if hidden:
        listed = ", ".join([*map(_named, running), "job(s) outside your view"])
        said = (f"{command} was refused: jobs are still running ({listed}); let them finish or abort them first "
                "(abort_job JOB)")
    elif len(running) == 1:
        said = (f"{command} was refused: job {_named(running[0])} is still running; let it finish or abort it first "
                f"(abort_job {running[0][0]})")
    elif running:
        said = (f"{command} was refused: jobs {', '.join(map(_named, running))} are still running; let them finish "
                "or abort them first (abort_job JOB)")
    else:
        flare = f" (FLARE: {flare_says})" if flare_says else ""
        said = (f"{command} was refused: jobs are still running{flare}; let them finish or abort them first "
                "(abort_job JOB); list_jobs shows them")
    if not orphaned:
        return said
    one = len(orphaned) == 1
    return (f"{said}. {'Job' if one else 'Jobs'} {', '.join(map(_named, orphaned))} {'is' if one else 'are'} listed "
            f"RUNNING too, but no process runs {'it' if one else 'them'} (abandoned by a server restart): "
            f"{'it does' if one else 'they do'} not hold the {command} up, and FLARE 2.9 has no command that ends "
            f"{'it' if one else 'them'} (abort_job refuses {'it' if one else 'them'})")


def sites_not_connected(command: str, sites: list[str], connected: list[str]) -> str:
    """Why ``command`` was refused for the named ``sites`` that are not connected, with those that are
    (``connected``) so a misspelling shows."""
    one = len(sites) == 1
    return (f"{command} was refused: site{'' if one else 's'} {', '.join(sites)} {'is' if one else 'are'} not "
            f"connected; connected sites: {', '.join(connected) or 'none'} (check_status server lists them)")


def no_site_connected(command: str) -> str:
    """Why ``command client`` (every connected site) was refused when none is connected: said instead of
    asking "are you sure?" of nothing (session 12's terminal user: "restart every connected site: are you
    sure?" with none there)."""
    return (f"{command} client was refused: no site is connected, so there is none to {command} "
            "(check_status server lists the connected sites)")


def _named(job: tuple[str, str]) -> str:
    return f"{job[0]} ({job[1]})" if job[1] else job[0]
