"""The interactive shell: one prompt_toolkit ``PromptSession`` over one ``Backend``.

Commands run in the foreground as a task that Ctrl-C cancels (one the server or FLARE already
acts on goes on in the background: ``going_on.py``; the prompt comes back at once); monitors,
completion refreshes and reconnection (``reconnect.py``) run as background tasks on the same
loop, printing above the prompt without disturbing what is being typed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app_or_none, run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import DynamicStyle, Style

from console.api.errors import CancelTooLate
from console.backends.base import Backend
from console.shell.answer import Answers
from console.shell.client_side import CommandFailed, ShellState
from console.shell.completion import ShellCompleter
from console.shell.config import ShellConfig, history_path
from console.shell.early import EarlySend
from console.shell.execute import Executor
from console.shell.failures import explain, not_run
from console.shell.going_on import GoingOn
from console.shell.history_file import BoundedFileHistory
from console.shell.interrupt import Interrupts
from console.shell.key_lookup import look_up_keys_once
from console.shell.keys import build_key_bindings
from console.shell.keys_ahead import keep_keys_in_step
from console.shell.leaving import LeaveCheck
from console.shell.lexer import CommandLexer
from console.shell.lines import accept_line_by_line
from console.shell.monitors import MonitorManager
from console.shell.output import Expanded, Format
from console.shell.parse import UsageError, commands_only, parse_command, split_commands, split_sink
from console.shell.printing import PrintStyle, print_styled
from console.shell.progress import ProgressRow
from console.shell.prompt_costs import skip_repeated_work
from console.shell.prompt_line import DRAW_AFTER, PromptLine
from console.shell.reconnect import Reconnector
from console.shell.refresher import CompletionRefresher
from console.shell.repaint import Repainter
from console.shell.safe_text import visible, visible_line
from console.shell.terminal import QuietInput, take_typed_ctrl_c, view_running
from console.shell.themes import DEFAULT_THEME, ThemeError, available_themes, fallback_style, load_theme
from console.shell.toolbar import ToolbarState, render_toolbar

#: Seconds between completion refreshes on an engine without pushes (FLARE).
REFRESH_EVERY = 10.0


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


class InteractiveShell:
    interactive = True

    def __init__(self, backend: Backend, config: ShellConfig, *, demo: bool = False) -> None:
        """``demo``: the console of ``flare-console demo``, whose server and sites stop when it ends."""
        self.backend = backend
        self.demo = demo
        self.config = config
        self.state = ShellState(format=config.format, confirm=config.confirm, theme=config.theme,
                                expanded=config.expanded, timing=config.timing, editing=config.editing)
        self.refresher = CompletionRefresher(backend)
        self.monitors = MonitorManager(backend, self.emit)
        self.executor = Executor(backend, self.state, self, self.monitors, self.refresher)
        self._style: Style = self._load_style(config.theme)
        self._typeahead = ""  # a paste's text after its last line end: the next prompt's text
        self._queued: list[str] = []  # whole lines typed then: run before the next prompt
        self._ctrl_c = False  # a Ctrl-C stopped (or came too late for) the command of the line running now
        self.progress_row = ProgressRow(lambda: self.prompt.app.output)
        # Names from the server's login answer: shown, never interpreted by the terminal.
        self.user = visible_line(backend.user)
        self.server = visible_line(backend.server)
        self.prompt = PromptSession(
            history=self._history(),
            completer=ShellCompleter(lambda: self.refresher.data, self.theme_names,
                                     lambda: [m.job_id for m in self.monitors.running()], backend.engine,
                                     stale=None if backend.pushes else self.refresher.stale,
                                     upload_dir=backend.upload_dir),
            complete_while_typing=True,
            lexer=CommandLexer(),
            style=DynamicStyle(lambda: self._style),
            include_default_pygments_style=False,
            bottom_toolbar=lambda: render_toolbar(self._toolbar),
            key_bindings=build_key_bindings(self._toggle, self._pasted_rest),
            color_depth=ColorDepth.DEPTH_1_BIT if no_color() else None,
            # History search would switch completion-while-typing off; a grey suggestion from
            # history (Right arrow takes it) gives the same recall without that cost.
            auto_suggest=AutoSuggestFromHistory(),
            enable_history_search=False,
            enable_open_in_editor=True,  # Ctrl-X Ctrl-E (emacs keys) or v (vi): the line in $EDITOR
            enable_suspend=True,  # Ctrl-Z at the prompt stops the console as in the user's shell (fg resumes)
            # A line continued past a quoted line end (keys.py) shows bash's PS2 on each new line, never
            # on a screen line a long line wrapped onto.
            prompt_continuation=lambda width, line, wrapped: "" if wrapped else "> ",
        )
        look_up_keys_once(self.prompt.app)
        skip_repeated_work(self.prompt.app)
        keep_keys_in_step(self.prompt)  # keys typed ahead find the menu and suggestion typing starts
        self._toolbar = ToolbarState(
            user=self.user, server=self.server, connected=lambda: backend.connected,
            monitors=lambda: len(self.monitors.running()), format=lambda: self.state.format.value,
            reconnecting=lambda: self.reconnector.reconnecting,
            expanded=lambda: self.state.expanded.value, editing=lambda: self.state.editing,
            shut_down=lambda: self.executor.shut_down_server,
        )
        self.reconnector = Reconnector(backend, self.emit, self.refresher.refresh, self._redraw,
                                       shut_down=self.executor, demo=demo)
        backend.add_state_listener(self.reconnector.on_state)
        drawn_style = PrintStyle(lambda: self._style, pygments_defaults=False)  # as the prompt draws
        self.prompt_line = PromptLine(self.prompt, self._prompt_message, drawn_style)
        self.quiet = QuietInput()
        self.repainter = Repainter(self.prompt.output)
        self.answers = Answers(self.prompt, self.state, self.quiet, config.pager, self.emit)
        self.early = EarlySend(self.prompt, self.executor, self.prompt_line, self.answers)
        # Installed after EarlySend, so it runs first: EarlySend sees the first line alone.
        accept_line_by_line(self.prompt, lambda lines: self._queued.extend(lines))
        self.interrupts = Interrupts(self._sigint_at_prompt)
        self._print_style = PrintStyle(lambda: self._style, pygments_defaults=True)
        self.leaving = LeaveCheck(demo, backend, self.executor, self.interrupts, self.emit, self.confirm)
        self.going_on = GoingOn(self.emit, self.interrupts, self._stopped_by_ctrl_c, self.answers.to_file)

    # -- Frontend ------------------------------------------------------------------------

    def emit(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        self.prompt_line.clear()  # the next prompt's line, printed ahead of its drawing: this line goes first
        self.progress_row.off()  # a progress line's row takes this line; the next redraw shows it below
        print_styled([(style, visible(text)), ("", "\n")], self._print_style,
                     ColorDepth.DEPTH_1_BIT if no_color() else None)

    async def confirm(self, question: str) -> bool:
        """y or yes confirms; anything else, Ctrl-C and Ctrl-D cancel the command (never the shell).

        A pasted line waiting to run answers instead, as keys typed ahead do (a terminal program reading
        its input takes the next line): ``abort_job JOB`` then ``y`` pasted together abort it.
        """
        if self._queued:
            answer = self._queued.pop(0)
            print_styled([("", visible(question)), ("", visible_line(answer)), ("", "\n")], self._print_style)
            return answer.strip().lower() in ("y", "yes")
        try:
            # A job's name from the server, shown; SIGINT stays with the shell (Interrupts)
            answer = await PromptSession(enable_suspend=True).prompt_async(visible(question), handle_sigint=False)
        except KeyboardInterrupt:
            self._ctrl_c = True  # "stop what I asked": the rest of the line too (run_line)
            return False
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def set_theme(self, name: str) -> None:
        try:
            self._style = load_theme(name).to_style()
        except ThemeError as exc:
            raise CommandFailed(str(exc)) from None

    def theme_names(self) -> list[str]:
        return sorted(available_themes())

    def remember(self, key: str, value: str | bool) -> None:
        self.config.remember(key, value)

    def repaint(self, text: str, heading: Callable[[int], str] | None = None) -> None:
        self.repainter.repaint(text, heading)

    def end_repaint(self) -> None:
        self.repainter.end()

    def progress(self, text: str | None) -> None:
        self.progress_row.show(text)

    # -- helpers -------------------------------------------------------------------------

    def _toggle(self, setting: str) -> None:
        """An F-key: flip a setting at once (no command typed), kept like ``set`` keeps it."""
        state = self.state
        if setting == "format":
            state.format = Format.JSON if state.format is Format.TABLE else Format.TABLE
            value = state.format.value
        elif setting == "expanded":
            cycle = [Expanded.AUTO, Expanded.ON, Expanded.OFF]
            state.expanded = cycle[(cycle.index(state.expanded) + 1) % len(cycle)]
            value = state.expanded.value
        else:
            state.editing = "vi" if state.editing == "emacs" else "emacs"
            self.prompt.app.editing_mode = EditingMode.VI if state.editing == "vi" else EditingMode.EMACS
            value = state.editing
        self.config.remember(setting, value)
        self.prompt.app.invalidate()

    def _load_style(self, name: str) -> Style:
        """The configured theme's style; if it cannot be used, says why and falls back to the default, which
        ``state.theme`` then names (``theme`` lists what is really in use)."""
        try:
            return load_theme(name).to_style()  # type: ignore[return-value]
        except ThemeError as exc:
            print(f"{exc}; using the default theme")
            self.state.theme = DEFAULT_THEME
            return fallback_style()

    @staticmethod
    def _history() -> BoundedFileHistory | InMemoryHistory:
        path = history_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return BoundedFileHistory(path)
        except OSError:
            return InMemoryHistory()

    def _prompt_message(self) -> FormattedText:
        # "user on server": the user is often an e-mail address, so "user@server" would read as one.
        return FormattedText([("class:prompt", self.user), ("class:prompt", " on "),
                              ("class:prompt.host", self.server), ("class:prompt", "> ")])

    def _pasted_rest(self, text: str) -> None:
        """What followed a paste's last line end: the text of the prompt after its lines ran."""
        self._typeahead = text

    def _stopped_by_ctrl_c(self) -> None:
        """Ctrl-C stopped the running command, or came too late to: the rest of its line and the lines
        queued after it are not run (``run_line`` says so)."""
        self._ctrl_c = True

    def _not_run_after_ctrl_c(self, rest: list[str]) -> None:
        """Say once what a Ctrl-C left unrun: the line's commands after the stopped one, then the queued
        lines (a paste's, or typed ahead), which are dropped."""
        queued = [c for line in self._queued for c in commands_only(split_commands(line))]
        self._queued.clear()
        said = not_run(commands_only(rest) + queued)
        if said:
            self.emit(said, "class:error")

    def _redraw(self) -> None:
        if self.prompt.app.is_running:
            self.prompt.app.invalidate()

    def _sigint_at_prompt(self) -> None:
        app = get_app_or_none()  # the prompt, or a question (leaving the demo)
        if app is not None and app.is_running:  # as the prompt's own handling did: the Ctrl-C key
            app.key_processor.send_sigint()

    def _continued(self) -> None:
        """SIGCONT (``fg`` after Ctrl-Z during a command): the user's shell left the terminal echoing."""
        if not view_running():  # (the raw mode of the prompt, top or plot is its own)
            self.quiet.apply()

    # -- the loop ------------------------------------------------------------------------

    async def run_line(self, line: str) -> bool:
        """Run every command of a line (or a paste of lines), in order; False when the shell should end.

        Ctrl-C means "stop what I asked": when it stops a command (cancelled, its pipeline or question) or
        comes too late to (it goes on: ``going_on``), the rest of the line is not run, said once (bash with a
        list whose command died of SIGINT, psql with a multi-statement line). An error does not stop the
        line (psql without ON_ERROR_STOP, bash without ``set -e``); a batch stops at it (``batch.py``).
        """
        commands = split_commands(line)
        for at, command in enumerate(commands):
            self._ctrl_c = False
            if not await self._run_one(command):
                return False
            if self._ctrl_c:
                self._not_run_after_ctrl_c(commands[at + 1:])
                break
        return True

    async def _run_one(self, line: str) -> bool:
        early, arrival = self.early.take(line)  # sent when Enter was pressed (EarlySend)
        try:
            line, sink = split_sink(line)
            parsed = parse_command(line, self.backend.engine)
        except UsageError as exc:
            self.emit(str(exc), "class:error")
            return True
        if parsed is None:
            return True
        if sink is not None and parsed.spec.name == "watch":
            self.emit(f"watch redraws its command in place, so it cannot go to '{sink.kind} {sink.target}': "
                      f"run the command itself with {sink.kind}", "class:error")
            return True
        task = early or asyncio.create_task(self.executor.run(parsed))
        try:
            with self.interrupts.cancels(task):  # type-ahead waits, unechoed (QuietInput), for the next prompt
                if take_typed_ctrl_c(self.prompt.input):  # read with its Enter: as if pressed a moment later
                    self.interrupts.interrupt()
                outcome = await self.going_on.foreground(task)
            if isinstance(outcome, tuple):  # Ctrl-C came too late to stop it: it goes on, the prompt comes back
                self.going_on.add(parsed, task, outcome, sink)
                return True
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self._ctrl_c = True
            if arrival is not None and arrival.settle():  # its answer was shown as the Ctrl-C came
                return True
            if parsed.spec.name == "watch":
                self.emit("watch stopped", "class:status.queued")
            else:
                self.emit(f"{parsed.spec.name} cancelled", "class:error")
            return True
        except Exception as exc:  # a server error or a lost connection: report it and go on
            if arrival is not None:
                arrival.settle()
            if isinstance(exc, CancelTooLate):  # went on, said before anyone listened: still a Ctrl-C
                self._ctrl_c = True
            self.emit(explain(exc, parsed), "class:error")
            self._show_timing()
            return True
        if arrival is not None and arrival.settle():
            return True  # shown where it arrived, with the next prompt's line (EarlySend)
        if sink is not None:
            if await self.answers.to_sink(outcome, sink):
                self._ctrl_c = True  # the pipeline died of the user's Ctrl-C
        elif self.prompt.app.is_running:
            await run_in_terminal(lambda: self.answers.show(outcome))
        else:
            self.answers.show(outcome)
        self._show_timing()
        return not (outcome.exit and await self.leaving.allowed())

    def _show_timing(self) -> None:
        """The time the last command's requests took (not the question, not the pager), failed or not."""
        if self.state.timing and self.executor.elapsed is not None:
            self.emit(f"({self.executor.elapsed * 1000:.1f} ms)", "class:pygments.comment")

    async def run(self) -> int:
        self.going_on.listen()  # the commands' tasks, started from here, inherit it
        self.refresher.refresh()
        self.interrupts.install()
        # Echo off while the shell runs (the prompt's raw mode starts from it and returns to it): keys
        # typed during a command, or before the prompt line printed with its answer is taken over by
        # the prompt, wait unechoed for the prompt, which reads them.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGCONT, self._continued)
        try:
            with self.quiet, self.quiet.keeping_typeahead_over_stops(self.prompt.app):
                return await self._loop()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
                loop.remove_signal_handler(signal.SIGCONT)

    async def _loop(self) -> int:
        polls = None if self.backend.pushes else asyncio.create_task(self.refresher.keep_fresh(REFRESH_EVERY))
        try:
            while True:
                self.prompt.editing_mode = EditingMode.VI if self.state.editing == "vi" else EditingMode.EMACS
                printed, self.early.prompt_printed = self.early.prompt_printed, False  # with the last answer
                if self._queued:  # a paste's lines after its first, or typed ahead while paged: as if typed now
                    line = self._queued.pop(0)
                    self.prompt.history.append_string(line)
                    self.prompt_line.echo(line)
                    if not await self.run_line(line):
                        break
                    continue
                default, self._typeahead = self._typeahead, ""
                try:
                    if printed or (not self.answers.foreign_output and self.prompt_line.show()):  # its text at once
                        await asyncio.sleep(DRAW_AFTER)  # its drawing follows once the terminal had the answer
                    self.answers.foreign_output = False
                    try:
                        line = await self.prompt.prompt_async(self._prompt_message, default=default,
                                                              handle_sigint=False)
                    finally:
                        self.prompt_line.on_screen = False  # drawn over by the prompt
                    self.early.shown()
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    if await self.leaving.allowed():
                        break
                    continue
                if not await self.run_line(line):
                    break
        finally:
            await self.going_on.wait_all()
            self.interrupts.remove()
            self.early.discard()
            await self.monitors.stop("all")
            if polls is not None:
                polls.cancel()
            self.reconnector.stop()
            await self.backend.close()
        return 0
