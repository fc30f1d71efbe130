"""Commands a Ctrl-C came too late to stop: the prompt comes back at once, their outcome follows.

Owns the foreground wait of a command (``foreground``: its outcome, or word that a Ctrl-C came
after it could be stopped), the commands that went on, and their outcome as a background line when
they end; running a command stays the executor's, the prompt loop ``app.py``'s. The backends say
when a cancel came too late through ``too_late_listener`` (``console.wire.exceptions``): our
requester once the request reached the server, FLARE's backend once its blocking call started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from console.api.errors import CancelTooLate, too_late_listener
from console.shell.client_side import Outcome
from console.shell.failures import explain
from console.shell.human import one_line
from console.shell.interrupt import Interrupts
from console.shell.parse import ParsedCommand, Sink
from console.shell.safe_text import visible_line

#: Characters of a late outcome's line at most.
MAX_LINE = 1000


class GoingOn:
    """The shell's commands that go on after a late Ctrl-C (call ``listen`` in the shell's task first)."""

    def __init__(self, emit: Callable[[str, str], None], interrupts: Interrupts,
                 stopped: Callable[[], None], to_file: Callable[[Outcome, Sink], tuple[bool, str]]) -> None:
        """``stopped``: told that a command went on after Ctrl-C (the rest of its line is not run);
        ``to_file``: writes an outcome to ``> FILE`` / ``>> FILE`` (``Answers.to_file``)."""
        self.emit = emit
        self.to_file = to_file
        self.interrupts = interrupts
        self.stopped = stopped
        #: Wakes the shell awaiting the foreground command when a Ctrl-C came too late to stop it
        #: (``_heard``); what came, (command, reason).
        self._too_late: asyncio.Future[tuple[str, str]] | None = None
        #: Commands that went on after such a Ctrl-C: their outcome prints above the prompt when they end.
        self._commands: dict[asyncio.Future[Outcome], str] = {}

    def listen(self) -> None:
        """Hear the backends' word for the commands started from this context on."""
        too_late_listener.set(self._heard)

    async def foreground(self, task: asyncio.Future[Outcome]) -> Outcome | tuple[str, str]:
        """The command's outcome (or its error or cancellation, raised as awaiting it would), or, as soon
        as a Ctrl-C is found too late to stop it (``too_late_listener``), (command, why): it goes on."""
        heard: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        task.add_done_callback(lambda _: heard.done() or heard.set_result(("", "")))
        self._too_late = heard
        try:
            late = await heard
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._too_late = None
        return task.result() if task.done() else late

    def _heard(self, command: str, reason: str) -> None:
        """``too_late_listener``: a Ctrl-C came after ``command`` could be stopped (the foreground one:
        only it is cancelled while its outcome matters)."""
        if self._too_late is not None and not self._too_late.done():
            self._too_late.set_result((command, reason))

    def add(self, parsed: ParsedCommand, task: asyncio.Future[Outcome], late: tuple[str, str],
            sink: Sink | None = None) -> None:
        """Say at once that the command goes on; its outcome prints above the prompt when it ends, or goes
        to ``> FILE`` / ``>> FILE`` when the line asked for that (a pipeline cannot have the terminal then)."""
        command, reason = late
        why = reason.replace("the cancel", "Ctrl-C", 1)
        where = ("shows here" if sink is None else "shows here, not piped" if sink.kind == "|"
                 else f"goes to {sink.target}")
        self.emit(f"{command or parsed.spec.name}: {why}: it goes on; its outcome {where} when it ends",
                  "class:status.queued")
        self._commands[task] = parsed.spec.name
        task.add_done_callback(lambda done: self._ended(parsed, done, sink))
        self.stopped()

    def _ended(self, parsed: ParsedCommand, task: asyncio.Future[Outcome], sink: Sink | None) -> None:
        """A command that went on after Ctrl-C ended: its outcome, as a background line (a monitor's), or
        where its line sent it (``> FILE``, ``>> FILE``) with a line saying so.

        One line whatever the server answered (``visible_line``): a line break in its text would
        start a line of its own choosing above the prompt, time stamp and all."""
        self._commands.pop(task, None)
        stamp = time.strftime("%H:%M:%S")
        name = parsed.spec.name
        if task.cancelled():  # the shell left without waiting (a second Ctrl-C then)
            self._line(f"{stamp}  {name}: its outcome was not awaited", "class:error")
            return
        exc = task.exception()
        if isinstance(exc, CancelTooLate) and (sink is None or exc.result is None):
            # its result: "submit_job went on after Ctrl-C: submitted as ...", or that its answer never came
            self._line(f"{stamp}  {explain(exc, parsed)}{self._not_sent_to(sink)}", "class:status.completed")
            return
        if exc is not None and not isinstance(exc, CancelTooLate):  # errors stay on the screen, as ever
            self._line(f"{stamp}  {name} went on after Ctrl-C and failed: {explain(exc, parsed)}"
                       f"{self._not_sent_to(sink)}", "class:error")
            return
        outcome = Outcome(exc.result) if isinstance(exc, CancelTooLate) else task.result()
        if sink is not None and sink.kind != "|":
            written, said = self.to_file(outcome, sink)
            self._line(f"{stamp}  {name} went on after Ctrl-C: {said}",
                       "class:status.completed" if written else "class:error")
            return
        shown = outcome.message
        if shown is None and outcome.result is not None:
            shown = one_line(outcome.result)  # as the answer's record reads, on one line
        self._line(f"{stamp}  {shown or f'{name} done'}{self._not_sent_to(sink)}", "class:status.completed")

    @staticmethod
    def _not_sent_to(sink: Sink | None) -> str:
        if sink is None:
            return ""
        if sink.kind == "|":  # it would take the terminal from the prompt the user is typing at
            return f" (shown here, not piped to '{sink.target}': the prompt has the terminal now)"
        return f" (nothing written to {sink.target})"

    def _line(self, text: str, style: str) -> None:
        """One line above the prompt, cut: a big answer (many jobs deleted, a big meta) is no line to type under."""
        text = visible_line(text)
        if len(text) > MAX_LINE:
            text = f"{text[:MAX_LINE]}... ({len(text) - MAX_LINE} more characters)"
        self.emit(text, style)

    async def wait_all(self) -> None:
        """Leaving: wait for commands that went on after Ctrl-C, so that their outcome shows (Ctrl-C stops waiting)."""
        if not self._commands:
            return
        names = ", ".join(sorted(set(self._commands.values())))
        self.emit(f"waiting for what went on after Ctrl-C ({names}) to end; Ctrl-C leaves without its outcome",
                  "class:status.queued")
        waiting = asyncio.ensure_future(asyncio.gather(*self._commands, return_exceptions=True))
        with self.interrupts.cancels(waiting):
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
