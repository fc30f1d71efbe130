"""Tab completes the paths of ls/cat/head/tail/grep from the server's or a site's own folder.

The installed console in a real pty (pexpect, read through a terminal emulator) against a real
server and two real sites, one federation for the module; each test's files are its own.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from screen import Screen
from shell_helpers import CONSOLE, console_env

from conftest import (
    ADMIN,
    PartProcess,
    Project,
    ServerProcess,
    SiteProcess,
    make_project,
    start_together,
    stop_together,
    wait_until,
)

MEMBER = "member@example.com"
ROWS, COLS = 30, 120


@dataclass
class Federation:
    project: Project
    sites: dict[str, PartProcess]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """A server and both sites (with a member's kit beside the admin's), stopped after the module."""
    project = make_project(tmp_path_factory.mktemp("remote-paths"),
                           extra=[{"name": MEMBER, "type": "admin", "org": "example", "role": "member"}])
    server = ServerProcess(project.server_kit)
    sites = {name: SiteProcess(project.kit(name)) for name in ("site-1", "site-2")}
    try:
        server.start()
        start_together(list(sites.values()))
        yield Federation(project, sites)
    finally:
        for site in sites.values():  # a test that froze one and failed: it must take its SIGTERM
            if site.process is not None and site.process.poll() is None:
                site.process.send_signal(signal.SIGCONT)
        stop_together(list(sites.values()))
        stop_together([server])


@contextlib.contextmanager
def _console(project: Project, user: str, home: Path) -> Iterator[tuple[pexpect.spawn, Screen]]:
    """The installed console in a pty, logged in as ``user``, at its first prompt; stopped after."""
    child = pexpect.spawn(CONSOLE, ["--kit", str(project.kit(user))], env=console_env(home, NO_COLOR="1"),
                          encoding="utf-8", timeout=20, dimensions=(ROWS, COLS))
    try:
        screen = Screen(child, ROWS, COLS)
        screen.wait_for(rf"{re.escape(user)} on server>")
        yield child, screen
        child.send("\x15bye\r")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)


def _line(screen: Screen) -> str:
    """The prompt's line as shown (the last prompt on the screen), without the prompt."""
    screen.pump()
    lines = [line for line in screen.text.splitlines() if " on server>" in line]
    return lines[-1].split(" on server>", 1)[1][1:] if lines else ""


def _typed_to(screen: Screen, text: str, timeout: float = 20) -> None:
    wait_until(lambda: _line(screen) == text, timeout, f"the line to read {text!r} (it reads {_line(screen)!r})")


def _answered(child: pexpect.spawn, screen: Screen, pattern: str) -> None:
    """Run the line as it is and wait for ``pattern`` in its answer."""
    child.send("\r")
    screen.wait_for(pattern)


@pytest.mark.timeout(120)
def test_tab_completes_names_of_the_server_and_a_site_folder(federation: Federation, tmp_path: Path) -> None:
    project = federation.project
    server_dir, site_dir = project.server_kit, project.kit("site-1")
    (server_dir / "results" / "round-1").mkdir(parents=True)
    (server_dir / "results" / "round-1" / "weights.txt").write_text("")
    (server_dir / "results" / "model final.txt").write_text("the final model\n")
    (server_dir / "results" / "it's.txt").write_text("quoted\n")
    (server_dir / "notes.txt").write_text("first note\nsecond note\n")
    (server_dir / ".hidden.txt").write_text("hidden text\n")
    (server_dir / "evidence.txt").write_text("evident\n")
    (server_dir / "evil\x1b[31m.txt").write_text("never offered\n")  # an escape sequence in a name
    (site_dir / "site-notes.txt").write_text("a site's note\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside the workspace\n")
    (server_dir / "escape").symlink_to(tmp_path / "outside")  # a link out of the server's folder
    with _console(project, ADMIN, tmp_path) as (child, screen):
        # A name in the server's folder; the completed line runs.
        child.send("cat server no\t")
        _typed_to(screen, "cat server notes.txt")
        _answered(child, screen, r"first note\nsecond note")
        # A folder completes with its '/', and Tab goes on inside it, quoting as the local paths do.
        child.send("cat server res\t")
        _typed_to(screen, "cat server results/")
        child.send("mo\t")
        _typed_to(screen, r"cat server results/model\ final.txt")
        _answered(child, screen, r"the final model")
        child.send("head server results/it\t")
        _typed_to(screen, r"head server results/it\'s.txt")
        _answered(child, screen, r"\nquoted\n")
        # Several names: the menu, with folders shown with their '/'; no hidden names unless asked.
        child.send("\x15ls server results/\t")
        screen.wait_for(r"round-1/")
        assert "model final.txt" in screen.text and "it's.txt" in screen.text, screen.text
        child.send("\x15tail server .h\t")
        _typed_to(screen, "tail server .hidden.txt")
        _answered(child, screen, r"hidden text")
        child.send("\x15cat server \t")
        screen.wait_for(r"notes\.txt")
        assert ".hidden.txt" not in screen.text.split("tail server .hidden.txt")[-1], screen.text
        # A name with a control character is never offered: "evi" has the one match left.
        child.send("\x15cat server evi\t")
        _typed_to(screen, "cat server evidence.txt")
        # grep: the pattern is not a path; the file after it is.
        child.send("\x15grep server no\t")
        child.send(" no\t")
        _typed_to(screen, "grep server no notes.txt")
        _answered(child, screen, r"first note\nsecond note")
        # Without Tab: the menu typing opens shows a folder's names once they arrive (site-1's, not asked yet).
        child.send("\x15head site-1 ")
        screen.wait_for(r"site-notes\.txt")
        # A site's folder, asked of the site.
        child.send("\x15tail site-1 site-n\t")
        _typed_to(screen, "tail site-1 site-notes.txt")
        _answered(child, screen, r"a site's note")
        # Options before the target (the finding: nothing offered): the target is still the target.
        child.send("tail -n 2 site-1 site-n\t")
        _typed_to(screen, "tail -n 2 site-1 site-notes.txt")
        _answered(child, screen, r"a site's note")
        child.send("\x15grep -i server NO no\t")
        _typed_to(screen, "grep -i server NO notes.txt")
        _answered(child, screen, r"first note\nsecond note")
        child.send("\x15ls -a server res\t")
        _typed_to(screen, "ls -a server results/")
        # Nothing outside the folder, as the command refuses it: '..' and absolute paths stay as typed.
        child.send("\x15cat server ../\t\r")
        screen.wait_for(r"cat server \.\./\n.*path outside the workspace is not allowed")
        child.send("cat server /\t\r")
        screen.wait_for(r"cat server /\n.*path outside the workspace is not allowed")
        # Nor through a link out of it: its folder is asked (and refused), then, with that answer in
        # (a target's folders are asked one at a time: round-1's names come after it), Tab offers nothing.
        child.send("cat server escape/\t\x15cat server results/round-1/\t")
        _typed_to(screen, "cat server results/round-1/weights.txt")
        child.send("\x15cat server escape/\t\r")
        screen.wait_for(r"cat server escape/\n.*path outside the workspace is not allowed")


@pytest.mark.timeout(120)
def test_a_frozen_site_gives_no_names_and_never_holds_a_key(federation: Federation, tmp_path: Path) -> None:
    project = federation.project
    site = federation.sites["site-2"].process
    (project.kit("site-2") / "frozen-notes.txt").write_text("thawed\n")
    with _console(project, ADMIN, tmp_path) as (child, screen):
        child.send("cat site-9 \t")  # no such site: the server refuses, completion says nothing
        child.send("\x15pwd server\r")
        screen.wait_for(re.escape(str(project.server_kit.resolve())))
        site.send_signal(signal.SIGSTOP)
        try:
            child.send("cat site-2 fro\t")
            started = time.monotonic()
            child.send("x\x15pwd site-1\r")  # typed on at once: run while site-2 does not answer
            screen.wait_for(re.escape(str(project.kit("site-1").resolve())))
            # Well within the server's 10 s wait for a site: the Tab held nothing up.
            assert time.monotonic() - started < 8, "a key waited for the frozen site"
            assert "cat site-2 frozen" not in screen.text, screen.text
        finally:
            site.send_signal(signal.SIGCONT)
        # Once it answers again, its names complete (at once if it answered the ask late; else asked again
        # after FRESH_FOR, or REST_AFTER_DEADLINE when the ask passed its deadline).
        def completed() -> bool:
            child.send("\x15cat site-2 fro\t")
            return wait_quietly(lambda: _line(screen) == "cat site-2 frozen-notes.txt", 1.0)

        wait_until(completed, 30, "site-2's names after it thawed", interval=0.5)
        _answered(child, screen, r"thawed")
        assert not re.search(r"error|Traceback|did not answer", screen.text, re.IGNORECASE), screen.text


@pytest.mark.timeout(60)
def test_a_user_without_the_right_gets_no_names(federation: Federation, tmp_path: Path) -> None:
    project = federation.project
    (project.server_kit / "member-notes.txt").write_text("not for members\n")
    with _console(project, MEMBER, tmp_path) as (child, screen):
        child.send("cat server mem\t\r")  # no right: nothing asked, the line runs as typed and is refused
        screen.wait_for(r"cat server mem\n.*needs the 'shell_commands' right")


def wait_quietly(predicate, timeout: float) -> bool:
    try:
        wait_until(predicate, timeout, "")
    except AssertionError:
        return False
    return True



@pytest.mark.timeout(60)
def test_completion_leaves_out_what_every_file_command_refuses(federation: Federation) -> None:
    """ls lists the kit (and the server's store and audit) folders, but no file command opens them:
    completion offers none of them, by the refusal's own rule (fuser10 #4), and still offers the rest."""
    import asyncio

    from console.backends import open_backend
    from console.runtime.target_commands import private_folders

    project = federation.project
    (project.server_kit / "storefront.txt").write_text("a name that only starts like one\n")

    async def offered() -> tuple[dict[tuple[str, str], list[str]], str]:
        backend = await open_backend(project.admin_kit)
        try:
            names = {(target, folder): await backend.folder_names(target, folder)
                     for target, folder in (("server", ""), ("server", "."), ("site-1", ""))}
            return names, await backend.request("ls", {"target": "server", "path": "."})
        finally:
            await backend.close()

    names, listing = asyncio.run(offered())
    assert "audit/" in listing and "store/" in listing  # ls itself still lists them
    for (target, _folder), offered_names in names.items():
        private = {"startup", "local", "store", "audit"} if target == "server" else {"startup", "local"}
        assert set(private_folders(target)) == private
        assert not {f"{folder}/" for folder in private} & set(offered_names), offered_names
        assert "log.txt" in offered_names, offered_names
    assert "storefront.txt" in names[("server", "")]


@pytest.mark.timeout(120)
def test_a_name_with_a_line_break_lists_on_one_line_and_a_large_folder_completes_what_is_typed(
        federation: Federation, tmp_path: Path) -> None:
    """This morning's terminal tester: ``ls -la site-1`` printed a file ``new⏎line`` as two lines and Tab offered
    ``new`` and ``line`` (neither exists); in a folder of 30,000 files ``big/f2`` Tab offered nothing."""
    site_dir = federation.project.kit("site-1")
    (site_dir / "lb").mkdir()
    (site_dir / "lb" / "new\nline").write_text("")
    (site_dir / "lb" / "tab\there").write_text("")
    (site_dir / "lb" / "newer.txt").write_text("")
    big = site_dir / "big"
    big.mkdir()
    for i in range(30_000):
        (big / f"f{i:05}").touch()
    with _console(federation.project, ADMIN, tmp_path) as (child, screen):
        child.send("ls -la site-1 lb\r")
        screen.wait_for(r" tab\\x09here\n")
        listed = screen.text.split("ls -la site-1 lb", 1)[1]
        assert re.search(r" new\\x0aline\n", listed) and not re.search(r"(?m)^line$", listed), listed
        # Only the name completion can give: no "new" nor "line" from the broken one.
        child.send("cat site-1 lb/ne\t")
        _typed_to(screen, "cat site-1 lb/newer.txt")
        # 30,000 names: those after the first 20,000 are offered for what is typed, and a cut menu says so.
        child.send("\x15ls site-1 big/f2\t")  # (Tab first inserts what they share: f20)
        screen.wait_for(rf"f20000 +{1_000 - 200} more: type more")
        child.send("\x15ls site-1 big/f2999\t")  # ten names: the whole menu, nothing said cut
        screen.wait_for(r"big/f2999\d?\n +f29990\n")
        assert "more: type more" not in screen.text.rsplit("on server>", 1)[1], screen.text
