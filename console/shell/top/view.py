"""``top``'s screen: a full-screen prompt_toolkit application over a ``TopModel``.

Drawn afresh at every change (an event, a poll, a key) and at every resize, to the width
the terminal has then: the tables' columns take the room their cells need, names and
metrics give it back when the terminal is narrow and end in '…' (``columns``); nothing wraps. Keys: ``q``, Esc,
Ctrl-C or Ctrl-\\ leave, Up/Down choose a job, Enter shows its details (Esc or Enter again hides them; PgUp/PgDn
scroll them when the terminal is too short for them all), ``a``
aborts it after a ``y`` (any other key, Ctrl-C, Ctrl-\\ and Esc too, answers no and top stays), ``l``
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
from prompt_toolkit.input import DummyInput
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
from prompt_toolkit.output import ColorDepth, DummyOutput
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from console.backends.base import Backend
from console.natural_order import natural_key
from console.shell.endings import is_ending
from console.shell.quit_key import add_ctrl_backslash
from console.shell.safe_text import visible_line as visible
from console.shell.terminal import add_suspend_key
from console.shell.top.columns import elide, layout, pad, render
from console.shell.top.details import detail_lines, details_title
from console.shell.top.feed import TopFeed
from console.shell.top.fit import Blocks, Line, fit
from console.shell.top.model import TopModel
from console.shell.top.rows import (
    JOB_COLUMNS,
    SITE_COLUMNS,
    details_cut,
    header_line,
    job_cells,
    link_words,
    site_cells,
    status_class,
)

#: Background lines (monitors, follows) kept at the foot of the screen while top runs.
KEPT_LINES = 3
#: Seconds between redraws when nothing changed: the clock and the age of the rows go on while the
#: server does not answer (flare10 item 3: the clock stood still through an outage).
REDRAW_EVERY = 1.0
#: Rows of a snapshot beyond one per job and site: titles, column heads, room the fitting keeps.
_SNAPSHOT_SPARE_ROWS = 16
SNAPSHOT_LEAST_WIDTH = 80  # cells a snapshot's lines take at least (its header's clock at the right end)
_UNCUT = 10_000  # cells no row reaches: a snapshot is first laid out so, to learn its widest row

_STYLE = {
    "top.header": "bold reverse",
    "top.down": "bg:#aa0000 #ffffff bold",
    "top.title": "bold",
    "top.selected": "reverse",
    "top.dim": "#888888",
    "top.error": "#ff5555 bold",
    "top.running": "#55ff55",
    "top.failed": "#ff5555",
    "top.done": "#5599ff",
    "top.keys": "reverse",
}


class TopView:
    def __init__(self, backend: Backend, no_color: bool, size: tuple[int, int] | None = None,
                 on_screen: bool = True) -> None:
        """``on_screen`` False: ``snapshot`` only, no terminal opened (prompt_toolkit warns on a batch's stdin)."""
        self.backend = backend
        self._size = size  # (rows, columns) of a snapshot (``snapshot``); None: the terminal's
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
        self._details_first = 0  # the first detail line shown when they are cut short (PgUp/PgDn)
        self._details_rows = 1  # detail lines the last draw showed: a page for PgUp/PgDn
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
            refresh_interval=REDRAW_EVERY,
            **({} if on_screen else {"input": DummyInput(), "output": DummyOutput()}),
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
        # The title's "has not answered for N s" counts each second, as the toolbar's does (its listener too).
        quiet = self.backend.add_silence_listener(self.invalidate)
        try:
            return await self.app.run_async(handle_sigint=False)  # SIGINT stays with the shell (shell.interrupt)
        finally:
            quiet()
            feed.cancel()
            for task in [feed, *self._tasks]:
                task.cancel()
            await asyncio.gather(feed, *self._tasks, return_exceptions=True)

    # -- drawing ---------------------------------------------------------------------------

    async def snapshot(self, width: int | None = None) -> str:
        """The view as it settles (``TopFeed.settle``: the same rows the running view shows from the same answers),
        as plain text (``top > FILE``, a batch's ``top``, as ``top -b -n 1``): the header and every site and job
        row, none cut for a screen's height. ``width``: cells a line may take; None (a file or pipe has no
        width): as wide as the widest row needs, at least ``SNAPSHOT_LEAST_WIDTH``, no name or metric cut
        (session 12: a batch's rows ended in '…' at 80 columns). Raises what the poll raises."""
        await self.feed.settle()
        rows = len(self.model.jobs) + len(self.model.sites) + _SNAPSHOT_SPARE_ROWS
        if width is None:
            self._size = (rows, _UNCUT)
            body = "".join(text for _, text in self._body()).split("\n")
            width = max([SNAPSHOT_LEAST_WIDTH, *(get_cwidth(line.rstrip()) for line in body)])
        self._size = (rows, width)
        lines = "".join(text for _, text in [*self._header(), ("", "\n"), *self._body()]).split("\n")
        return "\n".join(line.rstrip() for line in lines)

    def _width(self) -> int:
        if self._size is not None:
            return self._size[1]
        with contextlib.suppress(Exception):
            return get_app().output.get_size().columns
        return 80

    def link(self) -> str:
        """The connection's state for the header (``link_words``); "" when all is well."""
        if is_ending():  # the session closes on the way out: no "reconnecting" drawn meanwhile
            return ""
        fresh = self.feed.fresh_at
        return link_words(self.backend.connected, self.backend.shut_down_by_you,
                          None if fresh is None else time.monotonic() - fresh, self.feed.interval,
                          self.backend.silent_for, self.backend.tells_silence)

    def _header(self) -> StyleAndTextTuples:
        how = "pushed" if self.backend.pushes else f"polled every {self.feed.interval:g} s"
        who = visible(f"{self.backend.user}@{self.backend.server}")  # (names the server gave at login)
        text = f" flare-console top  {who}  ({how})"
        clock = f"{time.strftime('%H:%M:%S')} "
        width, link = self._width(), self.link()
        if not link:
            return [("class:top.header", header_line(text, clock, width))]
        # The state first when the terminal is narrow: it is what matters while the rows are old.
        state = elide(f" {link} ", width)
        rest = width - get_cwidth(state)
        return [("class:top.down", state), ("class:top.header", header_line(text, clock, rest) if rest > 0 else "")]

    def _body(self) -> StyleAndTextTuples:
        self.drawn_version, self.drawn_at = self.model.version, time.monotonic()
        width, now = self._width(), time.time()

        def line(text: str, style: str = "") -> Line:
            return [(style, elide(text, width))]

        sites = sorted(self.model.sites.values(), key=lambda s: natural_key(s.name))
        connected = sum(s.connected for s in sites)
        site_lines = [line(self.model.sites_title(), "class:top.title")]
        rows = [[visible(c) for c in site_cells(site, now)] for site in sites]
        widths = layout(SITE_COLUMNS, rows, width)
        site_lines.append(line(render([c.head for c in SITE_COLUMNS], widths, width), "class:top.dim"))
        for site, cells in zip(sites, rows, strict=True):
            site_lines.append(line(render(cells, widths, width), "" if site.connected else "class:top.dim"))
        if not sites:
            site_lines.append(line(self.model.sites_empty(), "class:top.dim"))
        jobs = self.model.ordered_jobs()
        selected = self.model.selected_job()
        rows = [[visible(c) for c in job_cells(job, now)] for job in jobs]
        widths = layout(JOB_COLUMNS, rows, width)
        head = [line(self.model.jobs_title(jobs), "class:top.title"),
                line(render([c.head for c in JOB_COLUMNS], widths, width), "class:top.dim")]
        running = sum(j.running for j in jobs)

        def jobs_cut(first: int, shown: int, count: int) -> Line:
            return line(f"Jobs ({running} running; {first + 1}-{first + shown} of {count} shown: Up/Down scrolls)",
                        "class:top.title")

        job_lines = []
        for job, cells in zip(jobs, rows, strict=True):
            text = render(cells, widths, width)
            job_lines.append(line(pad(text, width), "class:top.selected") if selected is job
                             else line(text, status_class(job.shown_status)))
        if not jobs:
            job_lines.append(line(self.model.jobs_empty(), "class:top.dim"))
        details: list[Line] = []
        if self.details is not None and selected is not None:
            details = [[], line(details_title(selected.job_id, width), "class:top.title")]
            shown = detail_lines(self.details, selected, width - 2, now) if self.details else ["(loading...)"]
            details += [line("  " + detail) for detail in shown]  # made safe to show by detail_lines
        blocks = Blocks(
            sites=site_lines,
            sites_hidden=lambda n: line(f"Sites ({connected} connected; {n} not shown: the terminal is short)",
                                        "class:top.title"),
            jobs_head=head, rows=job_lines,
            selected=jobs.index(selected) if selected is not None else None,
            details=details, details_hidden=lambda above, below: line(details_cut(above, below), "class:top.dim"),
            jobs_cut=jobs_cut, details_first=self._details_first)
        lines, self._first = fit(blocks, self._body_height(), self._first)
        self._details_first = blocks.details_first
        body = {id(detail) for detail in details[2:]}
        self._details_rows = max(sum(1 for shown in lines if id(shown) in body), 1)
        out: StyleAndTextTuples = []
        for i, fragments in enumerate(lines):
            out += [*fragments, ("", "\n")] if i < len(lines) - 1 else fragments
        return out

    def _body_height(self) -> int:
        """The rows between the title bar and the footer."""
        if self._size is not None:
            return self._size[0]
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
            keys = elide(keys, width)
            out.append(("class:top.keys", keys))
            room = width - get_cwidth(keys) - 2
            if self.note and room > 0:
                out.append(("", "  " + elide(visible(self.note), room)))
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

        @kb.add("pagedown")
        def _details_down(event: KeyPressEvent) -> None:
            if self.details is not None:
                self._details_first += self._details_rows  # (fit keeps it within what there is)

        @kb.add("pageup")
        def _details_up(event: KeyPressEvent) -> None:
            if self.details is not None:
                self._details_first = max(self._details_first - self._details_rows, 0)

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

        # Ctrl-\ as Ctrl-C in both: leaves top, or answers no to the question.
        return merge_key_bindings([ConditionalKeyBindings(kb, ~confirming),
                                   ConditionalKeyBindings(question, confirming), add_ctrl_backslash(KeyBindings())])

    async def _abort(self, job_id: str) -> None:
        try:
            await self.backend.request("abort_job", {"job_id": job_id})
            self.note = f"abort of {job_id[:8]} sent: its row says so until its status changes"
            self.model.abort_sent(job_id)
        except Exception as exc:
            self.note = f"abort of {job_id[:8]} failed: {type(exc).__name__}: {exc}"
        self.invalidate()

    def _reload_details(self) -> None:
        job = self.model.selected_job()
        self._details_first = 0  # another job's details, or shown afresh: from their top
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
