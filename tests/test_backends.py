"""The seam without FLARE running: kit detection of every kind, the missing extra, per-engine help."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from shell_helpers import run_console

from console.backends import KitRole, admin_kit, detect_kit
from console.commands import CATALOG, Engine
from console.invocation import install_extra_command
from console.shell.client_side import CommandFailed
from console.shell.completion import CompletionData, ShellCompleter
from console.shell.execute import help_text
from console.wire.kit import KitError

from conftest import ADMIN, Project

# flare-console is not on PyPI: the clone's extra, installed with this very Python.
INSTALL = install_extra_command()


def _flare_kits(root: Path, ours: Project) -> dict[str, Path]:
    """Kits laid out as FLARE 2.9's POC provisioning writes them (certificates borrowed from ours)."""
    prod = root / "flare_project" / "prod_00"
    kits = {"admin": prod / "admin@nvidia.com", "server": prod / "server", "site": prod / "site-1"}
    for kit in kits.values():
        (kit / "startup").mkdir(parents=True)
    admin = kits["admin"] / "startup"
    for name in ("client.crt", "client.key", "rootCA.pem"):
        shutil.copy(ours.admin_kit / "startup" / name, admin / name)
    (admin / "fed_admin.json").write_text(json.dumps({"format_version": 1, "admin": {
        "project_name": "flare_project", "username": "", "server_identity": "server", "scheme": "http",
        "host": "localhost", "port": 8003, "connection_security": "mtls", "uid_source": "cert",
        "with_file_transfer": True, "upload_dir": "transfer", "download_dir": "transfer",
        "client_key": "client.key", "client_cert": "client.crt", "ca_cert": "rootCA.pem"}}))
    (admin / "fl_admin.sh").write_text("#!/usr/bin/env bash\n")
    service = {"target": "localhost:8002", "scheme": "http"}
    (kits["server"] / "startup" / "fed_server.json").write_text(json.dumps({"format_version": 2, "servers": [{
        "name": "flare_project", "service": service, "admin_server": "server", "admin_port": 8002,
        "ssl_private_key": "server.key", "ssl_cert": "server.crt", "ssl_root_cert": "rootCA.pem",
        "connection_security": "mtls"}]}))
    (kits["site"] / "startup" / "fed_client.json").write_text(json.dumps({"format_version": 2, "servers": [{
        "name": "flare_project", "service": service, "identity": "server"}], "client": {
        "ssl_private_key": "client.key", "ssl_cert": "client.crt", "ssl_root_cert": "rootCA.pem",
        "fqsn": "site-1", "is_leaf": True, "connection_security": "mtls"}}))
    return kits


def test_every_kit_kind_is_told_apart(project: Project, tmp_path: Path) -> None:
    flare = _flare_kits(tmp_path / "flare", project)
    seen = {
        "ours admin": detect_kit(project.admin_kit),
        "ours server": detect_kit(project.server_kit),
        "ours site": detect_kit(project.kit("site-1") / "startup"),  # the startup folder itself works too
        "flare admin": detect_kit(flare["admin"]),
        "flare server": detect_kit(flare["server"]),
        "flare site": detect_kit(flare["site"]),
    }
    assert {k: (v.engine, v.role, v.name) for k, v in seen.items()} == {
        "ours admin": (Engine.OURS, KitRole.ADMIN, ADMIN),
        "ours server": (Engine.OURS, KitRole.SERVER, "server"),
        "ours site": (Engine.OURS, KitRole.SITE, "site-1"),
        # FLARE's POC leaves the admin's username empty: the certificate's CN names the user.
        "flare admin": (Engine.NVFLARE, KitRole.ADMIN, ADMIN),
        "flare server": (Engine.NVFLARE, KitRole.SERVER, "server"),
        "flare site": (Engine.NVFLARE, KitRole.SITE, "site-1"),
    }
    assert admin_kit(flare["admin"]).root == flare["admin"].resolve()
    with pytest.raises(KitError, match=r"this is a FLARE site kit \(site-1\): .*admin kit"):
        admin_kit(flare["site"])
    with pytest.raises(KitError, match=r"this is a flare-console server kit \(server\)"):
        admin_kit(project.server_kit)
    with pytest.raises(KitError, match="no startup/ folder"):
        detect_kit(tmp_path)
    with pytest.raises(KitError, match=r"nonexist does not exist: a startup kit is the participant folder"):
        detect_kit(tmp_path / "nonexist")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(KitError, match=r"is a file, not a startup kit"):
        detect_kit(tmp_path / "a_file")
    (tmp_path / "empty" / "startup").mkdir(parents=True)
    with pytest.raises(KitError, match="none of fed_admin.json"):
        detect_kit(tmp_path / "empty")


def test_the_console_refuses_server_and_site_kits_of_either_kind(project: Project, tmp_path: Path) -> None:
    flare = _flare_kits(tmp_path / "flare", project)
    for kit, said in ((flare["server"], "this is a FLARE server kit (server)"),
                      (flare["site"], "this is a FLARE site kit (site-1)"),
                      (project.kit("site-2"), "this is a flare-console site kit (site-2)")):
        done = run_console(tmp_path, "--kit", str(kit), "-c", "check_status server", timeout=30)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("nvflare") is not None, reason="nvflare is installed here")
def test_a_flare_kit_without_the_extra_says_what_to_install(project: Project, tmp_path: Path) -> None:
    flare = _flare_kits(tmp_path / "flare", project)
    for how in (("--kit", str(flare["admin"])), ()):
        done = run_console(tmp_path, *how, "-c", "check_status server", timeout=30, FLARE_KIT=str(flare["admin"]))
        assert done.returncode == 2
        # (the console's own interpreter: the venv's python or python3, whichever its script names)
        assert INSTALL in done.stderr.replace("/bin/python3 -m pip", "/bin/python -m pip")
        assert f"is an NVIDIA FLARE admin kit ({ADMIN})" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(importlib.util.find_spec("nvflare") is not None, reason="nvflare is installed here")
def test_a_flare_api_script_on_a_flare_kit_without_the_extra_says_what_to_install(project: Project,
                                                                                  tmp_path: Path) -> None:
    from console.backends.opening import MissingExtra
    from console.flare_api import new_secure_session

    flare = _flare_kits(tmp_path / "flare", project)
    with pytest.raises(MissingExtra, match=re.escape(f"is an NVIDIA FLARE admin kit; flare_api drives FLARE "
                                                     f"through FLARE's own library, which is not installed here: "
                                                     f"{INSTALL}")):
        new_secure_session(ADMIN, str(flare["admin"]))


def _names(completer: ShellCompleter, text: str) -> list[str]:
    return [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]


def test_help_and_completion_follow_the_connected_engine() -> None:
    flare_only = sorted(n for n, s in CATALOG.items() if s.engines == {Engine.NVFLARE})
    ours_only = sorted(n for n, s in CATALOG.items() if s.engines == {Engine.OURS})
    assert flare_only, "FLARE's own commands are in the registry"
    on = {engine: ShellCompleter(CompletionData, engine=engine) for engine in Engine}
    for engine in Engine:
        listing = help_text(engine)
        commands = _names(on[engine], "")
        for name in flare_only + ours_only:
            offered = CATALOG[name].supports(engine)
            assert (f"  {name} " in listing) is offered, (engine, name)
            assert (name in commands) is offered, (engine, name)
            assert (name in _names(on[engine], f"help {name[:-1]}")) is offered
        assert "check_status" in commands and "monitor_job" in commands
    with pytest.raises(CommandFailed, match=f"{flare_only[0]} is not available on the flare-console server"):
        help_text(Engine.OURS, flare_only[0])
    assert help_text(Engine.NVFLARE, flare_only[0]).startswith(f"usage: {flare_only[0]}")


def test_flares_own_command_names_are_aliases_in_the_one_registry() -> None:
    """FLARE 2.9's console names (list_job, get_job_log) keep an operator's habits; list_job only where FLARE is."""
    from console.shell.parse import UsageError, parse_command

    assert parse_command("list_job 1234", Engine.NVFLARE).spec.name == "list_job_components"
    assert parse_command("get_job_log 1234 site-1 -n 5", Engine.NVFLARE).spec.name == "get_job_logs"
    assert parse_command("get_job_log 1234", Engine.OURS).spec.name == "get_job_logs"
    # On ours, FLARE's name is list_jobs' typo (user10 #9), not a FLARE command to point at.
    with pytest.raises(UsageError, match="^unknown command 'list_job'; did you mean list_jobs"):
        parse_command("list_job 1234", Engine.OURS)
    assert "also: list_job" in help_text(Engine.NVFLARE, "list_job")
    study = parse_command("register_study s1 --site-org 'org1:a,b org2:c'", Engine.NVFLARE)
    assert study.wire_args()["site_orgs"] == "org1:a,b org2:c", study.wire_args()
    app = parse_command("""app_command 1234 my_topic '{"round": 2}'""", Engine.NVFLARE)
    assert app.wire_args() == {"job_id": "1234", "topic": "my_topic", "data": '{"round": 2}'}, app.wire_args()


def test_app_commands_data_must_be_json() -> None:
    from console.api.errors import InvalidArgumentError
    from console.backends.nvflare_commands import COMMANDS

    with pytest.raises(InvalidArgumentError, match="app_command: DATA must be JSON text, quoted as one word"):
        COMMANDS["app_command"](None, {"job_id": "1234", "topic": "t", "data": "{bad"})


def test_a_study_other_than_the_default_is_refused_on_our_engine(server, project: Project, tmp_path: Path) -> None:
    done = run_console(tmp_path, "--kit", str(project.admin_kit), "--study", "s1", "-c", "list_jobs")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--study s1: this console's own server keeps every job in FLARE's default study" in done.stderr


def test_a_command_of_the_other_engine_is_refused_as_such_before_its_arguments() -> None:
    """On our server a FLARE-only command without its argument says 'not available', not
    'JOB_ID is missing'; a misspelling suggests only commands this engine offers."""
    from console.shell.parse import UsageError, parse_command

    flare_only = next(n for n, s in sorted(CATALOG.items()) if s.engines == {Engine.NVFLARE} and s.params)
    with pytest.raises(UsageError, match=f"{flare_only} is not available on the flare-console server"):
        parse_command(flare_only, Engine.OURS)
    with pytest.raises(UsageError) as ours:
        parse_command("lisx_jobs", Engine.OURS)
    assert "list_jobs" in str(ours.value)
    for name, spec in CATALOG.items():
        if not spec.supports(Engine.OURS):
            assert name not in str(ours.value), str(ours.value)


@pytest.mark.parametrize("width", [40, 60, 80, 132])
def test_help_fits_the_terminal_and_keeps_its_columns(width: int) -> None:
    """The seventh user's help: long names (list_job_components) and long options (--submit-token)
    broke the columns, and at 40 columns less -S cut the text. Every line fits; every text starts at
    its group's column, a name too long for it has its text on the next line there."""
    for engine in Engine:
        listing = help_text(engine, width=width)
        assert max(map(len, listing.splitlines())) <= width, listing
        for group in re.split(r"(?m)^\w[^\n]*commands:\n", listing)[1:]:
            rows = [line for line in group.splitlines() if line.startswith("  ")]
            starts = {len(line) - len(line.lstrip()) for line in rows if line.startswith("   ")}
            starts |= {re.match(r"  \S+ +", line).end() for line in rows
                       if re.match(r"  \S+ +\S", line)}
            assert len(starts) == 1, (engine, width, group)  # one text column per group
        for name, spec in CATALOG.items():
            if spec.supports(engine):
                text = help_text(engine, name, width=width)
                assert max(map(len, text.splitlines())) <= width, text
                for param in spec.typed_params:
                    assert param.usage() in text.split("\n\n")[0], (name, text)  # never split inside one


def test_help_says_what_each_engine_reports() -> None:
    assert "NVIDIA FLARE version" in help_text(Engine.NVFLARE, "report_version")
    assert "flare-console version" in help_text(Engine.OURS, "report_version")
    assert re.search(r"(?m)^  report_version +NVIDIA FLARE version", help_text(Engine.NVFLARE))


def test_help_lines_say_which_commands_need_a_target_type() -> None:
    """check_status without server|client|all is refused ("TARGET_TYPE is missing", as FLARE): its line says so."""
    text = " ".join(help_text(Engine.NVFLARE, width=200).split())
    assert "status of the server, or of sites and their jobs (needs server|client|all)" in text
    assert "(refused while jobs run; needs server|client|all)" in text
    assert "sys_info machine and process facts of the server or of sites (needs server|client)" in text
    assert "list_jobs list jobs, oldest first (-m N: the N most recent) " in text


def test_a_file_commands_error_line_is_a_failed_command_in_one_wording() -> None:
    """Both engines answer a missing file or a bad pattern with the tool's line (FLARE's API returns it):
    the console fails the command with it (a batch exits 1); a file's contents holding such a line do not."""
    from console.api.errors import InvalidArgumentError
    from console.shell.file_errors import failed_file_answer

    for command, answer in (("cat", "cat: x.txt: No such file or directory\n"),
                            ("ls", "ls: cannot access 'nonexist': No such file or directory\n"),
                            ("tail", "tail: cannot open 'x' for reading: No such file or directory"),
                            ("head", "head: logs: Is a directory\n")):
        failed = failed_file_answer(command, answer)
        assert isinstance(failed, InvalidArgumentError) and str(failed) == answer.strip(), command
    assert str(failed_file_answer("grep", "grep: Invalid regular expression\n")) == (
        "grep: invalid pattern: Invalid regular expression")
    assert failed_file_answer("cat", "line 1\ncat: x: No such file or directory\n") is None
    assert failed_file_answer("cat", "ls: cannot access 'x': No such file or directory\n") is None  # a file's line
    assert failed_file_answer("grep", "grep: Invalid regular expression\n") is not None
    assert failed_file_answer("list_jobs", "cat: x: No such file or directory") is None
    assert failed_file_answer("cat", {"not": "text"}) is None


def test_an_option_flares_file_command_lacks_is_named() -> None:
    from console.api import errors
    from console.backends.nvflare_errors import reworded

    said = reworded(errors.InternalError("error: unrecognized arguments: -c"), "grep", "localhost:8002")
    assert type(said) is errors.InvalidArgumentError
    assert str(said) == "grep: FLARE's grep has no option -c; it takes -n -i -b"
