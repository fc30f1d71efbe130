"""The interactive shell: one prompt_toolkit ``PromptSession`` over one ``Backend``.

Commands run in the foreground as a task that Ctrl-C cancels (one the server or FLARE already
acts on goes on in the background: ``going_on.py``; the prompt comes back at once); monitors,
completion refreshes and reconnection (``reconnect.py``) run as background tasks on the same
loop, printing above the prompt without disturbing what is being typed. A destructive command's
yes/no question is ``question.py``'s, the theme drawn with ``theme_in_use.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from prompt_toolkit.application import get_app_or_none, run_in_terminal
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import DynamicStyle

from console.api.errors import CancelTooLate
from console.backends.base import Backend
from console.commands import CommandSpec
from console.shell.answer import Answers
from console.shell.cells import fill
from console.shell.client_side import ShellState
from console.shell.completion import ShellCompleter
from console.shell.config import ShellConfig
from console.shell.early import EarlySend
from console.shell.endings import on_ending
from console.shell.execute import Executor
from console.shell.failures import explain, not_run
from console.shell.going_on import GoingOn
from console.shell.interrupt import Interrupts
from console.shell.keys import build_key_bindings, tab_complete
from console.shell.keys_ahead import completions_now, open_menu
from console.shell.leaving import LeaveCheck
from console.shell.lines import accept_line_by_line
from console.shell.monitors import LOG_STYLE, MonitorManager
from console.shell.parse import UsageError, commands_only, parse_command, split_commands, split_sink
from console.shell.printing import PrintStyle, print_styled
from console.shell.progress import ProgressRow
from console.shell.prompt_line import DRAW_AFTER, PromptLine
from console.shell.prompt_setup import build_prompt
from console.shell.question import Question
from console.shell.reconnect import Reconnector
from console.shell.refresher import CompletionRefresher
from console.shell.remote_paths import RemoteFolders
from console.shell.repaint import Repainter
from console.shell.safe_text import visible, visible_line
from console.shell.server_wait import OWN_THE_SCREEN, noted_wait
from console.shell.settings import flipped
from console.shell.sink_refusal import sink_refusal
from console.shell.terminal import QuietInput, take_typed_stops, view_running
from console.shell.theme_in_use import ThemeInUse
from console.shell.themes import available_themes
from console.shell.toolbar import ToolbarState, render_toolbar, vi_mode_name

#: The demo's watch on its parts (``console.demo_parts.PartWatch.subscribe``): given where to say a part's end
#: (called from the watch's thread), or None to stop.
DemoParts = Callable[[Callable[[str], None] | None], None]
#: Seconds between completion refreshes on an engine without pushes (FLARE).
REFRESH_EVERY = 10.0


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


class InteractiveShell:
    interactive = True

    def __init__(self, backend: Backend, config: ShellConfig, *, demo: str | bool = False,
                 again: str = "flare-console", demo_parts: DemoParts | None = None) -> None:
        """``demo``: the console of ``flare-console demo``, whose server and sites stop when it ends (as the
        words that start that demo again, for the line after ``shutdown server|all``). ``again``: the shell
        words that start this console with its kit and user (``invocation.console_login_command``), for hints.
        ``demo_parts``: the demo's watch on its server and sites (``console.demo_parts``), subscribed to while
        the shell runs: a part that ends is said above the prompt."""
        self.demo_parts = demo_parts
        self.again = again
        self.backend = backend
        self.demo = demo
        self.config = config
        self.state = ShellState(format=config.format, confirm=config.confirm, theme=config.theme,
                                expanded=config.expanded, timing=config.timing, editing=config.editing)
        self.refresher = CompletionRefresher(backend)
        self.monitors = MonitorManager(backend, self.emit)
        self.executor = Executor(backend, self.state, self, self.monitors, self.refresher)
        self.theme = ThemeInUse(config.theme, self.state)
        self._typeahead = ""  # a paste's text after its last line end: the next prompt's text
        self._queued: list[str] = []  # whole lines typed then: run before the next prompt
        self._ctrl_c = False  # a Ctrl-C stopped (or came too late for) the command of the line running now
        self.progress_row = ProgressRow(lambda: self.prompt.app.output)
        # Names from the server's login answer: shown, never interpreted by the terminal.
        self.user = visible_line(backend.user)
        self.server = visible_line(backend.server)
        self.remote_folders = RemoteFolders(backend.folder_names, lambda: backend.connected, self._remote_names_came)
        self.completer = ShellCompleter(lambda: self.refresher.data, self.theme_names,
                                        lambda: [m.job_id for m in self.monitors.running()], backend.engine,
                                        stale=None if backend.pushes else self.refresher.stale,
                                        upload_dir=backend.upload_dir, remote=self.remote_folders,
                                        may_run=self._may_run)
        self.prompt = build_prompt(  # (prompt_setup.py: history, suggestions, editor, continuation, our patches)
            self.completer, DynamicStyle(lambda: self.theme.style),
            lambda: render_toolbar(self._toolbar, self.prompt.app.output.get_size().columns),
            build_key_bindings(self._toggle, self._pasted_rest), ColorDepth.DEPTH_1_BIT if no_color() else None)
        self._toolbar = ToolbarState(
            user=self.user, server=self.server, connected=lambda: backend.connected,
            monitors=lambda: len(self.monitors.running()), format=lambda: self.state.format.value,
            reconnecting=lambda: self.reconnector.reconnecting,
            expanded=lambda: self.state.expanded.value, editing=lambda: self.state.editing,
            shut_down=lambda: self.executor.shut_down_server, vi_mode=lambda: vi_mode_name(self.prompt.app),
            silent_for=lambda: backend.silent_for,
        )
        self.reconnector = Reconnector(backend, self.emit, self.refresher.refresh, self._redraw,
                                       shut_down=self.executor, demo=demo)
        backend.add_state_listener(self.reconnector.on_state)
        backend.add_silence_listener(self._redraw)  # the toolbar's "no answer for N s", each second
        drawn_style = PrintStyle(lambda: self.theme.style, pygments_defaults=False)  # as the prompt draws
        self.prompt_line = PromptLine(self.prompt, self._prompt_message, drawn_style)
        self.quiet = QuietInput()
        self.repainter = Repainter(self.prompt.output)
        self.answers = Answers(self.prompt, self.state, self.quiet, config.pager, self.emit)
        self.early = EarlySend(self.prompt, self.executor, self.prompt_line, self.answers)
        # Installed after EarlySend, so it runs first: EarlySend sees the first line alone.
        accept_line_by_line(self.prompt, lambda lines: self._queued.extend(lines))
        self.interrupts = Interrupts(self._sigint_at_prompt)
        self._print_style = PrintStyle(lambda: self.theme.style, pygments_defaults=True)
        self.leaving = LeaveCheck(bool(demo), backend, self.executor, self.interrupts, self.emit, self.confirm)
        self.question = Question(self._queued, self.emit, self._print_style, self._stopped_by_ctrl_c)
        self.going_on = GoingOn(self.emit, self.interrupts, self._stopped_by_ctrl_c, self.answers.to_file)

    # -- Frontend ------------------------------------------------------------------------

    def emit(self, text: str, style: str = "", meta: dict[str, Any] | None = None) -> None:
        self.prompt_line.clear()  # the next prompt's line, printed ahead of its drawing: this line goes first
        self.progress_row.off()  # a progress line's row takes this line; the next redraw shows it below
        shown = visible(text)
        if style != LOG_STYLE:  # the shell's own words break between words; a site's log line is left whole
            shown = fill(shown, self.prompt.output.get_size().columns)
        print_styled([(style, shown), ("", "\n")], self._print_style, ColorDepth.DEPTH_1_BIT if no_color() else None)

    async def confirm(self, question: str) -> bool:
        return await self.question.ask(question)

    def set_theme(self, name: str) -> list[str]:
        return self.theme.switch(name)

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
        value = flipped(self.state, setting)
        if setting == "editing":
            self.prompt.app.editing_mode = EditingMode.VI if value == "vi" else EditingMode.EMACS
        self.config.remember(setting, value)
        self.prompt.app.invalidate()

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
        """SIGCONT (``fg`` after Ctrl-Z): the user's shell left the terminal echoing; the connection is judged
        by asking, not by the time the console stood still (``Reconnector.resumed``)."""
        self.reconnector.resumed()
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
        parsed.to_screen = sink is None
        refused = sink_refusal(parsed, sink, line, self.again) if sink is not None else None
        if refused is not None:
            self.emit(refused, "class:error")
            return True
        task = early or asyncio.create_task(self.executor.run(parsed))
        try:
            with self.interrupts.cancels(task):  # type-ahead waits, unechoed (QuietInput), for the next prompt
                typed = take_typed_stops(self.prompt.input)  # read with its Enter: as if pressed a moment later
                if typed.ctrl_z:  # stop now, as psql and bash do, the command going on after fg
                    self.quiet.suspend(self.prompt.input)
                    self.reconnector.resumed()
                if typed.ctrl_c:
                    self.interrupts.interrupt()
                # A silent server: a line says so, and Ctrl-C (not over a view that owns the screen).
                with noted_wait(self.backend, self.emit, parsed.spec.name not in OWN_THE_SCREEN,
                                lambda: self.question.asking):
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
            self.emit(explain(exc, parsed, self.backend.engine), "class:error")
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

    def _may_run(self, spec: CommandSpec) -> bool:
        """Whether this user may run ``spec`` as far as the login said (the server judges each one again)."""
        return spec.right is None or self.backend.right_condition(spec.right.value) != "none"

    def _remote_names_came(self) -> None:
        """A remote folder's names arrived (``RemoteFolders``): the line that found none yet gets them now,
        if it is still the line at the prompt: Tab's completion when Tab asked, else the menu typing opens."""
        waiting, self.completer.waiting = self.completer.waiting, None
        buffer = self.prompt.default_buffer
        if waiting is None or not self.prompt.app.is_running or self.prompt.app.is_done \
                or waiting[:2] != (buffer.text, buffer.cursor_position):
            return
        if waiting[2]:
            tab_complete(buffer)
        elif buffer.complete_state is None and buffer.complete_while_typing():
            found = completions_now(buffer, CompleteEvent(text_inserted=True))
            if found:
                open_menu(buffer, found)
        self.prompt.app.invalidate()

    async def run(self) -> int:
        self.going_on.listen()  # the commands' tasks, started from here, inherit it
        for note, style in self.theme.start_notes:  # (a theme's problems) above the first prompt, wrapped as messages
            self.emit(note, style)
        self.refresher.refresh()
        self.interrupts.install()
        # Echo off while the shell runs (the prompt's raw mode starts from it and returns to it): keys
        # typed during a command, or before the prompt line printed with its answer is taken over by
        # the prompt, wait unechoed for the prompt, which reads them.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGCONT, self._continued)
        if self.demo_parts is not None:  # (from the watch's thread: handed to the loop)
            self.demo_parts(lambda line: loop.call_soon_threadsafe(self._demo_part_ended, line))
        try:
            # SIGTERM, SIGHUP: leave as bye does, without taking the connection's drop on the way for a loss.
            with self.quiet, self.quiet.keeping_typeahead_over_stops(self.prompt.app, self.reconnector.resumed), \
                    on_ending(self.reconnector.leaving):
                return await self._loop()
        finally:
            if self.demo_parts is not None:
                self.demo_parts(None)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
                loop.remove_signal_handler(signal.SIGCONT)

    def _demo_part_ended(self, line: str) -> None:
        """A part of the demo ended on its own: said above the prompt, unless this console's ``shutdown
        server|all`` stopped it (the shutdown's own lines say what to do then)."""
        if not self.executor.shut_down_server:
            self.emit(line, "class:error")

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
                        if not self.early.prompt_printed:  # (printed with an answer after it was put away: stays)
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
            self.remote_folders.close()
            if polls is not None:
                polls.cancel()
            self.reconnector.stop()
            await self.backend.close()
        return 0
