"""What each line of ``top`` says: a site's and a job's cells, the tables' columns, the header's words
for the connection and its title bar, the last line of cut-short details.

Pure functions of the model's rows and the time; how they are laid out on the screen and when they are
drawn stay ``view.py``'s, the rows themselves ``model.py``'s.
"""

from __future__ import annotations

from prompt_toolkit.utils import get_cwidth

from console.shell.human import ago
from console.shell.top.columns import Column, elide, pad
from console.shell.top.model import CONNECTED, NO_REPLY, JobRow, SiteRow

#: Polls' worth of seconds without an answer before the header says the rows are that old.
STALE_POLLS = 3


def status_class(status: str) -> str:
    status = status.partition(",")[0]  # "RUNNING, abort sent": still running
    if status == "RUNNING":
        return "class:top.running"
    if status == "FINISHED:COMPLETED":
        return "class:top.done"
    if status.startswith("FINISHED:"):
        return "class:top.failed"
    return ""


def _ago(epoch: float | None, now: float) -> str:
    return "-" if epoch is None else ago(now - epoch)


def link_words(connected: bool, shut_down: bool, fresh_for: float | None, interval: float,
               silent_for: int | None = None, tells_silence: bool = False) -> str:
    """The connection's state as the shell's toolbar words it (hidden under top), with how old the rows
    are when they stopped being current; "" when connected and the last poll answered in time.
    ``fresh_for``: seconds since the last poll that worked (None: none yet). ``silent_for``: whole seconds
    the server, connected still, has answered nothing (``Backend.silent_for``, the toolbar's "no answer for
    N s": ours, from its heartbeat), said from the first second it is known, counting (session 12's user,
    item 3: top said nothing until the link dropped). On an engine that cannot tell (``tells_silence``
    False: FLARE) the rows' age says it, once past ``STALE_POLLS`` polls' worth of seconds; on one that can,
    a poll that takes long waits for a frozen site it asked, and the server is not blamed for it."""
    age = "" if fresh_for is None else f"; rows from {ago(fresh_for)}"
    if shut_down:
        return f"server shut down by you: q, then bye leaves{age}"
    if not connected:
        return f"disconnected, reconnecting...{age}"
    if silent_for is not None:
        return f"the server has not answered for {silent_for} s{age}"
    if not tells_silence and fresh_for is not None and fresh_for > max(STALE_POLLS * interval, 5.0):
        return f"the server has not answered for {int(fresh_for)} s{age}"
    return ""


def site_cells(site: SiteRow, now: float) -> list[str]:
    cpu = f"{site.cpu_percent:.0f}%" if site.cpu_percent is not None else "-"
    listed = site.state in (CONNECTED, NO_REPLY)  # (the server's last word of it still stands)
    state = f"lost job {site.lost_jobs[0][:8]}" if site.connected and site.lost_jobs else site.state
    return [site.name, state, _ago(site.last_heartbeat, now) if listed else "-", str(site.running_jobs),
            cpu if site.connected else "-", site.memory if site.connected and site.memory else "-"]


def job_cells(job: JobRow, now: float) -> list[str]:
    # An ended job read before top opened knows its last round and (ours: the meta's num_rounds) how many
    # were planned, as one watched to its end; FLARE records no rounds, so there only a round seen shows.
    rounds = f"{job.round or 0}/{job.num_rounds}" if job.num_rounds else str(job.round) if job.round else "-"
    if job.final:
        # How many sites answered is a running round's figure: an ended job's row gives the sites it ran
        # on, whether it ended before top opened or while it was open (one rule for ended rows).
        responded = str(job.sites_total) if job.sites_total else "-"
    else:
        # FLARE tells no round's answers: its job's sites from the deploy_map, as "-/2" (how many answered: unknown).
        responded = ("-" if job.sites_responded is None else str(job.sites_responded)) + (
            f"/{job.sites_total}" if job.sites_total else "")
    metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(job.metrics.items()))
    # A queued job has no metrics yet: its last column says why it waits (FLARE's, and our, schedule_history),
    # as the details pane's "not scheduled" line, so a job stuck short of sites shows without opening it.
    if job.waiting and not metrics:
        metrics = f"not scheduled yet: {job.waiting}"
    return [job.job_id[:8], job.name, job.shown_status, rounds, responded, job.elapsed(now), metrics or "-"]


# Narrow terminals: names and metrics give room (site names after memory); then whole columns go,
# metrics first.
SITE_COLUMNS = (Column("SITE", least=8, shrink=2), Column("STATE", least=9), Column("HEARTBEAT", drop=3),
                Column("JOBS"), Column("CPU", least=4, drop=2), Column("MEMORY", least=6, shrink=1, drop=1))
JOB_COLUMNS = (Column("JOB", least=8), Column("NAME", least=8, shrink=1), Column("STATUS"),
               Column("ROUND", drop=4), Column("SITES", drop=2), Column("ELAPSED", drop=3),
               Column("METRICS", least=7, shrink=1, drop=1))


def header_line(text: str, clock: str, width: int) -> str:
    """The title bar: ``text`` elided before the clock at its right end goes, as top's and watch's keep theirs."""
    room = width - get_cwidth(clock)
    if room < 8:  # hardly anything left for the text: the clock gives way after all
        return pad(elide(text + "  " + clock, width), width)
    return pad(elide(text, room - 1), room) + clock


def details_cut(above: int, below: int) -> str:
    """The last line of details cut short: what is above and below them, and the keys that show it."""
    said = ([f"{above} line{'s' if above != 1 else ''} above"] if above else []) + (
        [f"{below} more line{'s' if below != 1 else ''}"] if below else [])
    keys = "PgUp/PgDn scroll" if above and below else "PgDn shows them" if below else "PgUp shows them"
    return f"  ... {', '.join(said)} ({keys})"
