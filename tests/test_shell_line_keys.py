"""Keys of the prompt's line editor as a user presses them, in a real pty (pexpect, pyte) against a
real server: how a history search ends and says it failed, vi's change-word, Ctrl-\\ as Ctrl-C."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, console_env

from conftest import Served

#: Cells of the prompt before the typed line.
PROMPT_CELLS = len("admin@example.com on server> ")


@pytest.fixture
def console(served: Served, tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    """The installed console in a 24x100 pty whose history holds three lines, oldest first."""
    history = tmp_path / "data" / "flare-console" / "history"
    history.parent.mkdir(parents=True)
    history.write_text("".join(f"\n# 2026-01-01 00:00:0{i}\n+{line}\n"
                               for i, line in enumerate(["help bye", "help monitors", "help timing"])))
    child = pexpect.spawn(CONSOLE, ["--kit", str(served.project.admin_kit)], encoding="utf-8", timeout=20,
                          env=console_env(tmp_path, NO_COLOR="1"), dimensions=(24, 100))
    screen = Screen(child, 24, 100)
    try:
        screen.wait_for(r"on server>\s*\Z")
        yield child, screen
    finally:
        child.terminate(force=True)


def line_shown(screen: Screen, expected: str) -> None:
    """Wait until the prompt's line (the last one on the screen) reads ``expected``."""
    typed = re.escape(" " + expected) if expected else ""  # (the screen's lines are read without trailing blanks)
    screen.wait_for(rf"on server>{typed}\s*\Z", timeout=10)


def cursor_at(screen: Screen, column: int, timeout: float = 10.0) -> None:
    """Wait until the cursor is in ``column`` of the prompt's line (vi: a key after Esc is read as a
    key of navigation mode only once the Esc is taken alone, and the cursor moves then)."""
    deadline = time.monotonic() + timeout
    while screen.screen.cursor.x != PROMPT_CELLS + column:
        if time.monotonic() > deadline:
            raise AssertionError(f"cursor at {screen.screen.cursor.x - PROMPT_CELLS}, not {column}:\n{screen.text}")
        screen.pump()


def cleared(child: pexpect.spawn, screen: Screen) -> None:
    """Ctrl-C: the line is emptied (and the search starts again from the newest entry)."""
    child.sendcontrol("c")
    line_shown(screen, "")


def ran(screen: Screen, output: str) -> None:
    """Wait until ``output`` shows, followed by a new, empty prompt."""
    screen.wait_for(rf"{re.escape(output)}\n(.*\n)*admin@example\.com on server>\s*\Z")


@pytest.mark.timeout(60)
def test_ctrl_r_then_enter_runs_the_line_found_other_keys_leave_it_to_edit(console) -> None:
    child, screen = console
    # Enter runs the line found at once, as bash and pgcli do (prompt_toolkit only put it in the line).
    child.send("help")
    child.sendcontrol("r")
    child.send("monit")
    screen.wait_for(r"help monitors")
    child.send("\r")
    ran(screen, "list the background monitors")
    # Esc leaves it to edit, the cursor on the match: typed text goes in there.
    child.sendcontrol("r")
    child.send("bye")
    screen.wait_for(r"help bye")
    child.send("\x1b")
    child.send("X")
    line_shown(screen, "help Xbye")
    cleared(child, screen)
    # Ctrl-G gives back the line as it was before the search.
    child.send("help x")  # (no history entry starts so: no suggestion drawn after it)
    child.sendcontrol("r")
    child.send("timing")
    screen.wait_for(r"help timing")
    child.sendcontrol("g")
    line_shown(screen, "help x")
    cleared(child, screen)
    # Left and Right leave the search on the line found and move the cursor.
    child.sendcontrol("r")
    child.send("timing")
    screen.wait_for(r"help timing")
    child.send("\x1b[D")
    child.send("Y")
    line_shown(screen, "helpY timing")
    cleared(child, screen)
    # Up and Down leave it too, and go to the history entry before (after) the one found.
    child.sendcontrol("r")
    child.send("monitors")
    screen.wait_for(r"help monitors")
    child.send("\x1b[A")  # (the newest match is the line run above: the entry before it)
    line_shown(screen, "help timing")
    cleared(child, screen)
    # An empty search ended by Enter runs the line as it was (not the last search again).
    child.send("help bye")
    child.sendcontrol("r")
    child.send("\r")
    ran(screen, "stop monitors, close the session and leave")


@pytest.mark.timeout(60)
def test_keys_in_a_history_search_act_as_bashs(console) -> None:
    """Each checked against bash 5.2 in a pty: Ctrl-G gives the line back after a search that went on
    past its last match; a key that moves or edits ends the search on the line found, then acts."""
    child, screen = console
    child.send("help x")
    child.sendcontrol("r")
    child.send("timing")
    screen.wait_for(r"help timing")
    child.sendcontrol("r")  # no older match: prompt_toolkit put the match in the line here
    screen.wait_for(r"timing")
    child.sendcontrol("g")
    line_shown(screen, "help x")
    cleared(child, screen)
    for keys, typed, shown in ((["\x1b[C"], "X", "help bXye"),  # Right
                               (["\x05"], "X", "help byeX"),  # Ctrl-E
                               (["\x01"], "X", "Xhelp bye"),  # Ctrl-A
                               (["\x0b"], "X", "help X"),  # Ctrl-K
                               (["\x04"], "X", "help Xye"),  # Ctrl-D
                               (["\x0e"], "", "help monitors")):  # Ctrl-N: the entry after the one found
        child.sendcontrol("r")
        child.send("bye")
        screen.wait_for(r"help bye")
        for key in keys:
            child.send(key)
        child.send(typed)
        line_shown(screen, shown)
        cleared(child, screen)
    # vi: the search began in insert mode and leaves the line in it (prompt_toolkit: navigation mode).
    child.send("set editing vi\r")
    ran(screen, "editing: vi")
    child.sendcontrol("r")
    child.send("bye")
    screen.wait_for(r"help bye")
    child.send("\x1b[CX")
    line_shown(screen, "help bXye")


@pytest.mark.timeout(60)
def test_a_search_that_finds_nothing_says_failed_as_bashs(console) -> None:
    """The last tester's item 2: a search finding nothing looked like one still searching. bash 5.2 says
    ``(failed reverse-i-search)``, also when Ctrl-R again finds nothing older."""
    child, screen = console
    child.sendcontrol("r")
    child.send("monit")
    screen.wait_for(r"\(reverse-i-search\)`monit': help monitors\s*\Z")
    child.send("z")  # the line found stays, as bash's (it went: Enter ran an empty line)
    screen.wait_for(r"\(failed reverse-i-search\)`monitz': help monitors\s*\Z")
    child.send("z")
    screen.wait_for(r"\(failed reverse-i-search\)`monitzz': help monitors\s*\Z")
    child.send("\x7f\x7f")  # found again
    screen.wait_for(r"(?m)^\(reverse-i-search\)`monit': help monitors\s*\Z")
    child.sendcontrol("r")  # no older entry holds it
    screen.wait_for(r"\(failed reverse-i-search\)`monit': help monitors\s*\Z")
    child.sendcontrol("g")
    line_shown(screen, "")
    child.sendcontrol("r")
    child.send("help")
    screen.wait_for(r"(?m)^\(reverse-i-search\)`help': help timing\s*\Z")
    for older in ("help monitors", "help bye"):
        child.sendcontrol("r")
        screen.wait_for(rf"(?m)^\(reverse-i-search\)`help': {older}\s*\Z")
    child.sendcontrol("r")
    screen.wait_for(r"\(failed reverse-i-search\)`help': help bye\s*\Z")
    child.sendcontrol("g")
    line_shown(screen, "")
    # Ctrl-C gives up the line with its search (it emptied only the search's text), Ctrl-\ as Ctrl-C.
    for key in ("\x03", "\x1c"):
        child.send("help x")
        child.sendcontrol("s")  # forward: the same sign
        child.send("zz")
        screen.wait_for(r"\(failed i-search\)`zz': help x\s*\Z")
        child.send(key)
        line_shown(screen, "")
    # At the prompt Ctrl-\ clears the line, as Ctrl-C does.
    child.send("pwd")
    line_shown(screen, "pwd")
    child.send("\x1c")
    line_shown(screen, "")
    # Enter after a failed search runs the line found before it failed (bash: "echo list_jobs" runs).
    child.sendcontrol("r")
    child.send("bye")
    screen.wait_for(r"(?m)^\(reverse-i-search\)`bye': help bye\s*\Z")
    child.send("z")
    screen.wait_for(r"\(failed reverse-i-search\)`byez': help bye\s*\Z")
    child.send("\r")
    ran(screen, "stop monitors, close the session and leave")


@pytest.mark.timeout(60)
def test_vi_cw_changes_to_the_end_of_the_word_as_vim_does(console) -> None:
    # prompt_toolkit's cw is dw then insert: it ate the blank after the word. vim's stops at the word's end.
    child, screen = console
    child.send("set editing vi\r")
    ran(screen, "editing: vi")
    child.send("help aaa bbb.ccc ddd")
    child.send("\x1b")
    cursor_at(screen, len("help aaa bbb.ccc dd"))  # navigation mode: on the last character
    child.send("0w")
    cursor_at(screen, len("help "))
    child.send("cwX")
    line_shown(screen, "help X bbb.ccc ddd")
    child.send("\x1b")
    cursor_at(screen, len("help "))
    child.send("w")
    cursor_at(screen, len("help X "))
    child.send("cWY")  # a WORD: up to the next blank, the dot too
    line_shown(screen, "help X Y ddd")
    child.send("\x1b")
    cursor_at(screen, len("help X "))
    child.send("0dw")  # dw stays as it was: the word and the blank after it
    line_shown(screen, "X Y ddd")
    child.send("c2wZ")  # on a word's last character (X), cw counts that word as the first
    line_shown(screen, "Z ddd")


@pytest.mark.timeout(60)
def test_options_typed_as_flares_argparse_takes_them(console) -> None:
    # FLARE's console (argparse) takes -m1, -rm 1, -m=1; ours said "unknown option -m1".
    child, screen = console
    for line in ("list_jobs -m1", "list_jobs -rm 1", "list_jobs -m=1 -d"):
        child.send(line + "\r")
        ran(screen, f"{line}\n(none)")
    child.send("list_jobs -rx\r")
    screen.wait_for(r"list_jobs: unknown option -x in '-rx'")
    # Completion reads them too: after a bundle with its value, the options left are offered.
    child.send("list_jobs -rm1 --sub\t")
    line_shown(screen, "list_jobs -rm1 --submit-token")


@pytest.mark.timeout(60)
def test_an_open_quote_or_a_trailing_backslash_continues_the_line(console) -> None:
    """bash and psql: Enter with a quote open shows a continuation line ('> ') until it closes (it said
    'No closing quotation'); the line then runs with its line end inside the quotes."""
    child, screen = console
    child.send("list_jobs -n 'hel\r")
    screen.wait_for(r"on server> list_jobs -n 'hel\n>\s*\Z")  # (the screen's lines are read without trailing blanks)
    child.send("lo' -m1\r")  # closed: the whole runs, as one command
    ran(screen, "> lo' -m1\n(none)")
    child.send("help \\\r")  # a backslash before Enter: the next line goes on from it
    screen.wait_for(r"on server> help \\\n>")  # (the menu of help's commands opens below)
    child.send("bye\r")
    ran(screen, "stop monitors, close the session and leave")
    # An open quote inside a comment is no quote; a paste runs its lines, the quoted line end kept in one.
    child.send("help bye # it's\r")
    ran(screen, "stop monitors, close the session and leave")
    child.send("\x1b[200~list_jobs -n 'a\nb'\nhelp timing\n\x1b[201~")
    ran(screen, "show how long each command takes (no argument: switch it)")
    assert "(none)" in screen.text.split("list_jobs -n 'a")[-1], screen.text


@pytest.mark.timeout(60)
def test_alt_dot_yanks_the_last_argument_as_typed_by_the_shells_word_rules(served: Served, tmp_path: Path) -> None:
    """Finding: Alt-. after ``cat site-1 my\\ results.txt`` inserted ``results.txt`` (prompt_toolkit splits at
    every blank). As bash: the word whole, as typed; again, the line before's; Alt-<n> Alt-. word n."""
    history = tmp_path / "data" / "flare-console" / "history"
    history.parent.mkdir(parents=True)
    lines = ["ls server 'round 1/'", r"cat site-1 my\ results.txt"]
    history.write_text("".join(f"\n# 2026-01-01 00:00:0{i}\n+{line}\n" for i, line in enumerate(lines)))
    child = pexpect.spawn(CONSOLE, ["--kit", str(served.project.admin_kit)], encoding="utf-8", timeout=20,
                          env=console_env(tmp_path, NO_COLOR="1"), dimensions=(24, 100))
    screen = Screen(child, 24, 100)
    try:
        screen.wait_for(r"on server>\s*\Z")
        child.send("head site-1 \x1b.")
        line_shown(screen, r"head site-1 my\ results.txt")
        child.send("\x1b.")  # again: the line before's last argument, in its place
        line_shown(screen, "head site-1 'round 1/'")
        cleared(child, screen)
        child.send("tail \x1b1\x1b.")  # Alt-1 Alt-.: word 1 of the newest line
        line_shown(screen, "tail site-1")
        child.send(" \x1b_")  # Alt-_ as Alt-.
        line_shown(screen, r"tail site-1 my\ results.txt")
        cleared(child, screen)
    finally:
        child.terminate(force=True)
