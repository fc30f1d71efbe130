"""Enter sends a command that only asks the server at once, before the prompt is put away.

Owns the accept hook of the shell's ``PromptSession`` and the line it leaves on the screen for such
a command; what a command does stays ``Executor``'s, how its answer is shown stays the shell's.

Why: when Enter is pressed prompt_toolkit draws the whole layout once more in its final state
(the line without toolbar and menus) and leaves raw mode before ``prompt_async`` returns. On a
2-core machine that was 2-4 ms of Python holding the GIL before the request could even start
(measured with timestamps in the console on FLARE, where a round trip is 8-10 ms). So Enter's
own handler starts the request (run at once up to its sending: ``eager.py``), and for such a
line prompt_toolkit only erases the prompt; the line (prompt and highlighted command, as the
final drawing showed it) is printed in one write (about 0.2 ms) while the request is on its way.

The answer is then shown where it arrives (``Arrival``): on FLARE, on the worker thread that made
the call, with the next prompt's line, in one write. Handed to the loop first, it waited for the
loop thread to wake and take the GIL: the answer and prompt appeared 0.5-1 ms later on a busy
2-core machine (``check_status server`` and ``list_jobs``, median of 25 each, interleaved runs).
Whoever has the answer first shows it: the worker once the accepted line is back on the screen,
or the shell (a Ctrl-C, an error, the worker not yet allowed to). Not for a line with ``> FILE``
or ``| PIPELINE``, nor with ``\timing`` on (its line follows the answer); an answer that needs the
pager goes to the shell.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

from prompt_toolkit import PromptSession

from console.shell.answer import Answers
from console.shell.client_side import Outcome
from console.shell.eager import start_now
from console.shell.execute import Executor
from console.shell.parse import UsageError, parse_command, split_commands, split_sink
from console.shell.prompt_line import PromptLine

#: Seconds FLARE's worker waits for the accepted line to be back on the screen before it may show
#: the answer (prompt_toolkit puts the prompt away in 1-2 ms); past that the shell shows it.
SHOW_WAIT = 0.05


class _Shown(Enum):
    PENDING = "pending"
    BY_WORKER = "by the worker"
    BY_SHELL = "by the shell"


class Arrival:
    """A read-only command's answer: shown by FLARE's worker as it arrives (``arrived``) or by the shell."""

    def __init__(self, show: Callable[[Outcome], bool]) -> None:
        self._show = show
        self._lock = threading.Lock()
        self._state = _Shown.PENDING
        #: Set once the accepted line is back on the screen (``EarlySend.shown``).
        self.may_show = threading.Event()

    def arrived(self, answer: Any) -> None:
        """On the worker thread: show the answer, unless the shell has taken it."""
        if not self.may_show.wait(SHOW_WAIT):
            return
        with self._lock:
            if self._state is _Shown.PENDING and self._show(Outcome(answer)):
                self._state = _Shown.BY_WORKER

    def settle(self) -> bool:
        """On the loop, once the command ended (or was cancelled): True when its answer is on the screen
        already; otherwise the shell has it from now on."""
        with self._lock:
            if self._state is _Shown.PENDING:
                self._state = _Shown.BY_SHELL
            return self._state is _Shown.BY_WORKER


class EarlySend:
    """The command of the line just accepted, started from Enter's handler (``take`` hands it over)."""

    def __init__(self, session: PromptSession[str], executor: Executor, prompt_line: PromptLine,
                 answers: Answers) -> None:
        self.session = session
        self.executor = executor
        self.prompt_line = prompt_line
        self.answers = answers
        self._pending: tuple[str, asyncio.Future[Outcome], Arrival | None] | None = None
        self._arrival: Arrival | None = None  # the last accepted line's, until ``shown``
        #: The worker printed the next prompt's line with the answer (the shell does not print it again).
        self.prompt_printed = False
        self._echo: str | None = None  # the line to print again in ``shown``
        buffer = session.default_buffer
        accept = buffer.accept_handler
        assert accept is not None, "PromptSession's buffer has its accept handler"

        def accept_and_send(buff: Any) -> bool:
            self._start(buff.document.text)
            return accept(buff)

        buffer.accept_handler = accept_and_send

    def _start(self, text: str) -> None:
        self._pending, self._echo, self._arrival = None, None, None
        commands = split_commands(text)
        if len(commands) != 1:
            return
        try:
            parsed = parse_command(split_sink(commands[0])[0], self.executor.backend.engine)
        except UsageError:
            return  # the shell reports it when it runs the line
        if parsed is None or not self.executor.starts_at_enter(parsed):
            return
        sink = split_sink(commands[0])[1]
        if sink is None and not self.executor.state.timing:
            self._arrival = Arrival(self._show_with_prompt)
        arrived = self._arrival.arrived if self._arrival is not None else None
        task = start_now(self.executor.run(parsed, arrived))  # the request leaves from here
        self._pending = commands[0], task, self._arrival
        if "\n" not in text:  # one screen line (or wrapped): printing it shows what the final drawing showed
            self._echo = text  # highlighted in ``shown``, once the request is on its way
            self.session.app.erase_when_done = True

    def shown(self) -> None:
        """The prompt returned: put the accepted line back on the screen if only erased (call it first)."""
        app = self.session.app
        text, self._echo = self._echo, None
        if text is not None and app.erase_when_done:
            app.erase_when_done = False
            self.prompt_line.echo(text)
        if self._arrival is not None:
            self._arrival.may_show.set()
            self._arrival = None

    def _show_with_prompt(self, outcome: Outcome) -> bool:
        def prompt() -> None:
            self.prompt_printed = self.prompt_line.show()

        return self.answers.show_at_once(outcome, prompt)

    def take(self, line: str) -> tuple[asyncio.Future[Outcome] | None, Arrival | None]:
        """The command already running ``line`` and its answer's ``Arrival``, if Enter started it; else
        (None, None): the caller starts it."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None, None
        if pending[0] == line:
            return pending[1], pending[2]
        pending[1].cancel()  # never expected: a request whose answer nobody would show is stopped
        if pending[2] is not None:
            pending[2].settle()
        return None, None

    def discard(self) -> None:
        """Nothing will run the accepted line (the shell is leaving): stop its request."""
        self.take("")
