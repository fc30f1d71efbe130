"""``plot JOB_ID [METRIC] [--format json]``: a job's per-round metrics as a terminal chart.

The rounds come from the job's meta (``round_metrics``: one entry per round with the
``aggregated`` metrics and each site's, recorded by the server as rounds finish) and, while
the job runs, from its pushed ``job_progress`` events: the chart is redrawn in place at
each finished round until the job ends (or q, Esc, Ctrl-C, Ctrl-\\). One chart per metric, one line
per source (``aggregated`` first, then each site). ``--format json`` (or ``set format
json``, or a batch's ``--format json``) gives the series as data instead.

Drawn by uniplot: small, kept up, numpy-only, draws several labelled series with
sub-character (block) resolution and a plain ASCII mode whose marks tell the series apart
where there is no colour (NO_COLOR, batches).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl

from console.api.async_session import is_final
from console.natural_order import natural_key
from console.shell.cells import elide, wrap
from console.shell.cells import width as cells_of
from console.shell.client_side import CommandFailed, Outcome, ShellContext, client_side
from console.shell.output import Format
from console.shell.parse import ParsedCommand
from console.shell.quit_key import add_ctrl_backslash
from console.shell.safe_text import visible_line as visible
from console.shell.terminal import add_suspend_key

AGGREGATED = "aggregated"
CHART_HEIGHT = 12


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class RoundMetrics:
    """Every round's metrics seen so far: ``rounds[k] = {source: {metric: value}}``."""

    rounds: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)

    def add(self, entry: dict[str, Any]) -> bool:
        """One round, as in ``round_metrics`` (round, aggregated, sites) or a progress event
        (round, aggregated, metrics); whether it brought anything."""
        number = entry.get("round")
        if not _number(number):
            return False
        sources: dict[str, dict[str, float]] = {}
        aggregated = entry.get("aggregated")
        if isinstance(aggregated, dict):
            sources[AGGREGATED] = {k: float(v) for k, v in aggregated.items() if _number(v)}
        per_site = entry.get("sites") if isinstance(entry.get("sites"), dict) else entry.get("metrics")
        for site, values in (per_site.items() if isinstance(per_site, dict) else ()):
            if isinstance(values, dict):
                # A site named "aggregated" is its own series, never the aggregate's (nor overwriting it).
                name = f"site:{site}" if str(site) == AGGREGATED else str(site)
                sources[name] = {k: float(v) for k, v in values.items() if _number(v)}
        sources = {s: v for s, v in sources.items() if v}
        if not sources:
            return False
        self.rounds[int(number)] = sources
        return True

    def metric_names(self) -> list[str]:
        return sorted({m for sources in self.rounds.values() for values in sources.values() for m in values})

    def series(self, metric: str) -> list[tuple[str, list[tuple[int, float]]]]:
        """(source, [(round, value), ...]) per source that reported ``metric``; aggregated first."""
        points: dict[str, list[tuple[int, float]]] = {}
        for number in sorted(self.rounds):
            for source, values in self.rounds[number].items():
                if metric in values:
                    points.setdefault(source, []).append((number, values[metric]))
        order = sorted(points, key=lambda s: (s != AGGREGATED, natural_key(s)))
        return [(source, points[source]) for source in order]

    def as_data(self, meta: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
        """The series for ``--format json``: {job_id, name, status, rounds, series: [{metric, source, points}]}."""
        return {
            "job_id": meta.get("job_id"), "name": meta.get("name"), "status": meta.get("status"),
            "rounds": sorted(self.rounds),
            "series": [{"metric": metric, "source": source, "points": [list(p) for p in points]}
                       for metric in metrics for source, points in self.series(metric)],
        }


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def chart_title(title: str, box: int, width: int, one_line: bool) -> list[str]:
    """A chart's title over its ``box`` cells wide frame, centered by cells, within ``width`` cells:
    wrapped (``cells.wrap``: nothing lost, for the printed picture) or, ``one_line`` (the live view,
    whose rows are counted), cut with '…'. uniplot's own title is centered and cut by characters, so a
    CJK or emoji job name came out off-centre and cut without a mark."""
    lines = [elide(title, width)] if one_line else wrap(title, width)
    return [" " * max((min(box, width) - cells_of(line)) // 2, 0) + line for line in lines]


def draw(metrics: RoundMetrics, names: list[str], title: str, width: int, color: bool,
         height: int = CHART_HEIGHT, one_line_titles: bool = False) -> str:
    """One chart per metric, stacked, each ``height`` rows of plot; ``color`` False draws ASCII
    marks and no escape codes; each chart's title fitted to ``width`` (``chart_title``)."""
    # Imported here, not at the top: uniplot brings numpy (about half a second), which the console
    # should not pay before its first prompt, only when a chart is drawn.
    from uniplot import plot_to_string

    charts = []
    for metric in names:
        series = metrics.series(metric)
        if not series:
            continue
        xs = [[float(r) for r, _ in points] for _, points in series]
        ys = [[v for _, v in points] for _, points in series]
        first, last = min(x[0] for x in xs), max(x[-1] for x in xs)
        # One round: a range around it, so its point sits in the middle.
        x_min, x_max = (first - 1, last + 1) if first == last else (first, last)
        plot_width = max(width - 12, 20)
        # Rounds are whole numbers, but uniplot 0.23 chooses its x ticks from steps that include
        # halves (2 rounds read 1.0 1.5 2.0) and has no integer-tick option: the x range is ours
        # (x_min/x_max) and so are the labels under it, whole rounds only.
        options: dict[str, Any] = dict(
            xs=xs, legend_labels=[visible(source) for source, _ in series],
            width=plot_width, height=height, lines=True, x_min=x_min, x_max=x_max, x_labels=False,
            x_gridlines=[])  # uniplot's default line at x=0 would stand on round 0's edge
        values = [v for y in ys for v in y]
        bounds = None
        if min(values) >= 0 < max(values):
            # From 0: uniplot 0.23 labels a range it chose itself wrongly at times (a loss from 1 to
            # 0.14 had "0" halfway up); with the bounds given, its labels sit where their values are.
            bounds = (0.0, max(values))
        elif min(values) < max(values):
            bounds = (min(values), max(values))
        if bounds is not None:
            options.update(y_min=bounds[0], y_max=bounds[1])
        if color:
            text = plot_to_string(ys, color=True, **options)
        else:
            text = _ANSI.sub("", plot_to_string(ys, character_set="ascii", color=False, **options))
        text = text.rstrip("\n")
        if bounds is not None:
            text = _with_end_labels(text, *bounds)
        labels = round_labels(x_min, x_max, plot_width, (int(first), int(last)))
        heading = chart_title(f"{visible(metric)} · {visible(title)}", plot_width + 2, width, one_line_titles)
        charts.append("\n".join([*heading, _with_round_labels(text, labels)]))
    return "\n\n".join(charts) + "\n(x: round)"


#: Steps between labelled rounds, smallest first (then times 10, 100, ...).
_STEPS = (1, 2, 5)


def round_labels(x_min: float, x_max: float, width: int, shown: tuple[int, int]) -> str:
    """The x axis's labels for a chart ``width`` characters wide over rounds ``x_min..x_max``:
    whole rounds from ``shown[0]`` to ``shown[1]`` only, every 1, 2, 5, 10, 20, 50, ... rounds,
    the smallest step that leaves at least 8 characters from one label to the next (uniplot
    aims at one label per 15). A label is centred on its round's column as uniplot places
    its own (one column of border before the plot)."""
    span = x_max - x_min
    widest = len(str(int(x_max))) + 2
    step, scale = 1, 1
    for i in range(60):
        step = _STEPS[i % 3] * scale
        if i % 3 == 2:
            scale *= 10
        if step * width / span >= max(8, widest):
            break
    line = ""
    for number in range(math.ceil(shown[0] / step) * step, shown[1] + 1, step):
        label = str(number)
        column = 1 + min(int((number - x_min) / span * width), width - 1) - len(label) // 2
        line += " " * max(column - len(line), 1 if line else 0) + label
    return line


def _with_end_labels(chart: str, low: float, high: float) -> str:
    """The top and bottom rows of the plot labelled with the highest and lowest value where
    uniplot left them bare: its labels are round numbers (0.0 and 0.5 for a loss from 1 down),
    so the maximum could not be read."""
    lines = chart.split("\n")
    plain = [_ANSI.sub("", line).rstrip() for line in lines]
    top = next((i + 1 for i, line in enumerate(plain) if line.startswith("┌")), None)
    bottom = next((i - 1 for i, line in enumerate(plain) if line.startswith("└")), None)
    if top is None or bottom is None or bottom <= top:
        return chart
    for row, value in ((top, high), (bottom, low)):
        if plain[row].endswith("│"):  # no label of uniplot's on that row
            lines[row] = lines[row].rstrip() + f" {value:.4g}"
    return "\n".join(lines)


def _with_round_labels(chart: str, labels: str) -> str:
    """``labels`` as the line under the chart's frame (uniplot's bottom border, "└")."""
    lines = chart.split("\n")
    for i, line in enumerate(lines):
        if _ANSI.sub("", line).startswith("└"):
            return "\n".join([*lines[:i + 1], labels, *lines[i + 1:]])
    return "\n".join([*lines, labels])


def _chosen(metrics: RoundMetrics, wanted: str | None) -> list[str]:
    names = metrics.metric_names()
    if wanted is None:
        return names
    if names and wanted not in names:
        raise CommandFailed(f"the job records no metric '{wanted}'; it has: {', '.join(names)}")
    return [wanted]


#: The smallest plot a live chart is squeezed to before charts are left off the screen.
MIN_LIVE_HEIGHT = 4


def fitted(metrics: RoundMetrics, names: list[str], title: str, size: tuple[int, int], color: bool) -> str:
    """The charts of ``names`` in at most ``size`` = (columns, rows) lines: lower charts first, then
    the metrics that still do not fit left off, with a line saying so. A live picture must fit:
    one taller than the terminal is clipped and, redrawn, leaves partial copies in the scrollback."""
    columns, rows = size
    for height in range(CHART_HEIGHT, MIN_LIVE_HEIGHT - 1, -1):
        text = draw(metrics, names, title, columns, color, height, one_line_titles=True)
        if text.count("\n") < rows:
            return text
    for keep in range(len(names) - 1, 0, -1):
        left = len(names) - keep
        text = (draw(metrics, names[:keep], title, columns, color, MIN_LIVE_HEIGHT, one_line_titles=True)
                + f"\n({left} more chart{'s' if left > 1 else ''} below the screen: all print whole when the plot ends)")
        if text.count("\n") < rows:
            return text
    return draw(metrics, names[:1], title, columns, color, MIN_LIVE_HEIGHT, one_line_titles=True)


def live_footer(last: int, num_rounds: int | None, cells: int) -> str:
    """The live view's last line in at most ``cells`` terminal cells, its key hint ('q leaves') whole
    as long as it fits at all: what gives way first is the rest, as in ``watch_heading``."""
    of = f"/{num_rounds}" if num_rounds else ""
    for text in (f"(round {last}{of} done; q leaves; the chart follows the job until it ends)",
                 f"(round {last}{of} done; q leaves)", f"({last}{of} done; q leaves)", "(q leaves)"):
        if cells_of(text) <= cells:
            return text
    return elide("(q leaves)", cells)


class LivePlot:
    """The chart of a running job, redrawn in place at each round until the job ends or q; then
    put away, for the whole picture to be printed once in its place."""

    def __init__(self, ex: ShellContext, meta: dict[str, Any], metrics: RoundMetrics, wanted: str | None,
                 color: bool) -> None:
        self.ex, self.meta, self.metrics, self.wanted, self.color = ex, meta, metrics, wanted, color
        self.num_rounds: int | None = None
        kb = KeyBindings()

        @kb.add("q")
        @kb.add("escape", eager=True)
        @kb.add("c-c")
        def _leave(event: KeyPressEvent) -> None:
            event.app.exit()

        add_suspend_key(kb)  # Ctrl-Z stops the console, as at the prompt; fg draws the chart again
        add_ctrl_backslash(kb)  # leaves, as Ctrl-C does

        # erase_when_done: the live picture (fitted to the screen, with its hint) goes when the view
        # ends; the caller prints the whole one.
        self.app: Application[None] = Application(
            layout=Layout(Window(FormattedTextControl(self._text), wrap_lines=False)), key_bindings=kb,
            erase_when_done=True)

    def _title(self) -> str:
        """Made safe here: besides the charts (``draw``), it is printed alone and drawn as ANSI text."""
        return visible(f"job {self.meta['job_id'][:8]} ({self.meta.get('name', '')}) {self.meta.get('status', '')}")

    def picture(self) -> str:
        """The whole picture as it stands (every chart at full height), for printing when the view ends."""
        if not self.metrics.rounds:
            return f"{self._title()}: no round has finished yet, so there is nothing to plot"
        return draw(self.metrics, _chosen(self.metrics, self.wanted), self._title(),
                    shutil.get_terminal_size().columns, self.color)

    def _text(self) -> ANSI:
        size = self.app.output.get_size()
        if not self.metrics.rounds:  # wrapped by cells: the window cuts what is wider, without a mark
            body = "\n".join(wrap(f"{self._title()}: waiting for the first round to finish...", size.columns))
        else:
            # One row for the hint under the charts, one for the cursor's line.
            body = fitted(self.metrics, _chosen(self.metrics, self.wanted), self._title(),
                          (size.columns, size.rows - 2), self.color)
        return ANSI(body + "\n" + live_footer(max(self.metrics.rounds, default=0), self.num_rounds, size.columns))

    def on_event(self, topic: str, data: dict[str, Any]) -> None:
        if data.get("job_id") != self.meta["job_id"]:
            return
        if topic == "job_progress" and isinstance(data.get("data"), dict):
            self.metrics.add(data["data"])
            if _number(data["data"].get("num_rounds")):
                self.num_rounds = int(data["data"]["num_rounds"])
        elif topic == "job_status":
            self.meta["status"] = data.get("status", self.meta.get("status"))
            if is_final(self.meta["status"]) and self.app.is_running:
                asyncio.get_running_loop().call_later(0.2, self._end)  # the last round's event may trail
        self.app.invalidate()

    def _end(self) -> None:
        if self.app.is_running:
            self.app.exit()

    async def run(self) -> None:
        remove = self.ex.backend.add_event_listener(self.on_event)
        try:
            await self.app.run_async(handle_sigint=False)  # SIGINT stays with the shell (shell.interrupt)
        finally:
            remove()


@client_side("plot")
async def _plot(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    meta = await ex.backend.get_job_meta(parsed.values["job_id"])
    metrics = RoundMetrics()
    for entry in meta.get("round_metrics") or []:
        if isinstance(entry, dict):
            metrics.add(entry)
    wanted = parsed.values.get("metric")
    as_data = parsed.values.get("format") == "json" or (
        parsed.values.get("format") is None and ex.state.format is Format.JSON)
    if as_data:
        return Outcome(metrics.as_data(meta, _chosen(metrics, wanted)), format=Format.JSON)
    # On the terminal only: to a file or a pipe, the chart as of now in ASCII marks (as under NO_COLOR).
    on_screen = ex.frontend.interactive and parsed.to_screen
    color = on_screen and not os.environ.get("NO_COLOR")
    if on_screen and not is_final(meta.get("status")):
        live = LivePlot(ex, meta, metrics, wanted, color)
        await live.run()
        # Printed here, not returned: it stands where the live view was, whole, as the job ended (or
        # as q left it), never sent to a pager the user did not ask for.
        print(live.picture(), flush=True)
        return Outcome()
    if not metrics.rounds:
        raise CommandFailed(f"job {meta['job_id'][:8]} ({meta.get('name', '')}) has no per-round metrics "
                            f"({meta.get('status')}); its workflow records them as rounds finish")
    title = f"job {meta['job_id'][:8]} ({meta.get('name', '')}) {meta.get('status', '')}"
    # draw() made the job's strings safe; its colours are ours and must reach the terminal as they are.
    return Outcome(message=draw(metrics, _chosen(metrics, wanted), title, shutil.get_terminal_size().columns, color),
                   drawn=True)
