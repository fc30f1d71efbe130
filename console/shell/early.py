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

Where the answer comes on a thread of the backend's own (FLARE's worker), Enter's handler then
puts the prompt away itself (erased, the line echoed, prompt_toolkit told to draw nothing more)
and holds the loop still, its GIL released, until the worker has shown the answer (at most
``SHOW_WAIT``); prompt_toolkit's own putting away (some 1 ms of Python) comes after. Run while
the request was out, that Python competed with FLARE's threads for the GIL and with the
terminal for the cores: ``check_status server`` on FLARE's POC, Enter to the next prompt seen
by a pexpect reader, 7.9 -> 7.5 ms (median of 100 interleaved runs, all at one real-time
priority so that other work on the machine did not decide; ``fl_admin.sh`` 6.8 ms). Keys typed
meanwhile wait in the terminal, as during any command.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.output import Output

from console.shell.answer import Answers
from console.shell.client_side import Outcome
from console.shell.eager import start_now
from console.shell.enter_read import send_on_enter_read
from console.shell.execute import Executor
from console.shell.printing import TERMINAL, is_put_away, put_away
from console.shell.prompt_line import PromptLine
from console.shell.read_ahead import ReadAhead, Sendable, sendable

#: Seconds FLARE's worker waits for the accepted line to be back on the screen before it may show
#: the answer (prompt_toolkit puts the prompt away in 1-2 ms); past that the shell shows it.
SHOW_WAIT = 0.05
#: Seconds the loop stays still once FLARE's worker has shown the answer (see ``EarlySend._hold_for``).
TERMINAL_FIRST = 0.0005
#: Seconds the loop, held, waits before it puts the prompt away: FLARE's request is on its way by then,
#: and the answer, should it come first, ends the wait (see ``EarlySend._hold_for``).
ON_THE_WIRE = 0.002


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
        #: Set once ``arrived`` returned, the answer shown or left to the shell.
        self.handled = threading.Event()
        #: Set as the answer arrives, before ``may_show`` is waited for (``EarlySend._hold_for``).
        self.came = threading.Event()
        self._hold: Callable[[], None] | None = None  # (``hold_at_hand_over``)
        #: The hold given to ``hold_at_hand_over`` ran (the prompt put away, the line echoed, the loop held).
        self.held = False

    def __call__(self, answer: Any) -> None:
        """The answer arrived (``Backend.request``'s ``on_answer``): ``arrived``."""
        self.arrived(answer)

    def hold_at_hand_over(self, hold: Callable[[], None] | None) -> None:
        """``hold()`` is to run on the loop's thread as soon as FLARE's worker has the call (``handed_over``)."""
        self._hold = hold

    def handed_over(self) -> None:
        """On the loop's thread, right after the call was handed to FLARE's worker (``nvflare_worker``): the
        hold given to ``hold_at_hand_over``, once."""
        hold, self._hold = self._hold, None
        if hold is not None:
            self.held = True
            hold()

    def arrived(self, answer: Any) -> None:
        """On the worker thread: show the answer, unless the shell has taken it."""
        try:
            self.came.set()
            if not self.may_show.wait(SHOW_WAIT):
                return
            with self._lock:
                if self._state is _Shown.PENDING and self._show(Outcome(answer)):
                    self._state = _Shown.BY_WORKER
        finally:
            self.handled.set()

    @property
    def shown_by_worker(self) -> bool:
        return self._state is _Shown.BY_WORKER

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

        self._sent_at_read: str | None = None  # the text ``send_at_read`` sent, until Enter accepts it

        def accept_and_send(buff: Any) -> bool:
            text = buff.document.text
            if self._sent_at_read != text:
                self._send(text)
                self._put_away(text)
            self._sent_at_read = None
            return accept(buff)

        buffer.accept_handler = accept_and_send
        session.app.key_processor.after_key_press += self._not_accepted
        self._ahead: ReadAhead[Arrival] = ReadAhead(executor.backend.engine, executor.starts_at_enter,
                                                    self._made_ahead)
        buffer.on_text_changed += lambda buff: self._ahead.typed(lambda: buff.text)
        send_on_enter_read(session, self.send_at_read, self._ahead.continues)

    def send_at_read(self, text: str) -> None:
        """Enter was read with ``text`` at the prompt: send its command now, before prompt_toolkit has
        looked Enter's bindings up (``enter_read``), and put the prompt away; the accept that follows
        finds both done."""
        self._send(text)
        self._sent_at_read = text if self._pending is not None else None
        if self._sent_at_read is not None:
            self._put_away(text)

    def _not_accepted(self, _: object) -> None:
        """After each key: a command sent at Enter's read that Enter did not accept (a binding took the
        key otherwise) is stopped, its answer never shown (a read-only request: nothing else to undo)."""
        if self._sent_at_read is not None:
            self._sent_at_read = None
            self.discard()
            self._arrival = None
            self._echo = None
            app = self.session.app
            app.erase_when_done = False
            if is_put_away(app):  # its line and answer stay printed; the prompt comes back below them
                put_away(app, False)
                app.renderer.reset()
                app.invalidate()

    def _send(self, text: str) -> None:
        self._pending, self._echo, self._arrival = None, None, None
        ahead = self._ahead.take(text)  # (``read_ahead``: read while it was typed)
        if ahead is None:
            found = sendable(text, self.executor.backend.engine, self.executor.starts_at_enter)
            ahead = found, self._arrival_for(found) if found is not None else None
        found, arrival = ahead
        if found is None:
            return  # not one command sent at Enter (a usage error: the shell reports it when it runs the line)
        if not self.executor.state.timing:  # (with ``\timing``, its line follows the answer: the shell shows it)
            self._arrival = arrival
        arrival = self._arrival
        if arrival is not None and self._holds(text):  # (``_hold_for``, run by FLARE's worker's hand-over)
            arrival.hold_at_hand_over(lambda: self._hold_for(arrival, text))
        task = start_now(self.executor.run(found.parsed, arrival))  # the request leaves from here
        if arrival is not None:
            arrival.hold_at_hand_over(None)  # (not handed over: ``_put_away`` holds)
        self._pending = found.command, task, arrival

    def _arrival_for(self, found: Sendable) -> Arrival | None:
        return Arrival(self._show_with_prompt) if found.to_screen else None

    def _made_ahead(self, line: str, found: Sendable) -> Arrival | None:
        """What ``read_ahead`` makes while ``line`` is typed: its answer's Arrival, and its echo (kept by
        ``PromptLine.echo_text``) where ``_hold_for`` will print it."""
        arrival = self._arrival_for(found)
        if arrival is not None and self.executor.backend.answers_off_loop and "\n" not in line:
            self.prompt_line.echo_text(line)
        return arrival

    def _put_away(self, text: str) -> None:
        """Enter accepted ``text``, its command sent: the prompt only erased at its end and the line printed
        in ``shown``, or all of it now (``_hold_for``)."""
        if self._pending is None or "\n" in text:  # (several screen lines: the final drawing shows them)
            return
        self.session.app.erase_when_done = True
        arrival = self._arrival
        if arrival is not None and arrival.held:  # put away and held as FLARE's worker took the call
            return
        self._echo = text  # highlighted in ``shown``, once the request is on its way
        if arrival is not None and self._holds(text):
            self._hold_for(arrival, text)

    def _holds(self, text: str) -> bool:
        """Whether the loop is held until the answer of ``text`` is shown (``_hold_for``): a one-line command
        whose answer comes on the backend's own thread, no key read with the Enter (a Ctrl-C among them is
        handled first)."""
        return ("\n" not in text and self.executor.backend.answers_off_loop
                and not self.session.app.key_processor.input_queue)

    def _hold_for(self, arrival: Arrival, text: str) -> None:
        """Put the prompt away now and hold the loop until the worker has handled ``arrival`` (see above;
        run as FLARE's worker takes the call: ``nvflare_worker``'s ``handed_over``),
        then ``TERMINAL_FIRST`` more: the terminal is a process of its own that has the answer to read
        and draw, and prompt_toolkit's handling of Enter that follows (0.35 ms of Python) kept it from
        a core on a busy machine (the pty hands written bytes on through a kernel worker that needs one
        too). The answer written -> read by a pexpect reader, ``check_status server`` on FLARE's POC,
        median of 40, all at one real-time priority: 0.41-0.45 -> 0.12-0.16 ms.

        The prompt's erasing and the echoed line (made while it was typed: ``PromptLine.echo_text``) wait
        in the output's buffer and go out in the worker's one write of the answer: written at once, they
        were Python and a write (waking the terminal) while FLARE's call went out and was answered, and
        FLARE's call took 0.2 ms longer than in ``fl_admin.sh`` (timestamps in both consoles, ``list_jobs``
        on FLARE's POC, 60 interleaved runs at one real-time priority); without them, as long. Should
        the worker not show the answer within the hold, they are written then.

        Putting the prompt away (the echo's and the renderer's erasing: 0.1 ms of Python) waits
        ``ON_THE_WIRE`` first, or until the answer came: done at once, it held the GIL while FLARE's
        worker, just handed the call, waited for it, and FLARE's own Python that sends the request
        started that much later; ``ON_THE_WIRE`` later, FLARE's threads wait for the server. FLARE's
        worker starting its call, ``list_jobs`` on FLARE's POC, median of 40 interleaved traced runs at
        one real-time priority: 0.66 -> 0.55 ms after Enter; its request at the socket thread 1.50 ->
        1.41 ms (``fl_admin.sh`` 1.27). An answer that comes sooner (a fast server) waits for it as it
        waited before: the worker shows nothing before ``may_show``."""
        arrival.came.wait(ON_THE_WIRE)  # (see below)
        app = self.session.app
        output = app.output
        echo = self.prompt_line.echo_text(text)
        with TERMINAL:
            # The prompt's drawing gone, as its end would erase it; the renderer starts afresh.
            if echo is None:  # (an output that is not a terminal's: written at once)
                app.renderer.erase()
            else:
                _unflushed(output, app.renderer.erase)
                output.write_raw(echo)
                self.prompt_line.on_screen = False
            put_away(app, True)
        self._echo = None
        if echo is None:
            self.prompt_line.echo(text)
        arrival.may_show.set()
        if arrival.handled.wait(SHOW_WAIT) and arrival.shown_by_worker:
            time.sleep(TERMINAL_FIRST)
        else:
            with TERMINAL:
                output.flush()  # the erasing and the line, unless a line printed meanwhile took them out

    def shown(self) -> None:
        """The prompt returned: put the accepted line back on the screen if only erased (call it first)."""
        app = self.session.app
        put_away(app, False)
        text, self._echo = self._echo, None
        if app.erase_when_done:
            app.erase_when_done = False
            if text is not None:  # (put away by ``_hold_for``: echoed there)
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


def _unflushed(output: Output, write: Callable[[], None]) -> None:
    """``write()`` to ``output`` with its flushes held back: what it wrote stays in the output's buffer
    until the next flush (prompt_toolkit's Vt100_Output writes nothing before it)."""
    output.flush = _nothing  # type: ignore[method-assign]
    try:
        write()
    finally:
        del output.flush


def _nothing() -> None:
    pass
