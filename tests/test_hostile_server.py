"""What the console does with a hostile or broken server's answers (tests/hostile_server.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pexpect
import pytest
from hostile_server import hostile_server, login_answer
from shell_helpers import CONSOLE, console_env, run_console

MALFORMED_LOGINS = {
    "a list": [1, 2],
    "user as text": login_answer(user="admin"),
    "a start time that is no number": login_answer(server_start_time="soon"),
    "rights as a list": login_answer(rights=["all"]),
}


@pytest.mark.timeout(120)
def test_a_malformed_login_answer_is_refused_with_words_not_a_traceback(project, tmp_path: Path) -> None:
    for what, answer in MALFORMED_LOGINS.items():
        with hostile_server(project.server_kit, answer):
            done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", "list_jobs", timeout=60)
        assert "Traceback" not in done.stderr, (what, done.stderr)
        assert "answer to login is malformed" in done.stdout + done.stderr, (what, done.stdout, done.stderr)
        assert done.returncode != 0, what


@pytest.mark.timeout(120)
def test_an_endless_answer_is_cut_and_the_connection_dropped(project, tmp_path: Path) -> None:
    """A server that announces a 1 TiB JSON answer and keeps sending: the console gives up at its
    cap (64 MiB), says why, and never holds the flood."""
    with hostile_server(project.server_kit, login_answer(), flood=True):
        done = run_console(tmp_path, "--kit", str(project.admin_kit), "-c", "list_jobs", timeout=90)
    assert re.search(r"the answer to list_jobs grew past [\d,]+ bytes", done.stdout + done.stderr), done
    assert "Traceback" not in done.stderr and done.returncode != 0


@pytest.mark.timeout(120)
def test_names_in_the_login_answer_reach_the_prompt_escaped(project, tmp_path: Path) -> None:
    answer = login_answer(server="srv\u009b31m\x07", user={"name": "admin\x08\x08x", "org": "example",
                                                           "role": "project_admin"})
    with hostile_server(project.server_kit, answer):
        child = pexpect.spawn(CONSOLE, ["--kit", str(project.admin_kit)], env=console_env(tmp_path, NO_COLOR="1"),
                              encoding="utf-8", timeout=30, dimensions=(30, 120))
        try:
            # The prompt shows the characters, escaped (styles may sit between its parts).
            child.expect(re.escape("srv\\x9b31m\\x07") + r"(\x1b\[[0-9;]*m)*> ")
            assert "admin\\x08\\x08x on " in child.before
            child.send("bye\r")
            child.expect(pexpect.EOF)
        finally:
            child.terminate(force=True)
        raw = child.before or ""
    assert "\u009b" not in raw and "\x07" not in raw.replace("\x1b]", "")
