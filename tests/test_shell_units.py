"""Shell pieces on their own: parsing, completion over completion data, lexer, themes, output, config."""

from __future__ import annotations

import json
import re
import time

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.commands import CATALOG
from console.shell.completion import MAX_JOB_COMPLETIONS, CompletionData, ShellCompleter
from console.shell.completion_data import MAX_JOBS_KEPT
from console.shell.config import DEFAULT_CONFIG, load_config
from console.shell.output import Format, page, render, table
from console.shell.parse import UsageError, parse_command
from console.shell.themes import available_themes, load_theme

from conftest import REPO

IDS = [
    "0a1b2c3d-0000-4000-8000-000000000001",
    "0a1bffff-0000-4000-8000-000000000002",
    "9f000000-0000-4000-8000-000000000003",
]


def data() -> CompletionData:
    return CompletionData.from_rows([
        {"job_id": IDS[0], "job_name": "hello-numpy", "status": "RUNNING"},
        {"job_id": IDS[1], "job_name": "cifar10", "status": "SUBMITTED"},
        {"job_id": IDS[2], "job_name": "hello-server", "status": "FINISHED:COMPLETED"},
    ])


def complete(text: str, d: CompletionData | None = None) -> list:
    completer = ShellCompleter(lambda: d or data(), lambda: ["dark", "light"], lambda: [IDS[0]])
    return list(completer.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True)))


def texts(text: str) -> list[str]:
    return [c.text for c in complete(text)]


# -- parsing -----------------------------------------------------------------------------


def test_parse_flags_positionals_and_defaults() -> None:
    parsed = parse_command("list_jobs -d -m 5 -n hello 0a1b")
    assert parsed.values == {"detailed": True, "limit": 5, "name_prefix": "hello", "id_prefix": "0a1b",
                             "mine": False, "reverse": False, "submit_token": None}
    assert parse_command("   # just a comment") is None
    assert parse_command("") is None
    parsed = parse_command("abort_job 0a1b --yes")
    assert parsed.yes and parsed.values["job_id"] == "0a1b"
    assert parse_command("exit").spec.name == "bye"
    for line, name in (("quit", "bye"), ("\\q", "bye"), ("QUIT", "bye"), ("?", "help"), ("List_Jobs -m 1", "list_jobs")):
        assert parse_command(line).spec.name == name
    assert parse_command("? LIST_JOBS").values["command"] == "LIST_JOBS"  # help takes it in any case too
    assert parse_command("monitor_job abc --timeout 5 --interval 0.5").values["interval"] == 0.5


@pytest.mark.parametrize("line, message", [
    ("lst_jobs", "did you mean list_jobs"),
    ("frobnicate", "type 'help'"),
    ("get_job_meta", "JOB_ID is missing; usage: get_job_meta JOB_ID"),
    ("list_jobs -m many", "limit must be a number"),
    ("list_jobs -x", "unknown option -x"),
    ("list_jobs a b", "unexpected argument 'b'"),
    ("set format yaml", "must be one of table, json, raw"),
    ("set timing maybe", "timing must be one of on, off"),
    ("set confirm off", "setting must be one of format, expanded, editing, timing, theme"),
    ("\\x sideways", "state must be one of auto, on, off"),
    ("get_job_meta 'abc", "close the quote"),
    ("list_jobs -m", "-m needs a value"),
])
def test_parse_errors_say_what_to_type(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_command(line)


# -- completion --------------------------------------------------------------------------


def test_command_names_with_summary() -> None:
    found = complete("list_")
    assert [c.text for c in found] == ["list_jobs"]
    assert found[0].display_meta_text == CATALOG["list_jobs"].summary
    assert "submit_job" in texts("")
    # A word already complete is not offered again while typing: the menu closes after Tab completed it.
    typing = ShellCompleter(data)
    for line in ("list_jobs", f"get_job_meta {IDS[0]}"):
        assert list(typing.get_completions(Document(line, len(line)), CompleteEvent(text_inserted=True))) == []
    # Tab asks: the word itself is the one match (Tab then puts a blank after it, as bash).
    assert texts("list_jobs") == ["list_jobs"] and texts(f"get_job_meta {IDS[0]}") == [IDS[0]]


def test_options_and_their_values() -> None:
    assert set(texts("list_jobs -")) >= {"-d", "-u", "-r", "-n", "-m"}
    assert texts("list_jobs -d -") == [t for t in texts("list_jobs -") if t != "-d"]
    assert "--yes" in texts("abort_job 0a1b -")
    assert texts("set ") == ["format", "expanded", "editing", "timing", "theme"]  # all that set lists and changes
    assert texts("set expanded ") == ["auto", "on", "off"]
    assert texts("set timing ") == ["on", "off"] and texts("\\x a") == ["auto"]
    assert texts("set editing v") == ["vi"]
    assert texts("set format j") == ["json"]
    assert texts("timing o") == ["on", "off"]


def test_job_id_menu_columns_align_and_a_long_name_gives_way() -> None:
    """The menu's meta at 80 columns (prompt_toolkit's dummy output when no terminal runs):
    status and age start in the same cell on every entry; a long or wide (CJK) name is
    elided, the status never; the meta fits beside the ID on the screen."""
    from prompt_toolkit.utils import get_cwidth

    now = time.time()
    names = ["a", "federated-training-of-a-rather-long-model-name-across-all-sites", "数据集训练", ""]
    statuses = ["RUNNING", "SUBMITTED", "FINISHED:COMPLETED", "FINISHED:ABORTED"]
    d = CompletionData.from_rows([
        {"job_id": f"{i:08x}-0000-4000-8000-000000000000", "job_name": name, "status": status,
         "submit_time": now - 100 * (i + 1)} for i, (name, status) in enumerate(zip(names, statuses, strict=True))])
    metas = [c.display_meta_text for c in complete("get_job_meta ", d)]
    assert len(metas) == 4
    status_at = {get_cwidth(meta[:meta.index(status)]) for meta, status in zip(metas, statuses, strict=True)}
    assert len(status_at) == 1, metas
    ages = {get_cwidth(meta[:re.search(r"\d+[smhd] ago", meta).start()]) for meta in metas}
    assert len(ages) == 1, metas
    assert any(meta.startswith("federated-training") and "…" in meta for meta in metas), metas
    assert all(get_cwidth(meta) + 13 <= 80 for meta in metas), metas


def test_job_ids_by_prefix_and_by_name() -> None:
    found = complete("get_job_meta 0a1b")
    assert [c.text for c in found] == IDS[:2]
    assert found[0].display_meta_text == "hello-numpy  RUNNING"
    assert texts("get_job_meta hello") == [IDS[0], IDS[2]]
    assert texts("abort_job hello") == [IDS[0]]  # hello-server has ended: nothing to abort
    assert texts("clone_job CIFAR") == [IDS[1]]
    assert texts("monitor_job 9f") == [IDS[2]]
    assert texts("monitor_job 9f --interval ") == []  # a number comes next, nothing to offer


def test_paths_themes_help_and_monitors(tmp_path, monkeypatch) -> None:
    (tmp_path / "jobs" / "hello").mkdir(parents=True)
    (tmp_path / "jobs" / "file.txt").write_text("x")
    (tmp_path / ".venv").mkdir()
    monkeypatch.chdir(tmp_path)
    assert texts("submit_job jobs/") == ["hello/"]  # a folder completes with its '/'
    assert texts("submit_job ") == ["jobs/"] and texts("submit_job .v") == ["env/"]  # hidden: when asked for
    assert texts("download_job 9f ") == ["jobs/"]
    assert texts("theme l") == ["light"]
    assert "list_jobs" in texts("help list")
    assert texts("unmonitor ") == [IDS[0], "all"]
    monitored = complete("unmonitor ")[0]  # shown as any job ID in a menu: short ID, name, status
    assert monitored.display_text == IDS[0][:8] and monitored.display_meta_text.startswith("hello-numpy  RUNNING")


def test_completion_data_follows_pushes_and_scales() -> None:
    d = data()
    d.upsert("0a1b0000-new", "fresh", "SUBMITTED")
    assert [e.job_id for e in d.match_jobs("0a1b")] == ["0a1b0000-new", IDS[0], IDS[1]]
    d.upsert(IDS[0], None, "FINISHED:ABORTED")
    assert d.jobs[IDS[0]].name == "hello-numpy" and d.jobs[IDS[0]].status == "FINISHED:ABORTED"
    d.remove(IDS[1])
    assert [e.job_id for e in d.match_jobs("cifar")] == []
    # Rows come newest first: the first MAX_JOBS_KEPT are kept, whatever a server sends.
    big = CompletionData.from_rows({"job_id": f"{i:08x}-aaaa", "job_name": f"job-{i}", "status": "SUBMITTED",
                                    "submit_time": 2e9 - i} for i in range(100_000))
    assert len(big.jobs) == MAX_JOBS_KEPT
    started = time.perf_counter()
    assert len(big.match_jobs("00000ff")) == 16
    assert len(big.match_jobs("0000")) == MAX_JOB_COMPLETIONS  # capped: a menu, not a dump
    assert big.match_jobs("job-4999")[0].name == "job-4999" and big.match_jobs("job-5000") == []
    assert time.perf_counter() - started < 1.0  # bisection, not a scan (the real figure is in benchmarks/)
    big.upsert("ffffffff-new", "pushed", "SUBMITTED")  # a job pushed since: the oldest kept goes
    assert len(big.jobs) == MAX_JOBS_KEPT and "ffffffff-new" in big.jobs and f"{4999:08x}-aaaa" not in big.jobs


# -- lexer, themes, output, config -------------------------------------------------------


def test_highlighting_follows_the_grammar() -> None:
    from console.shell.lexer import COMMENT, ERROR, JOB, KEYWORD, NUMBER, OPTION, PLACE, STRING, highlight

    def styles(line: str, at_end: bool = False) -> list[tuple[str, str]]:
        return [(s, t) for s, t in highlight(line, at_end) if t.strip()]

    assert styles(f"abort_job {IDS[0]} --yes # why") == [
        (KEYWORD, "abort_job"), (JOB, IDS[0]), (OPTION, "--yes"), (COMMENT, "# why")]
    # A job-ID prefix is a job ID at any length; a site is a site wherever it stands.
    assert styles("get_job_meta 0a")[1] == styles("get_job_meta 0a1b2c3d")[1][:1] + ("0a",)
    assert styles("check_status client site-1")[2] == (PLACE, "site-1") == styles("ls site-1")[1]
    assert styles("list_jobs -m 50 9f") == [(KEYWORD, "list_jobs"), (OPTION, "-m"), (NUMBER, "50"), (JOB, "9f")]
    assert styles("submit_job ./jobs/x")[1] == (STRING, "./jobs/x")
    # A command being typed is no error yet; a finished unknown word is.
    assert styles("list_j", at_end=True) == [("", "list_j")]
    assert styles("list_j") == [(ERROR, "list_j")]
    assert styles("nonsense", at_end=True) == [(ERROR, "nonsense")]
    assert styles("LIST_JOBS; help bye") == [(KEYWORD, "LIST_JOBS"), ("", ";"), (KEYWORD, "help"), (KEYWORD, "bye")]
    assert styles("get_job_meta 0a extra")[2] == (ERROR, "extra")


def test_themes_are_data_files() -> None:
    names = set(available_themes())
    assert {"dark", "light", "high-contrast", "monokai"} <= names
    assert load_theme("monokai").pygments_style == "monokai"
    for name in names:
        load_theme(name).to_style()


def test_output_formats() -> None:
    rows = [{"job_id": "a", "status": "RUNNING"}, {"job_id": "bbb", "status": "SUBMITTED"}]
    assert table(rows).splitlines() == ["job_id  status", "------  ---------", "a       RUNNING",
                                        "bbb     SUBMITTED"]
    assert render({"a": 1}, Format.TABLE) == "a  1"
    assert render(rows, Format.JSON).startswith("[\n  {")
    assert render("text", Format.RAW) == "text"


def test_config_created_with_comments(tmp_path) -> None:
    path = tmp_path / "flare-console" / "config.toml"
    config = load_config(path)
    assert path.read_text() == DEFAULT_CONFIG and "# " in DEFAULT_CONFIG
    assert config.theme == "dark" and config.format is Format.TABLE and config.confirm
    assert config.notes == []


def test_a_bad_setting_is_warned_about_and_its_default_used_an_unknown_one_named(tmp_path) -> None:
    """user10 #6: ``format = "yaml"`` stopped the console; a typo (``fromat``) was ignored without a word."""
    path = tmp_path / "config.toml"
    path.write_text('format = "yaml"\nfromat = "json"\ntiming = "yes"\nexpanded = "on"\nbogus_key = 1\n'
                    'editing = 3\nconfirm = false\n')
    config = load_config(path)
    assert config.format is Format.TABLE and config.timing is False and config.editing == "emacs"
    assert config.expanded == "on" and config.confirm is False  # the good ones are used
    assert config.notes == [
        f"{path}: 'format' must be table, json or raw, not \"yaml\"; using \"table\"",
        f"unknown setting 'fromat' in {path}; did you mean 'format'?",
        f"{path}: 'timing' must be true or false, not \"yes\"; using false",
        "unknown setting 'bogus_key' in " + str(path) + "; the settings are theme, format, confirm, kit, pager, "
        "expanded, timing, editing",
        f"{path}: 'editing' must be a string in quotes, not 3; using \"emacs\"",
    ]
    path.write_text('format = "json\n')  # not TOML: the defaults, and the file is never written back into
    broken = load_config(path)
    assert broken.path is None and broken.format is Format.TABLE
    assert len(broken.notes) == 1 and broken.notes[0].startswith(f"{path}: ") and "using the default" in broken.notes[0]


def test_toolbar_shows_connection_state_and_monitors() -> None:
    from console.shell.toolbar import ToolbarState, render_toolbar

    state = {"up": True, "retrying": False}
    toolbar = ToolbarState("admin@example.com", "server", lambda: state["up"], lambda: 2, lambda: "json",
                           lambda: state["retrying"])

    def text() -> str:
        return "".join(fragment for _, fragment in render_toolbar(toolbar))

    assert "admin@example.com on server" in text() and " connected " in text()
    assert "monitors: 2" in text() and "[F2] format: json" in text() and "[F3] expanded: auto" in text()
    assert "[F4] keys: emacs" in text()
    state.update(up=False, retrying=True)
    assert "disconnected, reconnecting..." in text()
    assert ("class:bottom-toolbar.down", " disconnected, reconnecting... ") in render_toolbar(toolbar)
    toolbar.shut_down = lambda: True  # this console's shutdown server|all: expected, and how to leave
    assert " server shut down by you: bye leaves " in text() and "reconnecting" not in text()
    # Connected, but a heartbeat unanswered (session 11, item 3): said at once, the short form when narrow.
    state.update(up=True, retrying=False)
    toolbar.silent_for = lambda: 4
    assert ("class:bottom-toolbar.down", " no answer for 4 s ") in render_toolbar(toolbar)
    assert " connected " not in text()
    assert render_toolbar(toolbar, 16) == [("class:bottom-toolbar.down", " no answer 4 s ")]


def test_toolbar_fits_any_width_dropping_parts_whole_and_keeping_the_state() -> None:
    """The ninth user's widths (80, 140, 60 columns; disconnected at 160; shut down at 60): never a part
    cut mid-word, the state and its advice always there, monitors kept while any run."""
    from console.shell.toolbar import ToolbarState, render_toolbar

    state = {"up": True, "retrying": False, "down": False, "monitors": 0}
    toolbar = ToolbarState("admin@example.com", "server", lambda: state["up"], lambda: state["monitors"],
                           lambda: "table", lambda: state["retrying"], shut_down=lambda: state["down"])
    full = [text for _, text in render_toolbar(toolbar)]
    for up, retrying, down, monitors in ((True, False, False, 0), (False, True, False, 2), (False, False, True, 1)):
        state.update(up=up, retrying=retrying, down=down, monitors=monitors)
        link = next(text for s, text in render_toolbar(toolbar) if s != "class:bottom-toolbar")
        for columns in range(24, 200):
            parts = [text for _, text in render_toolbar(toolbar, columns)]
            assert sum(len(p) for p in parts) <= columns, (columns, parts)
            if len(link) <= columns:
                # Whole, however narrow; its shorter wording where that keeps another part in.
                shorter = {" disconnected, reconnecting... ": " reconnecting... ",
                           " server shut down by you: bye leaves ": " shut down: bye leaves "}.get(link)
                assert link in parts or shorter in parts, (columns, parts)
                whole = [text for _, text in render_toolbar(toolbar)] + [shorter]
                assert all(p in whole for p in parts), (columns, parts)  # each part whole, never cut
                if monitors and columns >= len(link) + 14:
                    assert any("monitors:" in p for p in parts), (columns, parts)
            else:
                assert parts[0].strip() in ("shut down: bye leaves", "reconnecting...", "connected"), parts
    state.update(up=False, retrying=True, down=False, monitors=0)  # the tenth tester's 160 columns
    at_160 = [text for _, text in render_toolbar(toolbar, 160)]
    assert " [F3] expanded: auto " in at_160 and " reconnecting... " in at_160 and len(at_160) == 7, at_160
    state.update(up=True, retrying=False, down=False, monitors=0)
    assert [text for _, text in render_toolbar(toolbar, 500)] == full
    assert "".join(text for _, text in render_toolbar(toolbar, 80)).endswith("help: commands  Ctrl-D: leave ")
    state.update(up=False, down=True)
    assert "bye leaves" in "".join(text for _, text in render_toolbar(toolbar, 60))
    # vi keys: the mode shown, and kept before the settings.
    toolbar.editing, toolbar.vi_mode = (lambda: "vi"), (lambda: "NORMAL")
    assert "[F4] keys: vi NORMAL" in "".join(text for _, text in render_toolbar(toolbar, 60))


def test_the_shut_down_note_says_how_to_leave_and_what_starts_the_server_again() -> None:
    from types import SimpleNamespace

    from console.invocation import console_command
    from console.shell.reconnect import Reconnector

    flag = SimpleNamespace(shut_down_server=False)
    ours, flare = (SimpleNamespace(reconnects_after_own_shutdown=value) for value in (True, False))
    plain = Reconnector(ours, print, list, list, shut_down=flag)  # type: ignore[arg-type]
    demo = Reconnector(ours, print, list, list, shut_down=flag, demo=True)  # type: ignore[arg-type]
    on_flare = Reconnector(flare, print, list, list, shut_down=flag)  # type: ignore[arg-type]
    flare_demo = Reconnector(flare, print, list, list, shut_down=flag,  # type: ignore[arg-type]
                             demo="flare-console demo --engine nvflare --workspace /tmp/flws")
    assert plain.shut_down_note() is None  # not shut down by this console: a lost connection is a loss
    flag.shut_down_server = True
    assert plain.shut_down_note() == ("the server was shut down by you: leave with `bye`, or start it again "
                                      "(startup/start.sh in the server's kit) and this console reconnects")
    assert demo.shut_down_note() == (f"the server was shut down by you: leave with `bye`, or after bye, "
                                     f"`{console_command()} demo` starts it again")
    assert on_flare.shut_down_note() == ("the server was shut down by you: leave with `bye`, or after bye, start it "
                                         "again (startup/start.sh in the server's kit) and open the console again")
    assert flare_demo.shut_down_note() == ("the server was shut down by you: leave with `bye`, or after bye, "
                                           "`flare-console demo --engine nvflare --workspace /tmp/flws` starts it again")


def test_the_demos_again_words_name_its_engine_and_workspace() -> None:
    from console.demo import again_words
    from console.invocation import console_command

    assert again_words("ours", None) == f"{console_command()} demo"
    assert again_words("nvflare", "/tmp/my ws") == f"{console_command()} demo --engine nvflare --workspace '/tmp/my ws'"


def test_after_its_own_shutdown_a_flare_console_does_not_reconnect_and_stays_shut_down() -> None:
    """FLARE's server takes logins for seconds after its shutdown: reconnecting said "reconnected", then "lost"
    (flare9 item 4). On FLARE the loss after this console's own shutdown starts no reconnection; ours does."""
    import asyncio
    from types import SimpleNamespace

    from console.shell.reconnect import Reconnector

    async def lost(reconnects: bool) -> tuple[int, list[str], bool]:
        attempts: list[int] = []
        said: list[str] = []

        async def connect() -> None:
            attempts.append(1)

        backend = SimpleNamespace(closed=False, reconnects_after_own_shutdown=reconnects, connect=connect,
                                  restarting_by_you=False)
        reconnector = Reconnector(backend, lambda text, _style: said.append(text), list, list,  # type: ignore[arg-type]
                                  shut_down=SimpleNamespace(shut_down_server=True))
        reconnector.on_state(False)
        await asyncio.sleep(0.5)
        reconnector.stop()
        return len(attempts), said, reconnector.reconnecting

    attempts, said, reconnecting = asyncio.run(lost(False))
    assert (attempts, reconnecting, len(said)) == (0, False, 1), said
    assert said[0].startswith("the server was shut down by you: leave with `bye`, or after bye, start it again")
    attempts, said, _ = asyncio.run(lost(True))
    assert attempts == 1 and said[1:] == ["reconnected to the server"], said


def test_shell_command_grammar_and_site_completion() -> None:
    parsed = parse_command("tail site-1 -n 20 logs/log.txt")
    assert parsed.values["options"] == "-n 20" and parsed.values["file"] == "logs/log.txt"
    assert parse_command("grep server -i error log.txt").values["pattern"] == "error"
    assert parse_command("check_status client site-1 site-2").values["targets"] == ["site-1", "site-2"]
    assert parse_command("shutdown client site-2 --yes").yes
    d = data()
    d.sites = ["site-1", "site-2"]
    assert texts_with("ls ", d) == ["server", "site-1", "site-2"]
    assert texts_with("tail site-1 -n 20 ", d) == []  # the file comes next: nothing to offer
    assert texts_with("check_status client site-1 s", d) == ["site-1", "site-2"]
    assert texts_with("remove_client s", d) == ["site-1", "site-2"]
    # FLARE 2.9's Session and console take all too (server and every site in one answer).
    assert texts_with("check_status ", d) == ["server", "client", "all"]
    assert texts_with("show_stats 9f ", d) == ["server", "client", "all"] == texts_with("show_errors 9f ", d)
    assert parse_command(f"show_stats {IDS[2]} all").values["target_type"] == "all"
    assert texts_with("sys_info ", d) == ["server", "client"]  # FLARE's server answers "invalid target type all"


def texts_with(text: str, d: CompletionData) -> list[str]:
    return [c.text for c in complete(text, d)]


def test_every_parameter_kind_completes() -> None:
    d = data()
    d.sites, d.seen_sites = ["site-1"], {"site-1", "site-2"}
    assert {"-d", "-u", "-r", "-n", "-m"} <= set(texts_with("list_jobs ", d))  # options without a '-'
    assert texts_with("list_jobs 9f", d) == [IDS[2]]  # an ID prefix, with its name
    assert texts_with("list_jobs -n hel", d) == ["hello-numpy", "hello-server"]
    assert texts_with("get_job_logs 9f ", d)[:3] == ["server", "site-1", "site-2"]
    assert "-n" in texts_with("get_job_logs 9f server ", d)
    assert texts_with("disable_client ", d) == ["site-1", "site-2"]
    assert texts_with("enable_client site-", d) == ["site-2", "site-1"]  # a disabled site is not connected: first
    assert texts_with("get_job_meta 9f; abort_job 0a1bf", d) == [IDS[1]]  # after a ';'
    assert texts_with("LIST_J", d) == ["list_jobs"]
    # A local folder completes with one '/' in the text and in the menu (the menu showed 'examples//').
    found = complete(f"submit_job {REPO}/exampl", d)
    assert [(c.text, c.display_text) for c in found] == [("es/", "examples/")]


def test_job_ids_newest_first_with_name_status_and_age() -> None:
    now = time.time()
    d = CompletionData.from_rows([
        {"job_id": IDS[0], "job_name": "old", "status": "FINISHED:COMPLETED", "submit_time": now - 7200},
        {"job_id": IDS[1], "job_name": "new", "status": "RUNNING",
         "submit_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 30))},
    ])
    found = complete("monitor_job ", d)
    assert [c.text for c in found] == [IDS[1], IDS[0]]
    assert found[0].display_text == IDS[1][:8]
    # One column each for name, status and age, aligned over the menu's entries.
    assert re.fullmatch(r"new  RUNNING             \d\ds ago", found[0].display_meta_text)
    assert found[1].display_meta_text == "old  FINISHED:COMPLETED  2h ago"
    d.upsert("ffff0000-new", "newest", "SUBMITTED")
    assert [c.text for c in complete("monitor_job ", d)][0] == "ffff0000-new"


def test_human_output() -> None:
    from console.shell.human import Expanded, human

    epoch = 1795937427.9
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
    status = human({"status": "OK", "server_start_time": epoch, "jobs": [],
                    "clients": [{"client_name": "site-1", "client_last_conn_time": epoch,
                                 "client_last_heartbeat": epoch}]})
    assert status.splitlines() == [
        "status             OK", f"server_start_time  {local}", "jobs               (none)", "clients:",
        "  client_name  client_last_conn_time  client_last_heartbeat",
        "  -----------  ---------------------  ---------------------", f"  site-1       {local}    {local}"]
    # FLARE's report_resources answers Python text: shown as data, never as a repr.
    assert human({"server": "{'cpu_count': 2}", "site-1": "{'cpu_count': 4}"}).splitlines()[2:] == [
        "server  2", "site-1  4"]
    assert human({"server": "__import__('os')"}) == "server  __import__('os')"  # not a literal: text
    assert [human({"uptime_seconds": v}) for v in (42, 187)] == ["uptime_seconds  0:00:42", "uptime_seconds  0:03:07"]
    rows = [{"job_id": "x", "duration": "0:00:03.123456", "uptime_seconds": 3725.4}]
    assert human(rows).splitlines()[2] == "x       0:00:03   1:02:05"
    assert human(rows, width=10).startswith("-[ RECORD 1 ]")  # auto: too wide, so vertical
    assert human(rows, mode=Expanded.ON).splitlines()[1] == "job_id         | x"
    assert human("file text\n\n") == "file text\n"
    assert render({"a": [1, 2]}, Format.RAW) == '{"a": [1, 2]}'  # raw: the wire's JSON, not a Python repr
    assert render(None, Format.RAW) == ""


def _job_folder(folder, apps=("app",), made=None, meta_file="meta.json") -> None:
    """A job folder as FLARE's: a meta file with a deploy_map, and (``made``, default all) its app folders."""
    folder.mkdir(parents=True)
    if meta_file == "meta.json":
        (folder / meta_file).write_text(json.dumps({"name": folder.name, "deploy_map": {a: ["@ALL"] for a in apps}}))
    else:  # FLARE's HOCON
        entries = "\n".join(f"    {a} = [\"@ALL\"]" for a in apps)
        (folder / meta_file).write_text(f"{{\n  name = \"{folder.name}\"\n  deploy_map {{\n{entries}\n  }}\n}}\n")
    for app in apps if made is None else made:
        (folder / app / "config").mkdir(parents=True)


def test_submit_job_completes_job_folders_of_the_kits_upload_dir(tmp_path, monkeypatch) -> None:
    """As FLARE's console, submit_job NAME takes the job folder NAME from the kit's transfer/:
    completion offers those too; a local folder of the same name wins. Only real job folders: a job's
    download there (its stored meta at the top, the apps under job/) is not one (the tester's case)."""
    transfer = tmp_path / "kit" / "transfer"
    for name in ("hello-numpy", "hello-pt", "jobs"):
        _job_folder(transfer / name)
    (transfer / "hello-notes").mkdir()  # no meta.json: not a job folder
    _job_folder(transfer / "be8ec466-5c1e-4bb5-9d5b-2b0c3a5e7d11", made=())  # download_job's folder
    (transfer / "be8ec466-5c1e-4bb5-9d5b-2b0c3a5e7d11" / "job" / "app").mkdir(parents=True)
    _job_folder(transfer / "hello-half", apps=("server-app", "site-app"), made=("site-app",))
    (transfer / "hello-empty").mkdir()
    (transfer / "hello-empty" / "meta.json").write_text('{"deploy_map": {}}')
    (tmp_path / "here" / "jobs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "here")
    completer = ShellCompleter(data, upload_dir=transfer)

    def offered(text: str) -> list[tuple[str, str]]:
        return [(c.text, c.display_meta_text) for c in
                completer.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True))]

    assert offered("submit_job hello") == [("hello-numpy", "job folder in transfer/ of the kit"),
                                           ("hello-pt", "job folder in transfer/ of the kit")]
    assert offered("submit_job be8") == []
    assert offered("submit_job jo") == [("bs/", "")]  # the local folder, once
    assert offered("download_job 9f hello") == []  # only where a folder is uploaded


def test_submit_job_offers_real_job_folders_before_other_folders(tmp_path, monkeypatch) -> None:
    """The tester's case: in the repo, ``submit_job <Tab>`` selected benchmarks/ first and the staged
    examples came after flare_console.egg-info/. Job folders here, then the kit's, then the other
    folders (the way to job folders deeper down); on FLARE a meta.conf job folder counts too."""
    from console.commands import Engine

    here = tmp_path / "here"
    for name in ("benchmarks", "examples", "flare_console.egg-info"):
        (here / name).mkdir(parents=True)
    _job_folder(here / "my-job")
    _job_folder(here / "sag-conf", meta_file="meta.conf")
    _job_folder(here / "wide job")  # a job folder whose name the submit refuses (user10 #9): not offered to submit
    _job_folder(here / "my jobs" / "hello")  # a folder with a blank, but no job itself: the way to one
    transfer = tmp_path / "kit" / "transfer"
    _job_folder(transfer / "hello-numpy")
    monkeypatch.chdir(here)

    def offered(engine: Engine, text: str = "submit_job ") -> list[str]:
        completer = ShellCompleter(data, upload_dir=transfer, engine=engine)
        return [c.text for c in
                completer.get_completions(Document(text, len(text)), CompleteEvent(completion_requested=True))]

    assert offered(Engine.OURS) == ["my-job/", "hello-numpy", "benchmarks/", "examples/", "flare_console.egg-info/",
                                    "my\\ jobs/", "sag-conf/"]  # ours reads JSON job files only
    assert offered(Engine.NVFLARE) == ["my-job/", "sag-conf/", "hello-numpy", "benchmarks/", "examples/",
                                       "flare_console.egg-info/", "my\\ jobs/"]
    assert offered(Engine.OURS, "submit_job wi") == []
    assert offered(Engine.OURS, "submit_job my\\ jobs/") == ["my\\ jobs/hello/"]  # (the quoted word, whole)
    assert offered(Engine.OURS, "download_job 9f ") == ["benchmarks/", "examples/", "flare_console.egg-info/",
                                                        "my\\ jobs/", "my-job/", "sag-conf/", "wide\\ job/"]  # a destination
    # A meta file changed after it was read is read again (kept only while its size and mtime stay).
    (here / "my-job" / "meta.json").write_text('{"deploy_map": {"other": ["@ALL"]}}')
    assert offered(Engine.OURS)[:2] == ["hello-numpy", "benchmarks/"]


def test_a_late_outcome_without_its_answer_never_claims_it_was_done() -> None:
    # Finding 7 of the fourth user: the server stopped, "list_jobs shows the clone" though none was made
    from console.api.errors import CancelTooLate
    from console.shell.failures import went_on

    said = {command: went_on(CancelTooLate(command, "after the request was sent"), "", None)
            for command in ("submit_job", "clone_job", "abort_job", "delete_job", "download_job", "sys_info")}
    assert said["clone_job"] == ("clone_job was sent before Ctrl-C but its answer did not come back: "
                                 "list_jobs shows whether the clone was made")
    assert said["submit_job"].endswith("list_jobs shows whether the job was submitted")
    assert said["abort_job"].endswith("list_jobs shows whether the job was aborted")
    assert said["sys_info"].endswith("whether it was done is not known")
    assert not any("went on" in text for text in said.values())


def test_an_answer_on_one_line_reads_as_its_record() -> None:
    from console.shell.human import one_line

    assert one_line({"job_id": "j1", "submit_records_marked_deleted": 0}) == "job_id j1, submit_records_marked_deleted 0"
    assert one_line({"a": {"b": 1, "c": True}, "d": []}) == "a (b 1, c yes), d (none)"
    assert one_line("two\nlines") == "two\\x0alines"


def test_paged_text_ends_its_last_row_so_the_prompt_starts_on_its_own(tmp_path) -> None:
    """PAGER=cat shows the text as it is: a table's last row must end with a line end (not the prompt's)."""
    shown = tmp_path / "shown"
    assert page("site-1   no_jobs\nsite-9   no_jobs", f"sh -c 'cat > {shown}'")
    assert shown.read_text() == "site-1   no_jobs\nsite-9   no_jobs\n"
    assert page("already ended\n", f"sh -c 'cat > {shown}'")
    assert shown.read_text() == "already ended\n"


def test_sites_are_listed_as_people_count_them() -> None:
    """site-2 before site-10 (40 sites listed as text put site-10..19 between site-1 and site-2)."""
    from console.natural_order import natural_key

    names = ["site-10", "site-2", "site-1", "Site-3", "site-01", "server", "site-9b", "site-9a", "hospital-12", "site-9"]
    assert sorted(names, key=natural_key) == ["hospital-12", "server", "site-01", "site-1", "site-2", "Site-3",
                                              "site-9", "site-9a", "site-9b", "site-10"]


def test_completion_offers_what_the_command_can_act_on_first() -> None:
    """Finding 8 of the seventh user, and the twelfth's item 1 (the pty case: test_live_views): a job-ID
    argument offers only the jobs, by status, its command takes (abort_job: not ended; delete_job: not
    dispatched or running); sites by state, first."""
    d = data()  # IDS[0] RUNNING, IDS[1] SUBMITTED, IDS[2] FINISHED:COMPLETED
    d.upsert("0a1b9999-dispatched", "dispatched", "DISPATCHED")
    assert IDS[2] not in texts_with("abort_job ", d)  # ended: nothing to abort
    assert sorted(texts_with("abort_job ", d)) == sorted(["0a1b9999-dispatched", *IDS[:2]])
    assert texts_with("delete_job ", d) == [IDS[2], IDS[1]]  # refused while dispatched or running: not offered
    assert texts_with("get_job_meta ", d)[0] == "0a1b9999-dispatched"  # other commands: newest first
    d.upsert(IDS[0], None, "FINISHED:ABORTED")  # a push: it ended
    assert texts_with("abort_job ", d) == ["0a1b9999-dispatched", IDS[1]]
    assert IDS[0] in texts_with("delete_job ", d)
    assert texts_with("abort_job 9f", d) == []  # a prefix of an ended job only: nothing, not that job
    # Jobs still queued are found however many ended jobs are newer (more than a menu holds).
    big = CompletionData.from_rows([{"job_id": f"{i:08x}-aaaa", "job_name": f"job-{i}", "submit_time": i,
                                     "status": "SUBMITTED" if i == 3 else "FINISHED:COMPLETED"}
                                    for i in range(1000)])
    assert texts_with("abort_job ", big) == ["00000003-aaaa"]
    assert len(texts_with("delete_job ", big)) == MAX_JOB_COMPLETIONS
    # Sites: a disabled one is turned away, so never connected: enable_client offers those first.
    d.sites, d.seen_sites = ["site-1", "site-3"], {"site-1", "site-2", "site-3"}
    assert texts_with("enable_client ", d) == ["site-2", "site-1", "site-3"]
    assert texts_with("disable_client ", d) == ["site-1", "site-3", "site-2"]
    assert texts_with("remove_client ", d) == ["site-1", "site-2", "site-3"]


def test_the_config_files_comment_names_every_command_that_asks() -> None:
    """The seventh user: it named five, while disable_client asks too. Made from the registry."""
    comment = DEFAULT_CONFIG.split("\nconfirm = ")[0].rsplit("\n\n", 1)[1]
    asking = [name for name, spec in CATALOG.items() if spec.destructive]
    assert "disable_client" in asking
    for name in asking:
        assert re.search(rf"\b{name}\b", comment), (name, comment)
    assert all(line.startswith("# ") for line in comment.splitlines())


def test_command_names_take_any_case_and_a_wrong_case_option_names_the_right_one() -> None:
    """The seventh user: 'LIST_JOBS -M 1' said only 'unknown option -M' (README: command names take any case)."""
    assert parse_command("LIST_JOBS -m 1").values["limit"] == 1
    with pytest.raises(UsageError, match=r"unknown option -M \(options are case-sensitive: -m\)"):
        parse_command("LIST_JOBS -M 1")
    with pytest.raises(UsageError, match=r"unknown option --YES \(options are case-sensitive: --yes\)"):
        parse_command("abort_job 0a1b --YES")
    with pytest.raises(UsageError, match=r"unknown option -x; usage"):
        parse_command("list_jobs -x")


def test_a_final_status_line_says_whose_job_errors_there_are() -> None:
    """Scale 7, finding 1: a job that completed with files left out of its workspace archive says
    so in the monitor's final line, not only inside the archive."""
    from console.shell.monitors import status_line

    meta = {"job_id": "41fd138b-82b5-4bd7-9b75-e2d18e152742", "name": "big", "status": "FINISHED:COMPLETED",
            "job_errors": {"site-1": ["x"], "server": ["its workspace archive was over its limit"]}}
    assert status_line(meta, 0).endswith("big  FINISHED:COMPLETED  (job_errors of server, site-1: get_job_meta 41fd138b)")
    assert status_line({**meta, "status": "RUNNING"}, 0).endswith("big  RUNNING")
    assert status_line({**meta, "job_errors": {}}, 0).endswith("FINISHED:COMPLETED")


def test_watch_heading_keeps_its_ctrl_c_hint_at_any_width() -> None:
    from console.shell.cells import width
    from console.shell.watch_heading import HINT, WatchHeading

    for command in ("sys_info server", "list_jobs 数据集-训练-任务", "show_stats " + "x" * 200):
        heading = WatchHeading(2.5, command, "12:00:00")
        assert heading.fit(500) == heading.whole() == f"Every 2.5 s: {command}    12:00:00    {HINT}"
        for cells in range(0, 120):
            fitted = heading.fit(cells)
            assert width(fitted) <= cells, (cells, fitted)
            if cells >= width(HINT):
                assert fitted.endswith(HINT), (cells, fitted)
            if cells >= 40:  # the time gives way before the interval does
                assert fitted.startswith("Every 2.5 s: "), (cells, fitted)


def test_a_line_end_inside_quotes_or_after_a_backslash_continues_the_line() -> None:
    from console.shell.parse import line_continues, logical_lines, split_commands

    assert line_continues("grep server 'a") and line_continues('help "x') and line_continues("help \\")
    assert not line_continues("help bye # it's") and not line_continues("help 'bye'") and not line_continues("")
    assert split_commands("list_jobs -n 'a\nb'; help\nbye") == ["list_jobs -n 'a\nb'", "help", "bye"]
    assert logical_lines("help \\\nbye\nhelp") == ["help \\\nbye", "help"]
    assert parse_command("list_jobs -n 'a\nb'").values["name_prefix"] == "a\nb"
    assert parse_command("help \\\n bye").values["command"] == "bye"  # the continuation is no word
    assert parse_command('help "by\\\ne"').values["command"] == "bye"  # inside "...": joined too


def test_a_line_that_is_only_a_backslash_continues_into_the_next_as_in_bash() -> None:
    r"""``\``, Enter, ``list_jobs -n hello-numpy``: bash runs list_jobs; it is no psql ``\q`` (the message
    was "unknown command '\" and "list_jobs'" on two lines). Completion after it knows the command too."""
    from console.shell.parse import UsageError, line_continues, split_commands

    assert line_continues("\\") and line_continues("  \\")
    for text in ("\\\nlist_jobs -n hello-numpy", "\\\n\\\n  list_jobs -n hello-numpy", "  \\\n list_jobs -n hello-numpy"):
        (line,) = split_commands(text)
        parsed = parse_command(line)
        assert parsed.spec.name == "list_jobs" and parsed.values["name_prefix"] == "hello-numpy", text
    assert parse_command("\\\n") is None  # a continuation into nothing is a blank line
    # "list_jobs -n hello-numpy \", Enter, Enter: bash runs it; the stripped line end left the backslash open
    assert split_commands("list_jobs -n hello-numpy \\\n") == ["list_jobs -n hello-numpy"]
    assert split_commands("help \\\n\nbye") == ["help", "bye"] and split_commands("help \\") == ["help \\"]
    assert parse_command("\\q").spec.name == "bye" and parse_command(" \\q").spec.name == "bye"  # psql's still
    assert texts_with("\\\nlist_jobs -n hel", data()) == ["hello-numpy", "hello-server"]
    for bad, shown in (("'a\nb'", "unknown command 'a\\nb'"), ("list_jobs \\", "it ends in a backslash")):
        try:
            parse_command(bad)
        except UsageError as exc:
            assert shown in str(exc) and "\n" not in str(exc) and "quote" not in str(exc), exc
        else:
            raise AssertionError(bad)


def test_what_a_ctrl_c_left_unrun_is_said_one_way_naming_the_first_commands() -> None:
    from console.shell.failures import not_run

    assert not_run([]) is None
    assert not_run(["list_jobs -m 1"]) == "not run after Ctrl-C: list_jobs -m 1"
    assert not_run(["a", "b", "c", "d"]) == "not run after Ctrl-C: a; b; c and 1 more command"
    assert not_run([f"c{i}" for i in range(6)]) == "not run after Ctrl-C: c0; c1; c2 and 3 more commands"
    assert not_run(["list_jobs -n 'a\nb'"]) == "not run after Ctrl-C: list_jobs -n 'a\\x0ab'"  # on one line


def test_commands_on_a_running_job_complete_running_jobs_first() -> None:
    """One rule in the registry: every command that acts on a running job offers jobs not ended first,
    however many finished jobs are newer (the tester's 13 jobs, the running one 8th); the others keep
    newest first."""
    now = time.time()
    rows = [{"job_id": f"{i:08x}-0000-4000-8000-000000000000", "job_name": f"job{i}",
             "status": "RUNNING" if i == 5 else "FINISHED:COMPLETED", "submit_time": now - 10 * i}
            for i in range(13)]
    d = CompletionData.from_rows(rows)
    running = rows[5]["job_id"]
    for command in ("follow", "plot", "monitor_job"):
        assert [c.text for c in complete(f"{command} ", d)][0] == running, command
        jobs = [c for c in complete(f"{command} ", d) if not c.text.startswith("-")]  # (follow: its options too)
        assert len(jobs) == 13, command  # an ended job too (its status, last lines, chart)
    for command in ("show_stats", "show_errors", "abort_job", "reset_errors"):  # only what they act on
        assert [c.text for c in complete(f"{command} ", d)] == [running], command
    for command in ("get_job_meta", "download_job", "clone_job"):
        assert [c.text for c in complete(f"{command} ", d)][0] == rows[0]["job_id"], command
    assert running not in [c.text for c in complete("delete_job ", d)]  # refused while it runs


def test_a_flag_takes_two_cells_and_joiners_stay_where_text_needs_them() -> None:
    """Finding 13: a flag (two regional indicators) counted 4 cells (tmux, wcwidth.wcswidth: 2), so its
    list_jobs row and menu entry were 2 columns off; a cut never splits it. ZWJ/ZWNJ in an emoji
    sequence, after a virama or between Persian letters are accepted in names; shown as they are where
    they take no cell (scripts), an emoji's joiner as its escape (terminals disagree on its width)."""
    import wcwidth
    from prompt_toolkit.utils import get_cwidth

    from console.jobdef.bounds import unprintable
    from console.shell.cells import elide, pad, width, wrap
    from console.shell.safe_text import json_text, visible

    name = "café-🇫🇷-ｗｉｄｅ-x"
    assert width("🇫🇷") == get_cwidth("🇫🇷") == wcwidth.wcswidth("🇫🇷") == 2
    assert width(name) == wcwidth.wcswidth(name) == 18
    assert width(pad(name, 20)) == 20
    assert elide("a🇫🇷b", 3) == "a…" and elide("a🇫🇷b", 4) == "a🇫🇷b" and elide("a🇫🇷bc", 4) == "a🇫🇷…"
    assert wrap("🇫🇷🇩🇪🇮🇹", 5) == ["🇫🇷🇩🇪", "🇮🇹"]
    table = render([{"job_id": "1", "job_name": name}, {"job_id": "2", "job_name": "plain"}], Format.TABLE)
    assert table.splitlines()[1] == "------  " + "-" * 18, table  # the column as wide as the flag's row
    for kept in ("👩\u200d💻", "👨\u200d👩\u200d👧", "می\u200cخواهم", "क्\u200dष", "क्\u200cष", "👍🏽\u200d🔥"):
        assert unprintable(kept) is None, kept  # accepted in names
        assert json.loads(json_text(kept)) == kept and "\\u200" not in json_text(kept)
        # Shown as they are where they take no cell (scripts); an emoji's joiner as its escape, since
        # terminals disagree on the joined emoji's width and columns must line up in all.
        assert visible(kept) == (kept.replace("\u200d", "\\u200d") if "\U0001F000" <= kept[0] else kept), kept
    for hidden, code in (("ad\u200dmin", "200d"), ("a\u200cb", "200c"), ("\u200d💻", "200d"), ("👩\u200d", "200d"),
                         ("x\u202ey", "202e"), ("👩\u200d\u202e💻", "200d")):
        assert f"\\u{code}" in visible(hidden) and unprintable(hidden) == f"U+{code.upper()}", hidden


def test_after_a_redirection_local_files_complete(tmp_path, monkeypatch) -> None:
    """Finding 18: '>' and '>>' complete local files and folders (bash's way), one word only; after '|'
    (a local command line), inside quotes, or before any '>', the command's own completion."""
    (tmp_path / "jobs dir").mkdir()
    (tmp_path / "jobs.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    assert texts("list_jobs > jobs") == ["jobs\\ dir/", ".txt"]  # the blank escaped: the word rewritten
    assert texts("list_jobs >>jobs.") == ["txt"]
    assert texts("list_jobs -m 1 > 'jobs ") == ["'jobs dir/'"]
    assert texts("get_job_meta 9f; list_jobs > jobs\\ d") == ["jobs\\ dir/"]
    assert texts("list_jobs > jobs.txt ") == [] and texts("list_jobs | grep jo") == []
    assert "-m" in texts("list_jobs '>' ")  # a quoted '>' redirects nothing


def test_a_background_monitor_after_its_own_shutdown_on_flare_neither_logs_in_nor_unsays_it() -> None:
    """flare10 item 5: with a monitor running, ``shutdown all`` said "shut down by you", then the monitor's poll
    logged in again to FLARE's server on its way down, and the shell said "lost; reconnecting...". Every
    background poller reconnects through ``Backend.connect``, which refuses at once after the session's own
    shutdown on FLARE (``refuse_after_own_shutdown``); on ours it reconnects when the server is back."""
    import asyncio
    from types import SimpleNamespace

    from console.api.errors import NoConnection
    from console.backends.base import Backend
    from console.commands import Engine
    from console.shell.monitors import MonitorManager
    from console.shell.reconnect import Reconnector

    async def shut_down_with_a_monitor(reconnects: bool) -> tuple[int, list[str], bool]:
        logins: list[int] = []
        said: list[str] = []
        backend = SimpleNamespace(closed=False, connected=True, engine=Engine.NVFLARE, shut_down_by_you=False,
                                  reconnects_after_own_shutdown=reconnects, restarting_by_you=False)
        reconnector: Reconnector

        async def connect() -> None:
            Backend.refuse_after_own_shutdown(backend)  # type: ignore[arg-type]
            logins.append(1)
            backend.connected = True
            reconnector.on_state(True)

        async def monitor_job(*_args: object) -> object:
            while backend.connected:
                await asyncio.sleep(0.01)
            raise NoConnection("the connection is lost")

        class ShutDownFlag:  # the executor's view of it: kept on the backend
            shut_down_server = property(lambda self: backend.shut_down_by_you,
                                        lambda self, value: setattr(backend, "shut_down_by_you", value))

        backend.connect, backend.monitor_job = connect, monitor_job
        reconnector = Reconnector(backend, lambda text, _style: said.append(text), list, list,  # type: ignore[arg-type]
                                  shut_down=ShutDownFlag())
        monitors = MonitorManager(backend, lambda text, _style, _meta: said.append(text))  # type: ignore[arg-type]
        monitor = monitors.start("e9d1", interval=0.05)
        await asyncio.sleep(0.1)
        backend.shut_down_by_you = True  # the executor, as it sends shutdown all
        backend.connected = False
        reconnector.on_state(False)
        await asyncio.sleep(0.75)  # the monitor's retries: at 0.2 s, then 0.6 s
        still_shut_down = backend.shut_down_by_you
        reconnector.stop()
        await monitors.stop("all")
        assert monitor.task is not None and monitor.task.done()
        return len(logins), said, still_shut_down

    logins, said, still = asyncio.run(shut_down_with_a_monitor(reconnects=False))
    assert (logins, still) == (0, True), said
    assert len(said) == 1 and said[0].startswith("the server was shut down by you"), said
    logins, said, still = asyncio.run(shut_down_with_a_monitor(reconnects=True))  # ours: the server came back
    assert logins >= 1 and not still, said


def test_after_its_own_restart_the_shell_says_restarting_then_reconnected_once() -> None:
    """flare10 item 17: the interactive `restart server` printed "connection to the server lost" before the answer
    "server is restarting", then flapped. After this console's own restart the loss prints nothing (the answer
    says it), the reconnection goes on through the server's refusals, and one line says it is back."""
    import asyncio
    from types import SimpleNamespace

    from console.api.errors import NoConnection
    from console.shell.reconnect import Reconnector

    async def restarted() -> list[str]:
        said: list[str] = []
        tries = iter([NoConnection("still restarting"), NoConnection("refused"), None])

        async def connect() -> None:
            failure = next(tries)
            if failure is not None:
                raise failure

        backend = SimpleNamespace(closed=False, reconnects_after_own_shutdown=False, connect=connect,
                                  restarting_by_you=True)
        reconnector = Reconnector(backend, lambda text, _style: said.append(text), list, list,  # type: ignore[arg-type]
                                  shut_down=SimpleNamespace(shut_down_server=False))
        reconnector.on_state(False)
        assert said == [] and reconnector.reconnecting
        for _ in range(100):
            if not reconnector.reconnecting:
                break
            await asyncio.sleep(0.05)
        reconnector.stop()
        assert backend.restarting_by_you is False  # a later loss is a loss again
        return said

    assert asyncio.run(restarted()) == ["reconnected to the restarted server"]


def test_another_engines_alias_is_a_typo_here_with_this_engines_nearest_commands() -> None:
    """user10 #9: 'list_job' (FLARE's name of list_job_components) on ours said it needs NVIDIA FLARE."""
    from console.commands import Engine
    from console.shell.client_side import CommandFailed
    from console.shell.help import help_text

    for line in ("list_job -m 1", "LIST_JOB -m 1"):
        with pytest.raises(UsageError, match=r"^unknown command '(list_job|LIST_JOB)'; did you mean list_jobs\b"):
            parse_command(line, Engine.OURS)
    with pytest.raises(CommandFailed, match=r"^unknown command 'list_job'; did you mean list_jobs\b"):
        help_text(Engine.OURS, "list_job")
    with pytest.raises(CommandFailed, match=r"^unknown command 'lst_jobs'; did you mean list_jobs\b"):
        help_text(Engine.OURS, "lst_jobs")
    with pytest.raises(UsageError, match="list_job_components is not available on the flare-console server"):
        parse_command("list_job_components x", Engine.OURS)  # its own name: it needs the other engine
    assert parse_command("list_job x", Engine.NVFLARE).spec.name == "list_job_components"


def test_a_typo_is_offered_only_the_close_commands_and_an_alias_that_is_also_a_typo_says_both() -> None:
    from console.commands import Engine

    for engine in Engine:  # not also "or submit_job or delete_job": they are far less alike
        with pytest.raises(UsageError, match=r"^unknown command 'lsit_jobs'; did you mean list_jobs\?$"):
            parse_command("lsit_jobs", engine)
    with pytest.raises(UsageError, match=r"^unknown command 'dwnload_job'; did you mean download_job\?$"):
        parse_command("dwnload_job x", Engine.OURS)
    for line in ("list_job -m 1", "LIST_JOB -m 1"):
        with pytest.raises(UsageError, match=r"^list_job is short for list_job_components; did you mean list_jobs\? "
                                             r"\(list_job_components: unknown option -m; usage: "):
            parse_command(line, Engine.NVFLARE)


def test_byes_question_counts_only_jobs_that_run_not_one_flare_lists_after_a_server_restart() -> None:
    """user10 #12: after the console said a FLARE job was abandoned (listed RUNNING, its server restarted),
    bye still asked whether to leave it running."""
    from console.backends.nvflare_orphans import ORPHANED
    from console.shell.leaving import unfinished_jobs

    rows = [{"job_id": "ec11975b-0000", "name": "sag-🚀-数据", "status": "RUNNING", ORPHANED: True},
            {"job_id": "aaaaaaaa-0000", "job_name": "live", "status": "RUNNING"},
            {"job_id": "bbbbbbbb-0000", "name": "queued", "status": "SUBMITTED"},
            {"job_id": "cccccccc-0000", "name": "done", "status": "FINISHED:COMPLETED"}]
    jobs = unfinished_jobs(rows)
    assert (jobs.running, jobs.queued) == (["aaaaaaaa (live, RUNNING)"], ["bbbbbbbb (queued, SUBMITTED)"])


def test_unmonitor_and_unfollow_alone_take_the_one_running_and_say_why_not_otherwise() -> None:
    """Report 10 #17: with exactly one running, ``unmonitor``/``unfollow`` take it (was "JOB_ID is missing")."""
    from console.shell.monitors import Monitor, MonitorManager

    manager = MonitorManager(None, lambda *a, **k: None)  # type: ignore[arg-type]  (no backend needed to choose)
    assert parse_command("unmonitor").values.get("job_id") is None
    assert parse_command("unfollow").values.get("job_id") is None
    with pytest.raises(ValueError, match=r"^no monitor runs; 'monitors' lists what runs in the background$"):
        manager.the_one(None, None, "monitor")
    manager.monitors["a"] = Monitor("aaaa-1111", watches="status")
    manager.monitors["b"] = Monitor("bbbb-2222", watches="log: all")
    assert manager.the_one(None, "log", "followed log") == "bbbb-2222"
    assert manager.the_one("aaaa", None, "monitor") == "aaaa"
    with pytest.raises(ValueError, match=r"^2 monitors run: name one by its job ID \(prefix\), or 'all'"):
        manager.the_one(None, None, "monitor")


def test_help_of_a_command_gives_its_defaults_and_a_file_command_s_options_from_the_one_table(tmp_path) -> None:
    from console.commands import Engine
    from console.commands.shell_options import FILE_OPTIONS
    from console.runtime.target_commands import TargetCommandError, run_target_command
    from console.shell.help import help_text

    assert "[-n INTERVAL]  seconds between runs (default: 2)" in help_text(Engine.OURS, "watch", 100)
    assert "'server' or a site name (default: server)" in help_text(Engine.OURS, "get_job_logs", 100)
    assert "stop after this many seconds (default: 0, never)\n" in help_text(Engine.OURS, "monitor_job", 100) + "\n"
    for command in ("ls", "cat", "head", "tail", "grep"):
        supported = FILE_OPTIONS[command].supported()
        assert f"[OPTIONS]  options: {supported}" in help_text(Engine.OURS, command, 100)
        with pytest.raises(TargetCommandError, match=f"; supported: {supported}$"):
            run_target_command(tmp_path, command, "-Z", ".")
    from console.commands.shell_options import FLARE_FILE_OPTIONS

    for command, options in FLARE_FILE_OPTIONS.items():  # FLARE's, as its refusal names them
        assert f"[OPTIONS]  options: {options}" in help_text(Engine.NVFLARE, command, 100)
    # Every optional argument's default is said: tests/test_help_defaults.py walks the registry.


def test_a_monitor_s_line_of_a_job_that_ended_long_ago_is_stamped_with_its_end() -> None:
    from datetime import datetime, timedelta

    from console.shell.monitors import ended_at, status_line

    start = datetime.now().astimezone() - timedelta(days=3)
    meta = {"job_id": "abcdef1234", "name": "n", "status": "FINISHED:COMPLETED",
            "start_time": start.isoformat(), "duration": "1 day, 2:03:04.500000"}
    end = start + timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert ended_at(meta) == pytest.approx(end.timestamp())
    assert status_line(meta) == f"{end:%H:%M:%S}  abcdef12  n  FINISHED:COMPLETED"
    naive = {**meta, "start_time": start.replace(tzinfo=None).isoformat(sep=" ")}  # FLARE's: local time
    assert ended_at(naive) == pytest.approx(end.timestamp())
    assert ended_at({**meta, "duration": "N/A"}) is None and ended_at({**meta, "start_time": "yesterday"}) is None
    before = time.time()
    running = status_line({**meta, "status": "RUNNING"})[:8]  # not ended: stamped now, as an aborted-unstarted job
    assert running in {time.strftime("%H:%M:%S", time.localtime(t)) for t in (before, time.time())}


def test_completion_follows_the_grammar_whatever_the_order_of_options_and_positionals() -> None:
    """Finding: ``tail -n 2 site-1 lo`` Tab offered nothing (the option's value was taken for the target) while
    ``tail site-1 -n 2 lo`` worked; both forms run. Every command's positions are read the same way."""
    from console.shell.arg_position import param_at, target_in

    for line, target, param in (("tail -n 2 site-1", "site-1", "file"), ("tail site-1 -n 2", "site-1", "file"),
                                ("head -n 1 server", "server", "file"), ("grep -i -n server", "server", "pattern"),
                                ("grep -i server no", "server", "file"), ("grep server -c no", "server", "file"),
                                ("ls -la site-2", "site-2", "path"), ("cat -- server", "server", "file")):
        words = line.split()
        spec = CATALOG[words[0]]
        assert target_in(spec, words[1:]) == target, line
        assert param_at(spec, words[1:]).name == param, line
    d = data()
    d.sites, d.seen_sites = ["site-1"], {"site-1", "site-2"}
    for line in ("get_job_logs -n 5 9f ", "get_job_logs -g err -n 5 9f ", "follow -n 3 9f ", "follow --timeout 5 9f "):
        assert texts_with(line, d)[:3] == ["server", "site-1", "site-2"], line
    for line in ("list_jobs -m 2 9f", "list_jobs -r -n hello 9f", "follow -n 3 9f", "get_job_logs -n 5 9f"):
        assert texts_with(line, d) == [IDS[2]], line
    assert texts_with("list_jobs -m 2 -n hel", d) == ["hello-numpy", "hello-server"]


def test_a_job_not_running_has_its_errors_pointed_to_where_each_engine_keeps_them() -> None:
    """The twelfth user's item 6: show_errors of a finished job pointed to get_job_logs. Ours records a job's
    errors in its meta (job_errors, the runner writes them as it ends); FLARE 2.9's meta has none, each
    participant's error_log.txt has them. The registry says which, per engine (``CommandSpec.not_running``)."""
    from console.api.errors import JobNotRunning
    from console.commands import CATALOG, Engine
    from console.commands.spec import JobStates
    from console.shell.failures import explain
    from console.shell.parse import parse_command

    refused = JobNotRunning("job 3fa9 is not running")
    parsed = parse_command("show_errors 3fa9 server")
    assert explain(refused, parsed, Engine.OURS).endswith(
        "no live errors to show; once a job has ended, its errors are in its record: get_job_meta 3fa9 (job_errors)")
    assert explain(refused, parsed, Engine.NVFLARE).endswith(
        "its errors are in each participant's error log: get_job_logs 3fa9 all -f error_log.txt (the server's: "
        "download_job 3fa9)")
    stats = parse_command("show_stats 3fa9 all")
    assert explain(refused, stats, Engine.OURS).endswith("its per-round metrics: plot 3fa9, or get_job_meta 3fa9 "
                                                         "(round_metrics)")
    assert explain(refused, stats, Engine.NVFLARE).endswith("its progress is in its log: get_job_logs 3fa9")
    # Each command it names is one the engine offers, with the arguments given.
    for spec in CATALOG.values():
        for engine, text in spec.not_running:
            assert spec.param("job_id").jobs is JobStates.RUNNING, spec.name
            pointed = parse_command(text.split(": ", 1)[1].split(" (")[0].split(", or ")[0].replace("{job}", "3fa9"),
                                    engine)
            assert pointed is not None and pointed.spec.supports(engine), (spec.name, engine)
    # Without the engine (an older caller): the engine's words as they came.
    assert explain(refused, parsed) == "JobNotRunning: job 3fa9 is not running"
