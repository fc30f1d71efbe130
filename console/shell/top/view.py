"""``top``'s screen: a full-screen prompt_toolkit application over a ``TopModel``.

Drawn afresh at every change (an event, a poll, a key) and at every resize, to the width
the terminal has then: the tables' columns take the room their cells need, names and
metrics give it back when the terminal is narrow and end in '…' (``columns``); nothing wraps. Keys: ``q`` or Esc
leave, Up/Down choose a job, Enter shows its details (Esc or Enter again hides them), ``a``
aborts it after a ``y`` (any other key, Ctrl-C and Esc too, answers no and top stays), ``l``
leaves and follows its log. With ``NO_COLOR`` only bold and
reverse video mark things.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.application.current import get_app
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import (
    ConditionalKeyBindings,
    KeyBindings,
    KeyBindingsBase,
    KeyPressEvent,
    merge_key_bindings,
)
from prompt_toolkit.layout import HSplit, Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from console.backends.base import Backend
from console.natural_order import natural_key
from console.shell.human import ago
from console.shell.safe_text import visible_line as visible
from console.shell.terminal import add_suspend_key
from console.shell.top.columns import Column, elide, layout, pad, render
from console.shell.top.details import detail_lines
from console.shell.top.feed import TopFeed
from console.shell.top.fit import Blocks, Line, fit
from console.shell.top.model import JobRow, SiteRow, TopModel

#: Background lines (monitors, follows) kept at the foot of the screen while top runs.
KEPT_LINES = 3

_STYLE = {
    "top.header": "bold reverse",
    "top.title": "bold",
    "top.selected": "reverse",
    "top.dim": "#888888",
    "top.error": "#ff5555 bold",
    "top.running": "#55ff55",
    "top.failed": "#ff5555",
    "top.done": "#5599ff",
    "top.keys": "reverse",
}


def _status_class(status: str) -> str:
    if status == "RUNNING":
        return "class:top.running"
    if status == "FINISHED:COMPLETED":
        return "class:top.done"
    if status.startswith("FINISHED:"):
        return "class:top.failed"
    return ""


def _ago(epoch: float | None, now: float) -> str:
    return "-" if epoch is None else ago(now - epoch)


def site_cells(site: SiteRow, now: float) -> list[str]:
    cpu = f"{site.cpu_percent:.0f}%" if site.cpu_percent is not None else "-"
    return [site.name, "connected" if site.connected else "gone", _ago(site.last_heartbeat, now) if site.connected
            else "-", str(site.running_jobs), cpu, site.memory or "-"]


def job_cells(job: JobRow, now: float) -> list[str]:
    # An ended job read before top opened knows its last round, not always how many were planned.
    rounds = f"{job.round or 0}/{job.num_rounds}" if job.num_rounds else str(job.round) if job.round else "-"
    responded = "-" if job.sites_responded is None else (
        f"{job.sites_responded}/{job.sites_total}" if job.sites_total else str(job.sites_responded))
    metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(job.metrics.items()))
    return [job.job_id[:8], job.name, job.status, rounds, responded, job.elapsed(now), metrics or "-"]


# Narrow terminals: names and metrics give room (site names after memory); then whole columns go,
# metrics first.
SITE_COLUMNS = (Column("SITE", least=8, shrink=2), Column("STATE", least=9), Column("HEARTBEAT", drop=3),
                Column("JOBS"), Column("CPU", least=4, drop=2), Column("MEMORY", least=6, shrink=1, drop=1))
JOB_COLUMNS = (Column("JOB", least=8), Column("NAME", least=8, shrink=1), Column("STATUS"),
               Column("ROUND", drop=4), Column("SITES", drop=2), Column("ELAPSED", drop=3),
               Column("METRICS", least=7, shrink=1, drop=1))


class TopView:
    def __init__(self, backend: Backend, no_color: bool) -> None:
        self.backend = backend
        self.model = TopModel(backend.rounds_seen)
        self.feed = TopFeed(backend, self.model, self.invalidate)
        self.details: dict[str, Any] | None = None  # the selected job's meta when shown ({}: on its way)
        self.confirm: str | None = None  # a job ID waiting for "y" to be aborted
        self.note = ""  # a one-line answer to the last key (abort requested, ...)
        self.lines: list[tuple[str, str]] = []  # background lines while top runs (the last KEPT_LINES)
        self.background = 0  # background lines since top opened: all printed when it closes (monitors.held)
        self.drawn_version = -1  # the model version on screen (benchmarks read it)
        self.drawn_at = 0.0
        self._first = 0  # the first job row shown (top.fit scrolls the list only as the selection needs)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app: Application[tuple[str, str] | None] = Application(
            layout=Layout(HSplit([
                Window(FormattedTextControl(self._header), height=1),
                # Fitted to its rows by _body (top.fit): nothing in it scrolls away.
                Window(FormattedTextControl(self._body, show_cursor=False), wrap_lines=False),
                Window(FormattedTextControl(self._footer), height=lambda: Dimension.exact(self._footer_height())),
            ])),
            key_bindings=self._keys(),
            full_screen=True,
            style=Style.from_dict(_STYLE),
            color_depth=ColorDepth.DEPTH_1_BIT if no_color else None,
            mouse_support=False,
        )
        self.app.ttimeoutlen = 0.05  # Esc alone leaves at once, not after half a second

    # -- outside world ---------------------------------------------------------------------

    def invalidate(self) -> None:
        if self.app.is_running:
            self.app.invalidate()

    def background_line(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        """Where monitors and follows print while top covers the screen."""
        for line in text.splitlines() or [""]:
            self.lines.append((line, style))
            self.background += 1
        del self.lines[:-KEPT_LINES]
        self.invalidate()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> tuple[str, str] | None:
        """Until q/Esc (None) or ``l`` (("follow", job_id))."""
        feed = asyncio.create_task(self.feed.run())
        try:
            return await self.app.run_async(handle_sigint=False)  # SIGINT stays with the shell (shell.interrupt)
        finally:
            feed.cancel()
            for task in [feed, *self._tasks]:
                task.cancel()
            await asyncio.gather(feed, *self._tasks, return_exceptions=True)

    # -- drawing ---------------------------------------------------------------------------

    def _width(self) -> int:
        with contextlib.suppress(Exception):
            return get_app().output.get_size().columns
        return 80

    def _header(self) -> StyleAndTextTuples:
        how = "pushed" if self.backend.pushes else f"polled every {self.feed.interval:g} s"
        text = f" flare-console top  {self.backend.user}@{self.backend.server}  ({how})  {time.strftime('%H:%M:%S')}"
        return [("class:top.header", pad(elide(text, self._width()), self._width()))]

    def _body(self) -> StyleAndTextTuples:
        self.drawn_version, self.drawn_at = self.model.version, time.monotonic()
        width, now = self._width(), time.time()

        def line(text: str, style: str = "") -> Line:
            return [(style, elide(text, width))]

        sites = sorted(self.model.sites.values(), key=lambda s: natural_key(s.name))
        connected = sum(s.connected for s in sites)
        site_lines = [line(f"Sites ({connected} connected)", "class:top.title")]
        rows = [[visible(c) for c in site_cells(site, now)] for site in sites]
        widths = layout(SITE_COLUMNS, rows, width)
        site_lines.append(line(render([c.head for c in SITE_COLUMNS], widths, width), "class:top.dim"))
        for site, cells in zip(sites, rows, strict=True):
            site_lines.append(line(render(cells, widths, width), "" if site.connected else "class:top.dim"))
        if not sites:
            site_lines.append(line("  (no site connected)", "class:top.dim"))
        jobs = self.model.ordered_jobs()
        selected = self.model.selected_job()
        rows = [[visible(c) for c in job_cells(job, now)] for job in jobs]
        widths = layout(JOB_COLUMNS, rows, width)
        head = [line(f"Jobs ({sum(j.running for j in jobs)} running, {len(jobs)} shown)", "class:top.title"),
                line(render([c.head for c in JOB_COLUMNS], widths, width), "class:top.dim")]
        job_lines = []
        for job, cells in zip(jobs, rows, strict=True):
            text = render(cells, widths, width)
            job_lines.append(line(pad(text, width), "class:top.selected") if selected is job
                             else line(text, _status_class(job.status)))
        if not jobs:
            job_lines.append(line("  (no jobs)", "class:top.dim"))
        details: list[Line] = []
        if self.details is not None and selected is not None:
            details = [[], line(f"Details of {selected.job_id}  (Enter or Esc hides them)", "class:top.title")]
            shown = detail_lines(self.details, selected, width - 2, now) if self.details else ["(loading...)"]
            details += [line("  " + detail) for detail in shown]  # made safe to show by detail_lines
        blocks = Blocks(
            sites=site_lines,
            sites_hidden=lambda n: line(f"Sites ({connected} connected; {n} not shown: the terminal is short)",
                                        "class:top.title"),
            jobs_head=head, rows=job_lines,
            selected=jobs.index(selected) if selected is not None else None,
            details=details,
            details_hidden=lambda n: line(f"  ... {n} more line{'s' if n != 1 else ''} (a taller terminal shows them)",
                                          "class:top.dim"))
        lines, self._first = fit(blocks, self._body_height(), self._first)
        out: StyleAndTextTuples = []
        for i, fragments in enumerate(lines):
            out += [*fragments, ("", "\n")] if i < len(lines) - 1 else fragments
        return out

    def _body_height(self) -> int:
        """The rows between the title bar and the footer."""
        rows = 24
        with contextlib.suppress(Exception):
            rows = get_app().output.get_size().rows
        return max(rows - 1 - self._footer_height(), 1)

    def _footer_height(self) -> int:
        # At least two rows, as before the fit: the keys and a line for what a key answered.
        return max("".join(text for _, text, *_ in self._footer()).count("\n") + 1, 2)

    def _footer(self) -> StyleAndTextTuples:
        width = self._width()
        out: StyleAndTextTuples = []
        if self.background > len(self.lines):
            earlier = self.background - len(self.lines)
            out.append(("class:top.dim", elide(f"... {earlier} earlier line{'s' if earlier != 1 else ''}: all are "
                                               "printed above the prompt when top closes", width) + "\n"))
        out += [(style or "class:top.dim", elide(visible(text), width) + "\n") for text, style in self.lines]
        if self.feed.error:
            out.append(("class:top.error", elide(f"poll failed: {self.feed.error}", width) + "\n"))
        if self.confirm is not None:
            job = self.model.jobs.get(self.confirm)
            question = f"abort {self.confirm[:8]} ()? y/N"  # the name gives room, the question never
            name = elide(visible(job.name) if job else "", width - get_cwidth(question))
            out.append(("class:top.error", elide(f"abort {self.confirm[:8]} ({name})? y/N", width)))
        else:
            keys = " q quit  Up/Down select  Enter details  a abort  l follow log "
            out.append(("class:top.keys", keys[:width]))
            if self.note:
                out.append(("", "  " + self.note[: max(width - len(keys) - 2, 0)]))
        return out

    # -- keys ------------------------------------------------------------------------------

    def _keys(self) -> KeyBindingsBase:
        # While a question shows it takes every key: y answers yes, any other key no, and top stays,
        # also for the keys that leave top otherwise (Ctrl-C, Esc, q), as at the shell's own questions.
        # The view's keys are off meanwhile, whichever are added to them.
        confirming = Condition(lambda: self.confirm is not None)
        question = KeyBindings()

        @question.add("y")
        def _yes(event: KeyPressEvent) -> None:
            job_id, self.confirm = self.confirm, None
            assert job_id is not None
            self.note = f"aborting {job_id[:8]}..."
            self._spawn(self._abort(job_id))

        @question.add("<any>")
        def _no(event: KeyPressEvent) -> None:
            self.confirm, self.note = None, "abort cancelled"

        kb = KeyBindings()
        # Ctrl-Z stops the console here too, as at the prompt, in watch and in the pager; fg redraws
        # top (prompt_toolkit's run_in_terminal), a question still open.
        add_suspend_key(question)
        add_suspend_key(kb)

        @kb.add("q")
        @kb.add("c-c")
        def _quit(event: KeyPressEvent) -> None:
            event.app.exit(result=None)

        @kb.add("escape", eager=True)
        def _escape(event: KeyPressEvent) -> None:
            if self.details is not None:
                self.details = None
            else:
                event.app.exit(result=None)

        @kb.add("up")
        @kb.add("k")
        def _up(event: KeyPressEvent) -> None:
            self.model.move(-1)
            self._reload_details()

        @kb.add("down")
        @kb.add("j")
        def _down(event: KeyPressEvent) -> None:
            self.model.move(1)
            self._reload_details()

        @kb.add("enter")
        def _details(event: KeyPressEvent) -> None:
            if self.details is not None:
                self.details = None
            elif self.model.selected_job() is not None:
                self.details = {}
                self._reload_details()

        @kb.add("a")
        def _abort_key(event: KeyPressEvent) -> None:
            job = self.model.selected_job()
            if job is None:
                self.note = "no job selected"
            elif job.final:
                self.note = f"{job.job_id[:8]} has ended already ({job.status})"
            else:
                self.confirm = job.job_id

        @kb.add("l")
        def _follow(event: KeyPressEvent) -> None:
            job = self.model.selected_job()
            if job is None:
                self.note = "no job selected"
            else:
                event.app.exit(result=("follow", job.job_id))

        return merge_key_bindings([ConditionalKeyBindings(kb, ~confirming),
                                   ConditionalKeyBindings(question, confirming)])

    async def _abort(self, job_id: str) -> None:
        try:
            await self.backend.request("abort_job", {"job_id": job_id})
            self.note = f"abort of {job_id[:8]} requested"
        except Exception as exc:
            self.note = f"abort of {job_id[:8]} failed: {type(exc).__name__}: {exc}"
        self.invalidate()

    def _reload_details(self) -> None:
        job = self.model.selected_job()
        if self.details is None or job is None:
            return
        self.details = {}  # the last job's details would read as this one's until the answer comes
        self._spawn(self._load_details(job.job_id))

    async def _load_details(self, job_id: str) -> None:
        try:
            meta = await self.backend.get_job_meta(job_id)
        except Exception as exc:
            meta = {"error": f"{type(exc).__name__}: {exc}"}
        if self.details is not None and self.model.selected == job_id:
            self.details = meta if isinstance(meta, dict) else {"error": f"unexpected answer: {meta!r:.200}"}
            self.invalidate()
