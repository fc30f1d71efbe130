"""Remote path completion's parts without a server: reading ls answers, the kept names, the completer.

The pty tests (``test_shell_remote_paths.py``) show it end to end on a real server and sites.
"""

from __future__ import annotations

import asyncio

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.backends.folder_listing import long_listing_names, long_listing_shown, plain_names
from console.commands import CATALOG
from console.runtime.target_commands import run_target_command
from console.shell.completion import ShellCompleter
from console.shell.completion_data import CompletionData
from console.shell.remote_paths import MAX_NAMES_KEPT, MAX_REMOTE_COMPLETIONS, Listing, RemoteFolders


def test_our_ls_answer_read_as_names(tmp_path) -> None:
    (tmp_path / "sub dir").mkdir()
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "a\x1cb.txt").write_text("")  # a character str.splitlines would break a line at
    (tmp_path / "new\nline").write_text("")
    (tmp_path / "tab\there").write_text("")
    (tmp_path / "esc\x1b[2Jx").write_text("")
    (tmp_path / "looks\\x0aescaped").write_text("")  # a real backslash: what ls shows of new\nline too
    answer = run_target_command(tmp_path, "ls", "-a", ".")
    # One entry a line, every control character as its escape: the same rule for \n, \t, ESC.
    assert answer.splitlines() == [".hidden", "a\\x1cb.txt", "esc\\x1b[2Jx", "looks\\x0aescaped",
                                   "new\\x0aline", "sub dir/", "tab\\x09here"]
    long = run_target_command(tmp_path, "ls", "-la", ".").splitlines()
    assert len(long) == 7 and long[-3].endswith(" new\\x0aline") and long[-1].endswith(" tab\\x09here")
    # Names whose real name the listing does not give (escaped, or reading like it) are not offered.
    assert sorted(plain_names(answer, ".")) == [".hidden", "sub dir/"]
    assert plain_names(run_target_command(tmp_path, "ls", "-a", "nope/"), "nope/") == []
    assert plain_names(run_target_command(tmp_path, "ls", "-a", ".hidden/"), ".hidden/") == []
    assert plain_names(None, ".") == []
    assert plain_names("a\n../../etc/passwd\nsub/\n", ".") == ["a", "sub/"]  # a name with a line break in it
    # A listing cut at the reply's limit: the name the cut may have halved goes with the marker.
    for i in range(50):
        (tmp_path / f"file-{i:03}").write_text("")
    cut = run_target_command(tmp_path, "ls", "-a", ".", max_output_bytes=100)
    names = plain_names(cut, ".")
    assert names and all(name.startswith((".", "a", "file-")) and len(name) >= 6 for name in names)
    assert not any("truncated" in name for name in names)


def test_flare_long_listing_read_as_names() -> None:
    answer = (
        "total 24\n"
        "drwxr-xr-x 3 flare flare 4096 Nov 30 03:00 .\n"
        "drwxr-xr-x 9 flare flare 4096 Nov 30 03:00 ..\n"
        "-rw-r--r-- 1 flare flare 1234 Nov 30 03:00 log.txt\n"
        "drwxr-xr-x 2 flare flare 4096 Dec  1  2025 startup\n"
        "-rw-r--r-- 1 flare flare   10 Nov 30 03:00 .hidden\n"
        "lrwxrwxrwx 1 flare flare    7 Nov 30 03:00 latest -> run_1\n"
        "-rw-r--r-- 1 flare flare   10 Nov 30 03:00 12:00 odd\n"  # a blank: no FLARE file command takes it
        "-rw-r--r-- 1 flare flare   10 2026-11-30 03:00 iso-dated.txt\n"
        "crw-rw-rw- 1 root root 1, 3 Nov 30 03:00 null\n"
        "-rw-r--r-- 1 flare flare   10 Nov 30 03:00 new\n"  # a file "new\nline": coreutils to a pipe
        "line\n"
        "ls: cannot access 'x': No such file or directory\n"
    )
    assert long_listing_names(answer) == ["log.txt", "startup/", ".hidden", "latest", "iso-dated.txt", "null"]
    assert long_listing_names("Error: not authorized") == [] and long_listing_names(None) == []
    # Shown as ours shows it: the name's line break as its escape, one entry a line; the rest as it was.
    shown = long_listing_shown(answer).split("\n")
    assert "-rw-r--r-- 1 flare flare   10 Nov 30 03:00 new\\x0aline" in shown
    assert "line" not in shown and len(shown) == len(answer.split("\n")) - 1
    assert shown[-2] == "ls: cannot access 'x': No such file or directory" and shown[-1] == ""
    recursive = "sub:\ntotal 0\n-rw-r--r-- 1 f f 0 Nov 30 03:00 a\n\nsub/deeper:\ntotal 0\n"
    assert long_listing_shown(recursive) == recursive and long_listing_shown(None) is None


def test_a_folder_of_100000_names_keeps_them_sorted_and_a_menu_is_bounded_and_says_so() -> None:
    names = [f"f{i:06}" for i in range(100_000)] + [".h1", "dir/"]
    listing = Listing.of(names, 0.0)
    assert len(listing.visible) + len(listing.hidden) == len(names) < MAX_NAMES_KEPT and not listing.cut
    assert listing.hidden == [".h1"] and listing.visible[0] == "dir/"
    assert len(listing.matching("")) == MAX_REMOTE_COMPLETIONS
    assert listing.more_than("", MAX_REMOTE_COMPLETIONS) == f"{len(names) - 1 - MAX_REMOTE_COMPLETIONS:,} more: type more"
    # Names beyond where a 20,000 cap cut: the typed prefix finds them (30,000 files, big/f2 Tab).
    assert listing.matching("f02")[:2] == ["f020000", "f020001"]
    assert listing.more_than("f09999", 10) is None and listing.more_than("f0999", 10) == "90 more: type more"
    unsorted = Listing.of(list(reversed(names)), 0.0)  # sorted in parts and merged: the same names
    assert unsorted.visible == listing.visible and unsorted.hidden == listing.hidden
    assert listing.matching("f00001") == [f"f{i:06}" for i in range(10, 20)]
    assert listing.matching(".") == [".h1"] and listing.matching("di") == ["dir/"]
    assert listing.matching("g") == []


def _completer(folders: RemoteFolders, may_run=lambda spec: True) -> ShellCompleter:
    return ShellCompleter(CompletionData, remote=folders, may_run=may_run)


def _texts(completer: ShellCompleter, line: str, tab: bool = True) -> list[str]:
    """The line as each completion offered would leave it, less the ``line``'s first two words."""
    event = CompleteEvent(completion_requested=tab)
    lines = [line[:len(line) + c.start_position] + c.text
             for c in completer.get_completions(Document(line, len(line)), event)]
    return [done.split(" ", 2)[2] for done in lines]


def test_completer_asks_the_target_s_folder_and_only_where_a_path_goes() -> None:
    asked: list[tuple[str, str]] = []
    contents = {("server", ""): ["notes.txt", "results/", ".hidden"],
                ("site-1", "results"): ["model final.txt", "it's.txt", "round-1/"]}

    async def lister(target: str, folder: str) -> list[str]:
        asked.append((target, folder))
        return contents.get((target, folder), [])

    async def scenario() -> None:
        ready = asyncio.Event()
        folders = RemoteFolders(lister, on_ready=ready.set)
        completer = _completer(folders)
        assert _texts(completer, "cat server no") == []  # not known yet: asked in the background
        assert completer.waiting == ("cat server no", 13, True)
        await asyncio.wait_for(ready.wait(), 5)
        assert _texts(completer, "cat server no") == ["notes.txt"]
        assert _texts(completer, "cat server ") == ["notes.txt", "results/"]  # no hidden name
        assert _texts(completer, "cat server .") == [".hidden"]
        assert _texts(completer, "ls -l server ./n") == ["server ./notes.txt"]  # options before, './' kept
        ready.clear()
        assert _texts(completer, "tail site-1 -n 5 results/") == []
        await asyncio.wait_for(ready.wait(), 5)
        assert _texts(completer, "tail site-1 -n 5 results/") == [r"-n 5 results/it\'s.txt",
                                                                  r"-n 5 results/model\ final.txt",
                                                                  "-n 5 results/round-1/"]
        assert _texts(completer, "tail site-1 'results/mo") == ["'results/model final.txt'"]
        assert _texts(completer, "grep site-1 res") == []  # the pattern: no path
        assert _texts(completer, "grep site-1 -i pat results/r") == ["-i pat results/round-1/"]
        assert _texts(completer, "watch -n 5 cat server no") == ["5 cat server notes.txt"]
        for outside in ("cat server ../", "cat server results/../", "cat server /", "cat server /etc/"):
            assert _texts(completer, outside) == []
        assert ("server", "..") not in asked and not any(folder.startswith("/") for _, folder in asked)
        assert sorted(set(asked)) == [("server", ""), ("site-1", "results")]
        # A user whose login says the right is none: nothing asked, nothing offered.
        asked.clear()
        denied = _completer(RemoteFolders(lister), may_run=lambda spec: spec.right is None)
        assert _texts(denied, "cat site-2 ") == [] and asked == []

    asyncio.run(scenario())


def test_a_failing_or_slow_target_gives_no_names_and_no_error() -> None:
    asked: list[tuple[str, str]] = []

    async def failing(target: str, folder: str) -> list[str]:
        asked.append((target, folder))
        if target == "slow":
            await asyncio.sleep(30)
        raise ConnectionError("gone")

    async def scenario() -> None:
        folders = RemoteFolders(failing, deadline=0.2)
        completer = _completer(folders)
        for target in ("gone", "slow"):
            assert _texts(completer, f"cat {target} ") == []
        assert _texts(completer, "cat slow sub/") == []  # one folder of a target at a time: not asked yet
        await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)  # the slow one: its deadline
        assert folders.names("gone", "") is not None and folders.names("slow", "") is not None
        assert _texts(completer, "cat gone ") == [] and _texts(completer, "cat slow ") == []
        # A target that passed the deadline rests (our server may still wait for it, holding a slot).
        assert _texts(completer, "cat slow sub/") == [] and not [t for t in asyncio.all_tasks()
                                                                 if t is not asyncio.current_task()]
        assert asked == [("gone", ""), ("slow", "")]

    asyncio.run(scenario())


def test_the_folder_typed_while_another_of_its_target_was_asked_is_asked_next() -> None:
    release = asyncio.Event()

    async def lister(target: str, folder: str) -> list[str]:
        if folder == "":
            await release.wait()
            return ["sub/"]
        return ["inner.txt"]

    async def scenario() -> None:
        seen: list[list[str]] = []
        completer: ShellCompleter

        def ready() -> None:  # as the prompt does: the line at the prompt completed again
            seen.append(_texts(completer, "cat server sub/"))

        folders = RemoteFolders(lister, on_ready=ready)
        completer = _completer(folders)
        assert _texts(completer, "cat server ") == []
        assert _texts(completer, "cat server sub/") == []  # typed on: its target is being asked already
        release.set()
        await asyncio.wait_for(_until(lambda: seen and seen[-1]), 5)
        assert seen[-1] == ["sub/inner.txt"]

    asyncio.run(scenario())


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("command", ["ls", "cat", "head", "tail", "grep"])
def test_every_file_command_s_path_is_a_remote_path(command: str) -> None:
    kinds = [p.kind.value for p in CATALOG[command].params]
    assert kinds[-1] == "remote_path" and kinds.count("remote_path") == 1


def test_flare_file_options_go_as_the_one_word_flare_s_api_carries() -> None:
    """FLARE's API sends options as one (quoted) word: '-a -l' arrived as one unknown option."""
    from console.api.errors import InvalidArgumentError
    from console.backends.nvflare_file_options import one_word

    assert one_word("ls", "-a -l") == "-al" and one_word("ls", "-l -t -a") == "-lta"
    assert one_word("ls", None) is None and one_word("ls", "  ") is None
    assert one_word("head", "-n 5") == "-n5" and one_word("tail", "-c20") == "-c20"
    assert one_word("grep", "-n -i") == "-ni" and one_word("cat", "-n") == "-n"
    assert one_word("ls", "--all") == "--all"  # FLARE says what it takes (nvflare_errors)
    with pytest.raises(InvalidArgumentError, match="-n5 and -c3 cannot be given at once"):
        one_word("tail", "-n 5 -c 3")


def test_a_name_starting_with_dash_goes_to_flare_as_a_name_not_an_option() -> None:
    """Given after --, FLARE's participant (argparse) would read it as an option (fuser10 #6)."""
    from console.api.errors import InvalidArgumentError
    from console.backends.nvflare_file_options import as_file, as_pattern

    assert as_file("-n5.txt") == "./-n5.txt" and as_file("log.txt") == "log.txt" and as_file(None) is None
    assert as_pattern("-INFO", None) == "[-]INFO" and as_pattern("INFO", "-F") == "INFO"
    with pytest.raises(InvalidArgumentError, match="leave out -F"):
        as_pattern("-0.5", "-iF")


def test_a_menu_of_a_large_folder_offers_what_is_typed_and_says_what_it_leaves_out() -> None:
    big = [f"f{i:05}" for i in range(30_000)]

    async def lister(target: str, folder: str) -> list[str]:
        return big if folder == "big" else []

    async def scenario() -> None:
        ready = asyncio.Event()
        completer = _completer(RemoteFolders(lister, on_ready=ready.set))
        list(completer.get_completions(Document("ls site-1 big/f2"), CompleteEvent(completion_requested=True)))
        await asyncio.wait_for(ready.wait(), 5)
        offered = list(completer.get_completions(Document("ls site-1 big/f2"), CompleteEvent(completion_requested=True)))
        assert len(offered) == MAX_REMOTE_COMPLETIONS and offered[0].text == "f20000"
        assert offered[0].display_meta_text == f"{10_000 - MAX_REMOTE_COMPLETIONS:,} more: type more"
        assert all(not c.display_meta_text for c in offered[1:])
        whole = list(completer.get_completions(Document("ls site-1 big/f2999"), CompleteEvent(completion_requested=True)))
        assert len(whole) == 10 and not any(c.display_meta_text for c in whole)

    asyncio.run(scenario())
