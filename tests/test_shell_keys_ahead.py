"""Keys typed ahead (while a command runs, or in one burst) act at the next prompt as typed there:
Tab, Down and Right find the menu and the suggestion that typing opens (console/shell/keys_ahead.py)."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, console_env

from conftest import wait_until
from jobs import waiting_for_sites

pytestmark = pytest.mark.timeout(120)

DOWN = "\x1b[B"
RIGHT = "\x1b[C"


@pytest.fixture
def console(server, project, tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1"),
                          encoding="utf-8", timeout=20, dimensions=(30, 120))
    screen = Screen(child, 30, 120)  # reads all the output from the start: the screen is whole
    try:
        screen.wait_for(r"admin@example\.com on server>")
        yield child, screen
    finally:
        if child.isalive():
            child.terminate(force=True)


def prompt_line(screen: Screen) -> str | None:
    """The text at the last prompt on the screen, once the line is drawn (None before)."""
    screen.pump()
    lines = [line for line in screen.text.splitlines() if " on server>" in line]
    return lines[-1].split(" on server>", 1)[1].strip() if lines else None


def typed_ahead(child: pexpect.spawn, screen: Screen, server, keys: str) -> None:
    """``keys`` typed while ``check_status server`` waits for a stopped server (the prompt is gone)."""
    server.process.send_signal(signal.SIGSTOP)
    try:
        child.send("check_status server\r")
        screen.wait_for(r"on server> check_status server\n\s*\Z")  # run: no prompt below it
        child.send(keys)
    finally:
        server.process.send_signal(signal.SIGCONT)
    screen.wait_for(r"engine_status(.*\n)+.*on server> ")  # the answer, then the prompt with the keys


def settles_at(screen: Screen, line: str, menu: str | None = None) -> None:
    def there() -> bool:
        return prompt_line(screen) == line and (menu is None or menu in screen.text)

    wait_until(there, 20, f"the prompt to read {line!r}")


def test_tab_down_and_right_typed_ahead_act_as_at_the_prompt(console, server, session, tmp_path: Path) -> None:
    child, screen = console
    # At the prompt: the menu opens while typing, Tab takes its first entry and leaves it open.
    child.send("rep")
    screen.wait_for(r"report_version")
    child.send("\t")
    settles_at(screen, "report_env", menu="report_version")
    child.sendcontrol("c")
    settles_at(screen, "")

    # The same keys typed while a command runs: the same line (the Tab was lost when ambiguous).
    typed_ahead(child, screen, server, "rep\t")
    settles_at(screen, "report_env", menu="report_version")
    child.sendcontrol("c")
    typed_ahead(child, screen, server, f"rep{DOWN}{DOWN}")  # Down walks the menu, not the history
    settles_at(screen, "report_resources", menu="report_version")
    child.sendcontrol("c")
    typed_ahead(child, screen, server, "list_j\t")  # one match: taken, menu closed
    settles_at(screen, "list_jobs")
    assert "list jobs," not in screen.text.split("on server> list_jobs")[-1]
    child.sendcontrol("c")
    typed_ahead(child, screen, server, f"che{RIGHT}")  # Right takes the grey suggestion from history
    settles_at(screen, "check_status server")
    child.sendcontrol("c")

    # Job IDs: the menu of jobs, newest first; the Tab takes the newest.
    first = session.submit_job(str(waiting_for_sites(tmp_path / "a", name="older")))
    newest = session.submit_job(str(waiting_for_sites(tmp_path / "b", name="newer")))
    child.send("refresh\r")
    screen.wait_for(r"completion data refreshed: 2 jobs")
    typed_ahead(child, screen, server, "get_job_meta \t")
    settles_at(screen, f"get_job_meta {newest}", menu=first[:8])

    # A paste's rest is the next prompt's text, not typed: Tab there inserts the common part and
    # opens the menu, as Tab on a line recalled from history does.
    child.sendcontrol("c")
    child.send("\x1b[200~help bye\nrep\x1b[201~\t")
    screen.wait_for(r"usage: bye")
    settles_at(screen, "report_", menu="report_version")
    assert not re.search(r"report_env\s*$", prompt_line(screen) or "")
    child.sendcontrol("c")
    child.send("bye\r")
    child.expect(pexpect.EOF)
