"""The console in small terminals, in a real pty through a terminal emulator: the toolbar fitted to the
width (parts dropped whole, the connection state and its advice kept), the vi mode shown, a 10-row window
keeping the output on the screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from screen import Screen, tmux_screen
from shell_helpers import CONSOLE, PROMPT, console_env

from conftest import ADMIN, Served, wait_until
from jobs import hello_server


def _spawn(admin_kit: Path, home: Path, rows: int, cols: int) -> tuple[pexpect.spawn, Screen]:
    child = pexpect.spawn(CONSOLE, ["--kit", str(admin_kit)], cwd=str(home),
                          env={**console_env(home, NO_COLOR="1", PAGER="cat"), "PROMPT_TOOLKIT_NO_CPR": "0"}, encoding="utf-8", timeout=20,
                          dimensions=(rows, cols))
    screen = tmux_screen(child, rows, cols)
    # Answer the console's cursor position reports as a terminal does: prompt_toolkit then knows the rows
    # below the prompt and draws the toolbar at the bottom.
    screen.screen.write_process_input = child.send  # type: ignore[method-assign]
    return child, screen


@pytest.fixture
def narrow(server, project, tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    """A 60x10 console on a server of its own (the test shuts it down)."""
    child, screen = _spawn(project.admin_kit, tmp_path, 10, 60)
    try:
        yield child, screen
    finally:
        if child.isalive():
            child.terminate(force=True)


def _bottom(screen: Screen) -> str:
    return screen.screen.display[-1].rstrip()


@pytest.mark.timeout(60)
def test_toolbar_fits_the_width_output_stays_in_a_small_window_and_vi_mode_shows(
        narrow: tuple[pexpect.spawn, Screen]) -> None:
    """Findings 8, 9, 20 of the ninth user: the toolbar was cut mid-word ("[F2] f"), "bye leaves" lost
    when shut down; at 10 rows the menu's 8 reserved rows pushed an answer into the scrollback; vi keys
    showed no mode."""
    child, screen = narrow
    screen.wait_for(r" connected ")
    # 60 columns: parts dropped whole, by priority; none cut mid-word.
    assert _bottom(screen) == " admin@example.com on server  connected  [F4] keys: emacs"
    # 10 rows: the answer stays on the screen, right above the prompt; 2 rows kept for the menu.
    child.send("check_status server\r")
    shown = screen.wait_for(r"clients +\(none\)\nadmin@example.com on server> *\n\n\n \S")
    assert "engine_status" in screen.text[:shown.start()], screen.text
    child.send("set editing vi\r")
    screen.wait_for(r"keys: vi INSERT")
    child.send("\x1b")
    screen.wait_for(r"keys: vi NORMAL")
    child.send("i")
    screen.wait_for(r"keys: vi INSERT")
    # 40 columns: the state and the vi mode are what is left.
    child.setwinsize(10, 40)
    screen.screen.resize(10, 40)
    screen.wait_for(r"\n connected  \[F4\] keys: vi INSERT *\Z")
    # Shut down by this console: its advice kept at any width (a shorter wording when even it is too wide).
    child.send("shutdown server --yes\r")
    screen.wait_for(r"\n server shut down by you: bye leaves *\Z")
    child.setwinsize(10, 30)
    screen.screen.resize(10, 30)
    screen.wait_for(r"\n shut down: bye leaves *\Z")
    child.send("bye\r")
    child.expect(pexpect.EOF)


@pytest.mark.timeout(60)
def test_a_second_follow_of_a_job_says_what_it_replaced(served: Served, tmp_path: Path) -> None:
    """Finding 10: a second follow of the same job silently replaced the first (the server keeps one
    stream per job): said, with how to follow every target; the same target again is said too."""
    from console.flare_api import new_secure_session

    child, screen = _spawn(served.project.admin_kit, tmp_path, 24, 200)
    with new_secure_session(ADMIN, str(served.project.admin_kit), timeout=10) as session:
        job = session.submit_job(str(hello_server(tmp_path, name="followed", steps=300, step_seconds=0.2)))[:8]
        try:
            screen.wait_for(r"on server>")
            child.send(f"follow {job}\r")
            screen.wait_for(rf"following the log of {job} \(followed\) on server in the background; 'unfollow'")
            child.send(f"follow {job} all -n 0\r")
            screen.wait_for(rf"following the log of {job} \(followed\) on server in the background, instead of "
                            rf"server \(one follow per job; 'follow {job} all' follows every target\); 'unfollow'")
            child.send(f"follow {job} all -n 1\r")
            screen.wait_for(r"in the background, again from its last 1 lines \(it was followed already\)")
            child.send("monitors\r")
            screen.wait_for(r"log: all")
            assert "log: server" not in screen.text
            child.send("bye\r")
            child.expect(pexpect.EOF)
        finally:
            session.abort_job(job)
            if child.isalive():
                child.terminate(force=True)


@pytest.mark.timeout(60)
def test_names_with_joiners_that_emoji_and_scripts_need_are_accepted_and_shown(served: Served,
                                                                                tmp_path: Path) -> None:
    """Finding 13: U+200D refused 👩‍💻 and Indic/Persian names needing ZWJ/ZWNJ; they are accepted,
    while a joiner elsewhere and a bidi override stay refused."""
    child, _ = _spawn(served.project.admin_kit, tmp_path, 24, 200)
    names = {"coder": "👩\u200d💻-dev", "persian": "می\u200cخواهم"}  # (the neighbours: test_shell_units)
    refused = {"hidden": ("ad\u200dmin", "U+200D")}
    try:
        child.expect(PROMPT)
        for key, name in names.items():
            folder = hello_server(tmp_path, name=key, steps=1, step_seconds=0.01)
            meta = json.loads((folder / "meta.json").read_text())
            (folder / "meta.json").write_text(json.dumps({**meta, "name": name}))
            child.send(f"submit_job {folder}\r")
            child.expect(r"Submitted job: ([0-9a-f-]{36})")
            job = child.match.group(1)
            child.expect(PROMPT)
            child.send(f"get_job_meta {job[:8]}\r")
            # Shown as it is; an emoji's joiner as its escape (terminals disagree on the joined emoji's width).
            child.expect_exact(name.replace("\u200d💻", "\\u200d💻"))
            child.expect(PROMPT)
        for key, (name, code) in refused.items():
            folder = hello_server(tmp_path, name=key, steps=1, step_seconds=0.01)
            meta = json.loads((folder / "meta.json").read_text())
            (folder / "meta.json").write_text(json.dumps({**meta, "name": name}))
            child.send(f"submit_job {folder}\r")
            child.expect_exact(f"holds the control or format character {code}")
            child.expect(PROMPT)
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)


@pytest.mark.timeout(60)
def test_tab_after_a_redirection_completes_local_files(served: Served, tmp_path: Path) -> None:
    """Finding 18: no path completion after '>'/'>>': files and folders complete there as in bash, a
    name with a blank escaped so the line reads it back; the redirection writes there."""
    (tmp_path / "out dir").mkdir()
    (tmp_path / "out dir" / "jobs-before.txt").write_text("old\n")
    child, _ = _spawn(served.project.admin_kit, tmp_path, 24, 200)
    try:
        child.expect(PROMPT)
        child.send("check_status server >> out\t")
        child.expect_exact("\\ dir/")  # the rest of the word, its blank escaped
        child.send("jobs-b\t")
        child.expect_exact("efore.txt")
        child.send("\r")
        written = tmp_path / "out dir" / "jobs-before.txt"
        wait_until(lambda: written.read_text() != "old\n", 20, "the answer appended to the completed file")
        assert written.read_text().startswith("old\n")  # appended to, as >> does
        child.send("bye\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
