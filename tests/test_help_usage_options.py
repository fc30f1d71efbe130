"""``help COMMAND`` explains every word of its usage line (session 12's terminal user: ``[--yes]`` was in
the usage of abort_job, delete_job, shutdown, restart, remove_client and disable_client but not in the
option list; head/tail/ls listed their options with no meaning; top, set_timeout and unset_timeout said too
little)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.commands import CATALOG, Engine, ParamKind
from console.commands.shell_options import FILE_OPTIONS, FileOptions
from console.names import site_named
from console.runtime.target_commands import run_target_command
from console.server.targets import DEFAULT_SITE_TIMEOUT
from console.shell.help import help_text, option_rows, usage_words
from console.shell.monitors import sites_changed, sites_left_the_job

#: A word of a usage line: ``[-m LIMIT]``, ``[TARGETS ...]``, ``server|client|all``, ``JOB_ID``.
_WORD = re.compile(r"\[[^\]]*\]|\S+")


def _usage(text: str, name: str) -> list[str]:
    """The words of the usage line(s) at the top of ``help NAME``, after the name."""
    block = text.split("\n\n", 1)[0].removeprefix(f"usage: {name}")
    return _WORD.findall(block)


def test_every_word_of_every_usage_line_is_in_the_option_list_with_its_meaning_and_default() -> None:
    """The whole registry, on each engine that offers the command, as a person reads help: each word after the
    command's name has its line below, with a meaning; an optional one that takes a value (and --yes) says its
    default. A destructive command's [--yes] among them."""
    yes = 0
    for spec in CATALOG.values():
        for engine in (e for e in Engine if spec.supports(e)):
            text = help_text(engine, spec.name, 1000)  # (wide: one line each)
            words = _usage(text, spec.name)
            assert words == usage_words(spec), (spec.name, engine, words)
            listed = {}
            lines = text.splitlines()
            for at, line in enumerate(lines):
                if line.startswith("  ") and not line.startswith("    "):  # a row of the list (not a file option)
                    name, _, meaning = line.strip().partition("  ")
                    if not meaning and at + 1 < len(lines):  # a long name: its text on the next line
                        meaning = lines[at + 1]
                    listed[name] = meaning.strip()
            for word in words:
                assert listed.get(word), (spec.name, engine, word, text)
                optional_value = word.startswith("[") and not re.fullmatch(r"\[-{1,2}[\w-]+\]", word)
                if optional_value or word == "[--yes]":
                    assert "(default: " in listed[word], (spec.name, engine, word, listed[word])
            if spec.destructive:
                assert listed["[--yes]"].endswith("(default: ask)"), (spec.name, engine)
                yes += 1
    assert yes >= 6  # abort_job, delete_job, shutdown, restart, remove_client, disable_client (and FLARE's)


def test_the_user_s_destructive_commands_explain_yes() -> None:
    for name in ("abort_job", "delete_job", "shutdown", "restart", "remove_client", "disable_client"):
        text = help_text(Engine.OURS, name, 120)
        assert re.search(r"(?m)^  \[--yes\] +run without asking 'are you sure\?' \(also -y\); a batch runs the "
                         r"command only with it \(default: ask\)$", text), text


def test_a_file_command_s_help_gives_each_of_its_options_meaning_on_our_engine() -> None:
    """Each option our target commands take (the one table they refuse others by), with what it does."""
    for command in ("ls", "cat", "head", "tail", "grep"):
        text = help_text(Engine.OURS, command, 120)
        rows = [name.strip() for name, _ in option_rows(CATALOG[command], Engine.OURS) if name.startswith("  ")]
        assert rows == [f"-{c} N" if c in FILE_OPTIONS[command].numbers else f"-{c}"
                        for c in FILE_OPTIONS[command].flags + FILE_OPTIONS[command].numbers], command
        for flag, meaning in FILE_OPTIONS[command].rows():
            assert re.search(rf"(?m)^    {re.escape(flag)} +{re.escape(meaning)}$", text), (command, flag, text)
    head, tail, ls = (help_text(Engine.OURS, c, 120) for c in ("head", "tail", "ls"))
    assert "show the first lines of a file (10 unless -n N)" in head
    assert "show the last lines of a file (10 unless -n N)" in tail
    assert re.search(r"(?m)^    -n N +the first N lines \(default: 10\)$", head)
    assert re.search(r"(?m)^    -n N +the last N lines \(default: 10\)$", tail)
    assert re.search(r"(?m)^    -l +long: mode, size, modification time and name$", ls)
    assert re.search(r"(?m)^    -t +newest first \(by modification time; default: by name\)$", ls)
    # FLARE's file commands: its options listed, as its refusal names them (their meanings are FLARE's tools')
    assert "    -n" not in help_text(Engine.NVFLARE, "head", 120)


def test_the_defaults_help_gives_are_what_the_commands_do(tmp_path: Path) -> None:
    """head and tail without -n: 10 lines; ls: by name, without the dot files; -t newest first."""
    (tmp_path / "f.txt").write_text("".join(f"line {i}\n" for i in range(1, 31)))
    assert run_target_command(tmp_path, "head", None, "f.txt").splitlines() == [f"line {i}" for i in range(1, 11)]
    assert run_target_command(tmp_path, "tail", None, "f.txt").splitlines() == [f"line {i}" for i in range(21, 31)]
    assert run_target_command(tmp_path, "head", "-c 6", "f.txt") == "line 1"
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "a.txt").write_text("")
    assert run_target_command(tmp_path, "ls", None, ".").split() == ["a.txt", "f.txt"]
    assert ".hidden" in run_target_command(tmp_path, "ls", "-a", ".").split()
    assert run_target_command(tmp_path, "ls", "-r", ".").split() == ["f.txt", "a.txt"]


def test_an_option_without_a_meaning_cannot_enter_the_table() -> None:
    with pytest.raises(ValueError, match="each option needs one meaning for help"):
        FileOptions("lx", meanings=(("l", "long"),))
    assert FileOptions("l", "n", (("l", "long"), ("n", "N lines"))).rows() == [("-l", "long"), ("-n N", "N lines")]


def test_top_set_timeout_and_unset_timeout_say_what_they_do() -> None:
    top = " ".join(help_text(Engine.OURS, "top", 1000).split())
    for said in ("no reply (listed by the server but not answering", "gone (no longer listed",
                 "disabled (by disable_client)", "Up/Down (or k/j) choose a job", "Enter shows its details",
                 "a aborts it (after y)", "l leaves top and follows its log", "q, Esc or Ctrl-C leave",
                 "'top > FILE' (or 'top | PIPELINE') writes one snapshot of the view"):
        assert said in top, said
    assert DEFAULT_SITE_TIMEOUT == 10.0  # what both texts say
    assert "waits 10 s for sites (the default)" in help_text(Engine.OURS, "set_timeout", 1000)
    assert "unset_timeout, which returns to the default" in help_text(Engine.OURS, "set_timeout", 1000)
    unset = help_text(Engine.NVFLARE, "unset_timeout", 1000)
    assert "return to the default command timeout (10 s)" in unset and "waits 10 s for sites again" in unset


def test_a_site_named_site_is_not_called_site_twice() -> None:
    assert site_named("site-2") == "site-2" and site_named("Site_A") == "Site_A"
    assert site_named("hospital-a") == "site hospital-a"
    meta = {"job_id": "0f24c025-0000-4000-8000-000000000001", "name": "hello"}
    (gone, _), = sites_changed(meta, set(), {"site-2"})
    assert gone.endswith("hello  site-2 does not answer (is it running? check_status client site-2 asks it alone)")
    (back, _), = sites_changed(meta, {"hospital-a"}, set())
    assert back.endswith("hello  site hospital-a answers again")
    (left, _), = sites_left_the_job(meta, set(), {"site-1"})
    assert "hello  site-1 no longer runs the job" in left and "site site" not in left


def test_no_file_option_lacks_a_meaning_in_the_registry_s_commands() -> None:
    for spec in CATALOG.values():
        if any(p.kind is ParamKind.OPTIONS for p in spec.typed_params):
            assert spec.name in FILE_OPTIONS and FILE_OPTIONS[spec.name].rows(), spec.name
