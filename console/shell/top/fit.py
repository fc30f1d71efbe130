"""``top``'s body fitted to the rows the terminal gives it: which lines show, never how they read.

The jobs' title and column header and the selected job's row are always shown (any height of
at least the header, one row and the title: ``top`` needs 12 terminal rows); then as many job
rows as there are, the details of the selected job, and the Sites block, squeezed in that order
of need when rows are short. The job list scrolls only when the selection would leave it, and
its title then says which of how many rows show (``jobs_cut``); details cut short scroll from
``details_first``, their last line saying what is above and below.
Pure: lines are prompt_toolkit fragments but nothing here draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prompt_toolkit.formatted_text import StyleAndTextTuples

Line = StyleAndTextTuples

#: Job rows kept on the screen (when there are as many) before details or sites take rows.
MIN_JOB_ROWS = 3


@dataclass
class Blocks:
    """The body's parts, each a list of lines."""

    #: The Sites title, its column header and one line per site (or the "no site" line).
    sites: list[Line]
    #: The Sites title saying ``n`` sites are not shown (the terminal is too short for them).
    sites_hidden: Callable[[int], Line]
    #: The Jobs title and its column header.
    jobs_head: list[Line]
    #: One line per job (or the "no jobs" line).
    rows: list[Line]
    #: Index of the selected job's line in ``rows``; None when there is none.
    selected: int | None
    #: A blank line, the details' title and their lines; empty when details are hidden.
    details: list[Line]
    #: The line saying ``above`` detail lines are scrolled off above and ``below`` are not shown below.
    details_hidden: Callable[[int, int], Line]
    #: The Jobs title when not every row shows: ``(first shown, rows shown, rows)``; None: the head's as it is.
    jobs_cut: Callable[[int, int, int], Line] | None = None
    #: The first detail line shown below the details' title when they are cut short (``fit`` keeps it
    #: within what there is and writes it back here).
    details_first: int = 0


def scrolled(first: int, selected: int | None, area: int, count: int) -> int:
    """The first of ``count`` rows to show in ``area`` rows: ``first`` as it was, moved only as far as
    it takes to show row ``selected``."""
    if area <= 0:
        return 0
    if selected is not None:
        if selected < first:
            first = selected
        elif selected >= first + area:
            first = selected - area + 1
    return min(max(first, 0), max(count - area, 0))


def _sites(blocks: Blocks, room: int) -> list[Line]:
    whole = len(blocks.sites)
    if room >= whole + 1:
        return [*blocks.sites, []]  # and a blank line before the jobs
    if room == whole:
        return blocks.sites  # every site: only the blank line gives way
    if room >= 3:  # the title, the column header and some sites
        return [blocks.sites_hidden(whole - room), *blocks.sites[1:room]]
    if room >= 1:
        return [blocks.sites_hidden(max(whole - 2, 0))]
    return []


def _details(blocks: Blocks, room: int) -> list[Line]:
    details = blocks.details
    if room >= len(details):
        blocks.details_first = 0
        return details
    details = details[1:]  # no blank line when rows are short
    if room >= len(details):
        blocks.details_first = 0
        return details
    if room < 2:
        return []
    title, body = details[0], details[1:]
    keep = room - 2  # the title and the line saying what is not shown
    first = blocks.details_first = min(max(blocks.details_first, 0), len(body) - keep)
    return [title, *body[first:first + keep], blocks.details_hidden(first, len(body) - first - keep)]


def fit(blocks: Blocks, height: int, first: int) -> tuple[list[Line], int]:
    """At most ``height`` lines of the body, and the first job row shown (keep it for the next
    draw, so the list does not jump)."""
    count = len(blocks.rows)
    avail = height - len(blocks.jobs_head)
    least_rows = min(count, MIN_JOB_ROWS)
    least_details = min(len(blocks.details), 3)
    sites = _sites(blocks, avail - least_rows - least_details)
    rest = avail - len(sites)
    if blocks.details:
        area = min(count, max(least_rows, rest - len(blocks.details)))
    else:
        area = min(count, rest)
    area = max(min(area, rest), min(count, 1))  # the selected row, whatever else goes
    details = _details(blocks, rest - area) if blocks.details else []
    first = scrolled(first, blocks.selected, area, count)
    head = blocks.jobs_head
    if blocks.jobs_cut is not None and area < count and head:
        head = [blocks.jobs_cut(first, area, count), *head[1:]]
    return [*sites, *head, *blocks.rows[first:first + area], *details], first
