"""Enter sends a command that only asks the server at once, before the prompt is put away.

Owns the accept hook of the shell's ``PromptSession`` and the line it leaves on the screen for such
a command; what a command does stays ``Executor``'s, how its answer is shown stays the shell's.

Why: when Enter is pressed prompt_toolkit draws the whole layout once more in its final state
(the line without toolbar and menus) and leaves raw mode before ``prompt_async`` returns. On a
2-core machine that was 2-4 ms of Python holding the GIL before the request could even start
(measured with timestamps in the console on FLARE, where a round trip is 8-10 ms). So Enter's
own handler starts the request (run at once up to its sending: ``eager.py``), and for such a line prompt_toolkit only erases the prompt; the
line (prompt and highlighted command, as the final drawing showed it) is printed in one write
(about 0.2 ms) while the request is on its way.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prompt_toolkit import PromptSession

from console.shell.client_side import Outcome
from console.shell.eager import start_now
from console.shell.execute import Executor
from console.shell.parse import UsageError, parse_command, split_commands, split_sink
from console.shell.prompt_line import PromptLine


class EarlySend:
    """The command of the line just accepted, started from Enter's handler (``take`` hands it over)."""

    def __init__(self, session: PromptSession[str], executor: Executor, prompt_line: PromptLine) -> None:
        self.session = session
        self.executor = executor
        self.prompt_line = prompt_line
        self._pending: tuple[str, asyncio.Future[Outcome]] | None = None
        self._echo: str | None = None  # the line to print again in ``shown``
        buffer = session.default_buffer
        accept = buffer.accept_handler
        assert accept is not None, "PromptSession's buffer has its accept handler"

        def accept_and_send(buff: Any) -> bool:
            self._start(buff.document.text)
            return accept(buff)

        buffer.accept_handler = accept_and_send

    def _start(self, text: str) -> None:
        self._pending, self._echo = None, None
        commands = split_commands(text)
        if len(commands) != 1:
            return
        try:
            parsed = parse_command(split_sink(commands[0])[0], self.executor.backend.engine)
        except UsageError:
            return  # the shell reports it when it runs the line
        if parsed is None or not self.executor.starts_at_enter(parsed):
            return
        self._pending = commands[0], start_now(self.executor.run(parsed))  # the request leaves from here
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

    def take(self, line: str) -> asyncio.Future[Outcome] | None:
        """The command already running ``line``, if Enter started it; else None (the caller starts it)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if pending[0] == line:
            return pending[1]
        pending[1].cancel()  # never expected: a request whose answer nobody would show is stopped
        return None

    def discard(self) -> None:
        """Nothing will run the accepted line (the shell is leaving): stop its request."""
        self.take("")
